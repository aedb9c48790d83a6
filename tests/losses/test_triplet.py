"""Tests for contrastkit.losses.triplet: naive loops, the miner's triplets, pytorch-metric-learning, hand cases."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from contrastkit import distances, mining
from contrastkit import losses as L
from contrastkit.losses import triplet
from tests.helpers import LINE, LINE_LABELS
from tests.losses.naive import DTYPES, FUZZ, naive_batch_triplet, naive_triplet, tol, x64, zero_with_zero_grad


def test_the_face_offers_the_module_s_functions() -> None:
    for name in triplet.__all__:
        assert getattr(L, name) is getattr(triplet, name), name


# ----------------------------------------------------------------------------------------------
# Against the naive references
# ----------------------------------------------------------------------------------------------


@FUZZ
@given(
    b=st.integers(1, 10),
    n_classes=st.integers(1, 4),
    margin=st.floats(0.0, 3.0),
    strategy=st.sampled_from(mining.STRATEGIES),
    squared=st.booleans(),
    dtype=DTYPES,
    seed=st.integers(0, 2**16),
)
def test_batch_triplet_matches_naive_and_miner(
    b: int, n_classes: int, margin: float, strategy: str, squared: bool, dtype: torch.dtype, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, generator=g, dtype=dtype)
    y = torch.randint(0, n_classes, (b,), generator=g)
    loss = L.batch_triplet_loss(x, y, margin, strategy, squared)
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(naive_batch_triplet(x, y, margin, strategy, squared), **tol(dtype))
    a, p, n = mining.mine_triplets(x, y, strategy, margin, squared)
    if len(a):  # the loss is the plain triplet loss over exactly the mined triplets
        assert loss.item() == pytest.approx(
            L.triplet_margin_loss(x[a], x[p], x[n], margin, squared).item(), **tol(dtype)
        )
    else:
        assert loss.item() == 0.0


@FUZZ
@given(b=st.integers(1, 8), margin=st.floats(0.0, 3.0), squared=st.booleans(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_triplet_margin_matches_naive_and_torch(
    b: int, margin: float, squared: bool, dtype: torch.dtype, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    a, p, n = (torch.randn(b, 4, generator=g, dtype=dtype) for _ in range(3))
    loss = L.triplet_margin_loss(a, p, n, margin, squared)
    assert loss.item() == pytest.approx(naive_triplet(a, p, n, margin, squared), **tol(dtype))
    if not squared and margin > 0:  # torch refuses margin 0
        ref = F.triplet_margin_loss(a, p, n, margin=margin, eps=0.0)
        assert loss.item() == pytest.approx(ref.item(), **tol(dtype))


# ----------------------------------------------------------------------------------------------
# Against pytorch-metric-learning, where the formulas coincide
# ----------------------------------------------------------------------------------------------


@FUZZ
@given(b=st.integers(2, 12), margin=st.floats(0.05, 2.0), seed=st.integers(0, 2**16))
def test_batch_all_and_hard_match_pml(b: int, margin: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (b,), generator=g)
    dist = pml_distances.LpDistance(normalize_embeddings=False)
    # batch-all: all triplets, averaged over those with a positive loss (pml's AvgNonZeroReducer)
    ref_all = pml_losses.TripletMarginLoss(margin=margin, distance=dist)(x, y)
    assert L.batch_triplet_loss(x, y, margin, "all").item() == pytest.approx(ref_all.item(), rel=1e-7, abs=1e-9)
    # batch-hard: Hermans et al. average over every anchor, zeros included (pml with a MeanReducer)
    hard = pml_losses.TripletMarginLoss(margin=margin, distance=dist, reducer=pml_reducers.MeanReducer())
    ref_hard = hard(x, y, pml_miners.BatchHardMiner(distance=dist)(x, y))
    assert L.batch_triplet_loss(x, y, margin, "hard").item() == pytest.approx(ref_hard.item(), rel=1e-7, abs=1e-9)


# ----------------------------------------------------------------------------------------------
# Analytic cases
# ----------------------------------------------------------------------------------------------


def test_triplet_hand_computed() -> None:
    a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
    assert L.triplet_margin_loss(a, p, n, margin=1.0).item() == pytest.approx(0.5)
    assert L.triplet_margin_loss(a, p, n, margin=1.0, squared=True).item() == pytest.approx(0.0)


def test_batch_triplet_stats_on_a_line() -> None:
    loss, st_all = L.batch_triplet_loss(LINE, LINE_LABELS, 1.0, "all", return_stats=True)
    assert loss.item() == pytest.approx(9.5 / 5)
    assert st_all == L.TripletStats(8, 5, 5 / 8, pytest.approx(2.5), pytest.approx(1.6))
    loss, st_hard = L.batch_triplet_loss(LINE, LINE_LABELS, 1.0, "hard", return_stats=True)
    assert loss.item() == pytest.approx(6.5 / 4)
    assert (st_hard.valid_triplets, st_hard.active_triplets, st_hard.active_fraction) == (8, 4, 1.0)
    assert st_hard.mean_pos_distance == pytest.approx(9.0 / 4) and st_hard.mean_neg_distance == pytest.approx(6.5 / 4)
    loss, st_semi = L.batch_triplet_loss(LINE, LINE_LABELS, 1.0, "semihard", return_stats=True)
    assert loss.item() == pytest.approx(0.5)
    assert (st_semi.valid_triplets, st_semi.active_triplets, st_semi.active_fraction) == (8, 2, 0.5)
    assert st_semi.mean_pos_distance == pytest.approx(2.25) and st_semi.mean_neg_distance == pytest.approx(2.75)


def test_batch_hard_counts_inactive_anchors() -> None:
    # well separated classes: every anchor has a zero loss; the mean is 0 and the stats say so
    x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    loss, stats = L.batch_triplet_loss(x, torch.tensor([0, 0, 1, 1]), 0.2, "hard", return_stats=True)
    assert loss.item() == 0.0
    assert (stats.active_triplets, stats.active_fraction) == (0, 0.0)
    assert stats.mean_pos_distance == pytest.approx(0.1)


# ----------------------------------------------------------------------------------------------
# triplet_loss: the mean loss of mined triplets is the loss with online mining
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_triplet_loss_of_mined_triplets_equals_batch_triplet_loss(strategy: str, squared: bool, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    b = 6 + 3 * seed
    x = torch.randn(b, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    y = torch.randint(0, 3, (b,), generator=g)
    margin = 1.0 if not squared else 3.0
    triplets = mining.mine_triplets(x, y, strategy, margin, squared)
    assert len(triplets.anchors) > 0
    mined = L.triplet_loss(x, triplets, margin, squared)
    online = L.batch_triplet_loss(x, y, margin, strategy, squared)
    assert mined.dtype == online.dtype == torch.float64
    assert mined.item() == pytest.approx(online.item(), rel=1e-10, abs=1e-12)
    (grad_mined,) = torch.autograd.grad(mined, x)
    (grad_online,) = torch.autograd.grad(online, x)
    torch.testing.assert_close(grad_mined, grad_online, rtol=1e-9, atol=1e-12)


def test_triplet_loss_by_hand_and_with_plain_tuples() -> None:
    # anchor 0 at 0, positive 1 at 1, negatives 2 at 1.5 and 3 at 5 (LINE): losses 0.5 and 0 with margin 1
    a, p, n = torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([2, 3])
    assert L.triplet_loss(LINE, (a, p, n), margin=1.0).item() == pytest.approx(0.25)
    assert L.triplet_loss(LINE, mining.Triplets(a, p, n), margin=1.0).item() == pytest.approx(0.25)
    assert L.triplet_loss(LINE, (a, p, n), margin=1.0, squared=True).item() == pytest.approx(0.0)
    ref = L.triplet_margin_loss(LINE[a], LINE[p], LINE[n], margin=1.0)
    assert L.triplet_loss(LINE, (a, p, n), margin=1.0) == ref
    assert L.triplet_loss(LINE.float(), (a.int(), p.int(), n.int()), 1.0).dtype == torch.float32


def test_triplet_loss_without_triplets_is_zero() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    zero_with_zero_grad(L.triplet_loss(x, (empty, empty, empty)), x)
    zero_with_zero_grad(L.triplet_loss(x, mining.mine_triplets(x, torch.arange(4))), x)  # no positives


@pytest.mark.parametrize(
    ("triplets", "message"),
    [
        (None, "anchors, positives, negatives"),
        ((torch.tensor([0]), torch.tensor([1])), "anchors, positives, negatives"),
        ([torch.tensor([0]), torch.tensor([1]), torch.tensor([2])], "anchors, positives, negatives"),
        ((torch.tensor([0.0]), torch.tensor([1]), torch.tensor([2])), "triplets.anchors must be a 1-D integer"),
        ((torch.tensor([0]), torch.tensor([[1]]), torch.tensor([2])), "triplets.positives must be a 1-D integer"),
        ((torch.tensor([0]), torch.tensor([1]), torch.tensor([4])), r"triplets.negatives must index rows 0..3"),
        ((torch.tensor([-1]), torch.tensor([1]), torch.tensor([2])), "triplets.anchors must index rows"),
        ((torch.tensor([0, 0]), torch.tensor([1]), torch.tensor([2])), "one length"),
    ],
)
def test_triplet_loss_rejects_bad_triplets(triplets: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        L.triplet_loss(LINE, triplets)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="margin"):
        L.triplet_loss(LINE, mining.mine_triplets(LINE, LINE_LABELS), margin=-1.0)
    with pytest.raises(ValueError, match="embeddings"):
        L.triplet_loss(LINE[:, :0], mining.mine_triplets(LINE, LINE_LABELS))


# ----------------------------------------------------------------------------------------------
# The selection is read, never changed
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
def test_batch_triplet_loss_does_not_mutate_the_selection(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(12, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.arange(12) % 3
    seen: list[tuple[mining.TripletSelection, dict[str, object]]] = []

    def spy(*args: object, **kwargs: object) -> mining.TripletSelection:
        selection = mining.select_triplets(*args, **kwargs)
        snapshot = {
            f.name: (v.clone() if isinstance(v, torch.Tensor) else v)
            for f in dataclasses.fields(selection)
            for v in [getattr(selection, f.name)]
        }
        if selection.triplets is not None:
            snapshot["triplets"] = tuple(t.clone() for t in selection.triplets)
        seen.append((selection, snapshot))
        return selection

    monkeypatch.setattr(triplet, "select_triplets", spy)
    loss, _ = L.batch_triplet_loss(x, y, 1.0, strategy, return_stats=True)
    loss.backward()
    ((selection, before),) = seen
    for name, value in before.items():
        now = getattr(selection, name)
        if isinstance(value, torch.Tensor):
            assert torch.equal(now, value), name
        elif name == "triplets" and value is not None:
            assert all(torch.equal(a, b) for a, b in zip(now, value)), name
        else:
            assert now == value, name
    # and a selection made beforehand, handed to the loss, comes back as it was
    given_selection = mining.select_triplets(
        x.detach(), y, strategy, 1.0, False, want_weights=strategy != "hard", want_triplets=False
    )
    monkeypatch.setattr(triplet, "select_triplets", lambda *a, **k: given_selection)
    weights = None if given_selection.weights is None else given_selection.weights.clone()
    again = L.batch_triplet_loss(x, y, 1.0, strategy)
    assert again.item() == pytest.approx(loss.item(), rel=1e-12)
    if weights is not None:
        assert torch.equal(given_selection.weights, weights)


# ----------------------------------------------------------------------------------------------
# Gradients
# ----------------------------------------------------------------------------------------------


def test_gradcheck_triplet_margin() -> None:
    a, p, n = x64(5, 3), x64(5, 3, seed=1), x64(5, 3, seed=2)
    for squared in (False, True):
        assert torch.autograd.gradcheck(lambda u, v, w, s=squared: L.triplet_margin_loss(u, v, w, 2.0, s), (a, p, n))


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
@pytest.mark.parametrize("squared", [False, True])
def test_gradcheck_batch_triplet(strategy: str, squared: bool) -> None:
    x = x64(8, 3, seed=3)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    margin = 1.0 if not squared else 3.0
    assert L.batch_triplet_loss(x, y, margin, strategy, squared).item() > 0
    assert torch.autograd.gradcheck(lambda t: L.batch_triplet_loss(t, y, margin, strategy, squared), (x,))


@pytest.mark.parametrize("squared", [False, True])
def test_gradcheck_triplet_loss(squared: bool) -> None:
    x = x64(8, 3, seed=3)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    triplets = mining.mine_triplets(x, y, "all", 3.0, squared)
    assert torch.autograd.gradcheck(lambda t: L.triplet_loss(t, triplets, 3.0, squared), (x,))


def test_chunked_loss_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    x = x64(13, 4, seed=4)
    y = torch.arange(13) % 4
    full = {}
    for s in mining.STRATEGIES:
        loss = L.batch_triplet_loss(x, y, 1.0, s)
        (grad,) = torch.autograd.grad(loss, x)
        full[s] = (loss.detach(), grad)
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 52)  # 4 anchors per chunk, each checkpointed
    for s in mining.STRATEGIES:
        loss = L.batch_triplet_loss(x, y, 1.0, s)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.allclose(loss, full[s][0]) and torch.allclose(grad, full[s][1])


# ----------------------------------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [5, 5, 5, 5], [3]], ids=["no-positives", "one-class", "B=1"])
def test_batch_triplet_nothing_to_learn(strategy: str, labels: list[int]) -> None:
    x = torch.randn(len(labels), 3, requires_grad=True)
    loss, stats = L.batch_triplet_loss(x, torch.tensor(labels), 0.2, strategy, return_stats=True)
    zero_with_zero_grad(loss, x)
    assert stats.valid_triplets == 0 and stats.active_fraction == 0.0 and math.isnan(stats.mean_pos_distance)


def test_batch_triplet_requires_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        L.batch_triplet_loss(torch.randn(4, 3), None)  # type: ignore[arg-type]


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_float16_batch_with_nothing_to_learn_gives_zero_not_nan() -> None:
    x = (torch.rand(256, 128) * 4).half().requires_grad_()
    loss = L.batch_triplet_loss(x, torch.arange(256))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
