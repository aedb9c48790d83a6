"""Tests for contrastkit.losses: naive loops from the papers, pytorch-metric-learning, analytic cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from contrastkit import losses as L
from contrastkit import mining

FUZZ = settings(max_examples=25, deadline=None)
DTYPES = st.sampled_from([torch.float32, torch.float64])


def _tol(dtype: torch.dtype) -> dict[str, float]:
    return {"rel": 1e-4, "abs": 1e-5} if dtype == torch.float32 else {"rel": 1e-9, "abs": 1e-10}


# ----------------------------------------------------------------------------------------------
# Naive references, written loop by loop from the papers
# ----------------------------------------------------------------------------------------------


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """SimCLR eq. (1): l(i, j) = -log exp(sim(i, j)/t) / sum_{k != i} exp(sim(i, k)/t), mean over 2N."""
    z = torch.cat([z1, z2]).double()
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        sims = [F.cosine_similarity(z[i], z[k], dim=0).item() / t for k in range(n2)]
        den = sum(math.exp(sims[k]) for k in range(n2) if k != i)
        total += -math.log(math.exp(sims[j]) / den)
    return total / n2


def naive_supcon(features: torch.Tensor, labels: torch.Tensor | None, t: float) -> float:
    """Khosla et al. eq. (2), L_out: -1/|P(i)| sum_p log exp(z_i.z_p/t) / sum_{a in A(i)} exp(z_i.z_a/t)."""
    b, v, _ = features.shape
    ids = list(range(b)) if labels is None else labels.tolist()
    rows = [F.normalize(features[s, k].double(), dim=0) for k in range(v) for s in range(b)]
    row_ids = [ids[s] for k in range(v) for s in range(b)]
    losses = []
    for i, zi in enumerate(rows):
        positives = [p for p in range(len(rows)) if p != i and row_ids[p] == row_ids[i]]
        if not positives:
            continue
        den = sum(math.exp(zi.dot(rows[a]).item() / t) for a in range(len(rows)) if a != i)
        terms = [math.log(math.exp(zi.dot(rows[p]).item() / t) / den) for p in positives]
        losses.append(-sum(terms) / len(terms))
    return sum(losses) / len(losses) if losses else 0.0


def _d(x: torch.Tensor, i: int, j: int, squared: bool) -> float:
    d2 = ((x[i].double() - x[j].double()) ** 2).sum().item()
    return d2 if squared else math.sqrt(d2)


def naive_batch_triplet(x: torch.Tensor, y: torch.Tensor, margin: float, strategy: str, squared: bool) -> float:
    """Batch-all / batch-hard (Hermans et al. 2017) and semi-hard (Schroff et al. 2015), triplet by triplet."""
    b = x.shape[0]
    vals = []
    for a in range(b):
        poss = [p for p in range(b) if p != a and y[p] == y[a]]
        negs = [n for n in range(b) if y[n] != y[a]]
        if strategy == "hard":
            if poss and negs:
                hp = max(_d(x, a, p, squared) for p in poss)
                hn = min(_d(x, a, n, squared) for n in negs)
                vals.append(max(0.0, hp - hn + margin))
            continue
        for p in poss:
            dap = _d(x, a, p, squared)
            dans = [_d(x, a, n, squared) for n in negs]
            if strategy == "all":
                vals += [dap - dan + margin for dan in dans if dap - dan + margin > 0]
            else:
                semi = [dan for dan in dans if dap < dan < dap + margin]
                if semi:
                    vals.append(dap - min(semi) + margin)
    return sum(vals) / len(vals) if vals else 0.0


def naive_contrastive(x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor, margin: float, variant: str) -> float:
    total = 0.0
    for i in range(x1.shape[0]):
        d = math.sqrt(((x1[i].double() - x2[i].double()) ** 2).sum().item())
        if same[i]:
            total += d**2
        elif variant == "hadsell":
            total += max(0.0, margin - d) ** 2
        else:
            total += max(0.0, margin - d**2)
    return total / x1.shape[0]


def naive_triplet(a: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float, squared: bool) -> float:
    x = torch.stack([a, p, n], dim=1)
    vals = [max(0.0, _d(x[i], 0, 1, squared) - _d(x[i], 0, 2, squared) + margin) for i in range(a.shape[0])]
    return sum(vals) / len(vals)


# ----------------------------------------------------------------------------------------------
# Against the naive references
# ----------------------------------------------------------------------------------------------


@FUZZ
@given(n=st.integers(1, 7), d=st.integers(1, 5), t=st.floats(0.05, 2.0), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_nt_xent_matches_naive(n: int, d: int, t: float, dtype: torch.dtype, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)
    loss = L.nt_xent_loss(z1, z2, t)
    assert loss.dtype == dtype and loss.dim() == 0
    assert loss.item() == pytest.approx(naive_nt_xent(z1, z2, t), **_tol(dtype))


@FUZZ
@given(
    b=st.integers(1, 6),
    v=st.integers(1, 3),
    n_classes=st.integers(1, 4),
    use_labels=st.booleans(),
    t=st.floats(0.05, 2.0),
    dtype=DTYPES,
    seed=st.integers(0, 2**16),
)
def test_supcon_matches_naive(
    b: int, v: int, n_classes: int, use_labels: bool, t: float, dtype: torch.dtype, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(b, v, 3, generator=g, dtype=dtype)
    y = torch.randint(0, n_classes, (b,), generator=g) if use_labels else None
    loss = L.supcon_loss(f, y, t)
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(naive_supcon(f, y, t), **_tol(dtype))


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
    assert loss.item() == pytest.approx(naive_batch_triplet(x, y, margin, strategy, squared), **_tol(dtype))
    a, p, n = mining.mine_triplets(x, y, strategy, margin, squared)
    if len(a):  # the loss is the plain triplet loss over exactly the mined triplets
        assert loss.item() == pytest.approx(
            L.triplet_margin_loss(x[a], x[p], x[n], margin, squared).item(), **_tol(dtype)
        )
    else:
        assert loss.item() == 0.0


@FUZZ
@given(
    b=st.integers(1, 8),
    margin=st.floats(0.0, 3.0),
    variant=st.sampled_from(L.CONTRASTIVE_VARIANTS),
    dtype=DTYPES,
    seed=st.integers(0, 2**16),
)
def test_contrastive_matches_naive(b: int, margin: float, variant: str, dtype: torch.dtype, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x1, x2 = torch.randn(b, 3, generator=g, dtype=dtype), torch.randn(b, 3, generator=g, dtype=dtype)
    same = torch.randint(0, 2, (b,), generator=g)
    expected = naive_contrastive(x1, x2, same, margin, variant)
    for s in (same, same.bool(), same.to(dtype)):
        assert L.contrastive_loss(x1, x2, s, margin, variant).item() == pytest.approx(expected, **_tol(dtype))


@FUZZ
@given(b=st.integers(1, 8), margin=st.floats(0.0, 3.0), squared=st.booleans(), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_triplet_margin_matches_naive_and_torch(
    b: int, margin: float, squared: bool, dtype: torch.dtype, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    a, p, n = (torch.randn(b, 4, generator=g, dtype=dtype) for _ in range(3))
    loss = L.triplet_margin_loss(a, p, n, margin, squared)
    assert loss.item() == pytest.approx(naive_triplet(a, p, n, margin, squared), **_tol(dtype))
    if not squared and margin > 0:  # torch refuses margin 0
        ref = F.triplet_margin_loss(a, p, n, margin=margin, eps=0.0)
        assert loss.item() == pytest.approx(ref.item(), **_tol(dtype))


# ----------------------------------------------------------------------------------------------
# Against pytorch-metric-learning, where the formulas coincide
# ----------------------------------------------------------------------------------------------


@FUZZ
@given(n=st.integers(2, 8), t=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_nt_xent_matches_pml(n: int, t: float, seed: int) -> None:
    # pml's NTXentLoss with labels arange(N) twice: one positive (the other view), negatives = the rest
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randn(n, 5, generator=g, dtype=torch.float64)
    ref = pml_losses.NTXentLoss(temperature=t)(torch.cat([z1, z2]), torch.arange(n).repeat(2))
    assert L.nt_xent_loss(z1, z2, t).item() == pytest.approx(ref.item(), rel=1e-9)


@FUZZ
@given(b=st.integers(2, 8), v=st.integers(1, 3), t=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_supcon_matches_pml(b: int, v: int, t: float, seed: int) -> None:
    # pml averages over anchors with a nonzero loss (= anchors with a positive) and needs some negative
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(b, v, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (b,), generator=g)
    assume(len(set(y.tolist())) > 1)
    ref = pml_losses.SupConLoss(temperature=t)(f.transpose(0, 1).reshape(b * v, 4), y.repeat(v))
    assert L.supcon_loss(f, y, t).item() == pytest.approx(ref.item(), rel=1e-9, abs=1e-12)


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
# Analytic cases and invariances
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_nt_xent_identical_embeddings_is_log_2n_minus_1(n: int) -> None:
    z = torch.ones(n, 3)
    assert L.nt_xent_loss(z, z, 0.5).item() == pytest.approx(math.log(2 * n - 1), abs=1e-6)


def test_supcon_identical_embeddings_is_log_bv_minus_1() -> None:
    f = torch.ones(4, 3, 2)
    assert L.supcon_loss(f, torch.tensor([0, 1, 0, 2]), 0.3).item() == pytest.approx(math.log(11), abs=1e-6)


@pytest.mark.parametrize("t", [0.01, 0.1, 0.5])
def test_supcon_two_views_without_labels_is_nt_xent(t: float) -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert torch.allclose(L.supcon_loss(torch.stack([z1, z2], 1), None, t), L.nt_xent_loss(z1, z2, t), rtol=1e-6)
    # distinct labels are the same as no labels
    assert torch.allclose(L.supcon_loss(torch.stack([z1, z2], 1), torch.arange(6) * 3, t), L.nt_xent_loss(z1, z2, t))


def test_nt_xent_invariances() -> None:
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(7, 4, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64)
    ref = L.nt_xent_loss(z1, z2)
    perm = torch.randperm(7, generator=g)
    assert torch.allclose(L.nt_xent_loss(z2, z1), ref)
    assert torch.allclose(L.nt_xent_loss(z1[perm], z2[perm]), ref)
    assert torch.allclose(L.nt_xent_loss(3.0 * z1, 0.5 * z2), ref)  # cosine similarity ignores the scale


def test_supcon_and_triplet_invariant_to_batch_order() -> None:
    g = torch.Generator().manual_seed(2)
    f = torch.randn(9, 2, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (9,), generator=g)
    perm = torch.randperm(9, generator=g)
    assert torch.allclose(L.supcon_loss(f[perm], y[perm]), L.supcon_loss(f, y))
    assert torch.allclose(L.supcon_loss(f.flip(1), y), L.supcon_loss(f, y))  # swapping the views
    x = f[:, 0]
    for s in mining.STRATEGIES:
        assert torch.allclose(L.batch_triplet_loss(x[perm], y[perm], 1.0, s), L.batch_triplet_loss(x, y, 1.0, s))


def test_contrastive_and_triplet_hand_computed() -> None:
    x1, x2 = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])  # d = 5
    assert L.contrastive_loss(x1, x2, torch.tensor([1])).item() == pytest.approx(25.0)
    assert L.contrastive_loss(x1, x2, torch.tensor([0]), margin=6.0).item() == pytest.approx(1.0)
    assert L.contrastive_loss(x1, x2, torch.tensor([0]), margin=6.0, variant="squared").item() == 0.0
    assert L.contrastive_loss(x1, x2, torch.tensor([0]), margin=30.0, variant="squared").item() == pytest.approx(5.0)
    a, p, n = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.5]])
    assert L.triplet_margin_loss(a, p, n, margin=1.0).item() == pytest.approx(0.5)
    assert L.triplet_margin_loss(a, p, n, margin=1.0, squared=True).item() == pytest.approx(0.0)


LINE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0], [5.0, 0.0]], dtype=torch.float64)
LINE_LABELS = torch.tensor([0, 0, 1, 1])


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
# Gradients
# ----------------------------------------------------------------------------------------------


def _x64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed), requires_grad=True)


def test_gradcheck_softmax_losses() -> None:
    z1, z2 = _x64(4, 3), _x64(4, 3, seed=1)
    assert torch.autograd.gradcheck(lambda a, b: L.nt_xent_loss(a, b, 0.3), (z1, z2))
    f = _x64(4, 2, 3, seed=2)
    y = torch.tensor([0, 1, 0, 2])
    assert torch.autograd.gradcheck(lambda t: L.supcon_loss(t, y, 0.2), (f,))
    assert torch.autograd.gradcheck(lambda t: L.supcon_loss(t, None, 0.2), (f,))


def test_gradcheck_pair_and_triplet_losses() -> None:
    a, p, n = _x64(5, 3), _x64(5, 3, seed=1), _x64(5, 3, seed=2)
    same = torch.tensor([1, 0, 1, 0, 0])
    for variant in L.CONTRASTIVE_VARIANTS:
        assert torch.autograd.gradcheck(lambda u, v, m=variant: L.contrastive_loss(u, v, same, 3.0, m), (a, p))
    for squared in (False, True):
        assert torch.autograd.gradcheck(lambda u, v, w, s=squared: L.triplet_margin_loss(u, v, w, 2.0, s), (a, p, n))


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
@pytest.mark.parametrize("squared", [False, True])
def test_gradcheck_batch_triplet(strategy: str, squared: bool) -> None:
    x = _x64(8, 3, seed=3)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    margin = 1.0 if not squared else 3.0
    assert L.batch_triplet_loss(x, y, margin, strategy, squared).item() > 0
    assert torch.autograd.gradcheck(lambda t: L.batch_triplet_loss(t, y, margin, strategy, squared), (x,))


def test_chunked_loss_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _x64(13, 4, seed=4)
    y = torch.arange(13) % 4
    full = {}
    for s in mining.STRATEGIES:
        loss = L.batch_triplet_loss(x, y, 1.0, s)
        (grad,) = torch.autograd.grad(loss, x)
        full[s] = (loss.detach(), grad)
    monkeypatch.setattr(mining, "CHUNK_ELEMENTS", 52)  # 4 anchors per chunk, each checkpointed
    for s in mining.STRATEGIES:
        loss = L.batch_triplet_loss(x, y, 1.0, s)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.allclose(loss, full[s][0]) and torch.allclose(grad, full[s][1])


# ----------------------------------------------------------------------------------------------
# Edge cases
# ----------------------------------------------------------------------------------------------


def _zero_with_zero_grad(loss: torch.Tensor, x: torch.Tensor) -> None:
    assert loss.item() == 0.0 and not torch.isnan(loss)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.all(grad == 0)


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [5, 5, 5, 5], [3]], ids=["no-positives", "one-class", "B=1"])
def test_batch_triplet_nothing_to_learn(strategy: str, labels: list[int]) -> None:
    x = torch.randn(len(labels), 3, requires_grad=True)
    loss, stats = L.batch_triplet_loss(x, torch.tensor(labels), 0.2, strategy, return_stats=True)
    _zero_with_zero_grad(loss, x)
    assert stats.valid_triplets == 0 and stats.active_fraction == 0.0 and math.isnan(stats.mean_pos_distance)


def test_supcon_without_positives_is_zero() -> None:
    f = torch.randn(5, 1, 3, requires_grad=True)
    _zero_with_zero_grad(L.supcon_loss(f, torch.arange(5)), f)
    _zero_with_zero_grad(L.supcon_loss(f), f)
    g = torch.randn(1, 1, 3, requires_grad=True)
    _zero_with_zero_grad(L.supcon_loss(g), g)


def test_supcon_skips_anchors_without_positive() -> None:
    g = torch.Generator().manual_seed(5)
    f = torch.randn(5, 1, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 2, 3])  # only rows 0 and 1 have a positive
    assert L.supcon_loss(f, y).item() == pytest.approx(naive_supcon(f, y, 0.1), rel=1e-9)


def test_batch_of_one() -> None:
    x = torch.randn(1, 3, requires_grad=True)
    assert L.nt_xent_loss(x, x.detach() + 1).item() == pytest.approx(0.0, abs=1e-7)  # no negatives: log 1
    assert L.supcon_loss(torch.stack([x, x + 1], 1)).item() == pytest.approx(0.0, abs=1e-6)
    assert L.contrastive_loss(x, x + 1, torch.tensor([1])).item() == pytest.approx(3.0)
    assert L.triplet_margin_loss(x, x, x + 1, 0.2).item() == 0.0


def test_duplicate_embeddings_give_finite_gradients() -> None:
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    losses = [L.batch_triplet_loss(x, y, 0.5, s, sq) for s in mining.STRATEGIES for sq in (False, True)]
    losses += [
        L.contrastive_loss(x, x.flip(0), torch.tensor([0, 1, 1, 0]), 1.0),
        L.triplet_margin_loss(x, x, x, 0.2),
        L.nt_xent_loss(x, x, 0.01),
        L.supcon_loss(torch.stack([x, x], 1), y, 0.01),
    ]
    for loss in losses:
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # a coinciding dissimilar pair costs margin² and (direction undefined) a zero gradient
    z = torch.zeros(1, 2, requires_grad=True)
    loss = L.contrastive_loss(z, z.detach().clone(), torch.tensor([0]), margin=2.0)
    assert loss.item() == 4.0
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.all(grad == 0)


def test_low_temperature_is_stable() -> None:
    g = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    loss = L.nt_xent_loss(z1, z2, 0.01)
    assert loss.item() == pytest.approx(naive_nt_xent(z1, z2, 0.01), rel=1e-4)
    f = torch.stack([z1, z2], 1).requires_grad_(True)
    loss = L.supcon_loss(f, torch.tensor([0, 1, 0, 1, 2, 2]), 0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(f.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(7)
    base = torch.randn(12, 2, 16, generator=g)
    y = torch.arange(12) % 3
    cases = {
        "nt_xent": lambda f, t: L.nt_xent_loss(f[:, 0], f[:, 1], t),
        "supcon": lambda f, t: L.supcon_loss(f, y, t),
        "all": lambda f, t: L.batch_triplet_loss(f[:, 0], y, 2.0, "all"),
        "hard": lambda f, t: L.batch_triplet_loss(f[:, 0], y, 2.0, "hard"),
        "semihard": lambda f, t: L.batch_triplet_loss(f[:, 0], y, 2.0, "semihard"),
        "contrastive": lambda f, t: L.contrastive_loss(f[:, 0], f[:, 1], y == 0, 6.0),
        "triplet": lambda f, t: L.triplet_margin_loss(f[:, 0], f[:, 1], f[:, 0].flip(0), 2.0),
    }
    for name, fn in cases.items():
        for t in (0.01, 0.5):
            f = base.to(dtype).requires_grad_(True)
            loss = fn(f, t)
            loss.backward()
            ref = fn(base.to(dtype).float(), t).item()  # same rounded inputs, float32 arithmetic
            assert loss.dtype == dtype, name
            assert torch.isfinite(loss) and torch.isfinite(f.grad).all(), name
            assert loss.float().item() == pytest.approx(ref, rel=2e-2, abs=1e-2), name


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------


def test_modules_wrap_the_functions() -> None:
    g = torch.Generator().manual_seed(8)
    x1, x2, x3 = (torch.randn(6, 3, generator=g) for _ in range(3))
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    assert L.NTXentLoss(0.2)(x1, x2) == L.nt_xent_loss(x1, x2, 0.2)
    assert L.SupConLoss(0.2)(torch.stack([x1, x2], 1), y) == L.supcon_loss(torch.stack([x1, x2], 1), y, 0.2)
    assert L.ContrastiveLoss(2.0, "squared")(x1, x2, y == 0) == L.contrastive_loss(x1, x2, y == 0, 2.0, "squared")
    assert L.TripletMarginLoss(0.5, True)(x1, x2, x3) == L.triplet_margin_loss(x1, x2, x3, 0.5, True)
    module = L.BatchTripletLoss(0.5, "semihard")
    assert module(x1, y) == L.batch_triplet_loss(x1, y, 0.5, "semihard")
    _, stats = module(x1, y, return_stats=True)
    assert isinstance(stats, L.TripletStats)
    assert "semihard" in repr(module)


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.NTXentLoss(0.0),
        lambda: L.SupConLoss(-1.0),
        lambda: L.ContrastiveLoss(-1.0),
        lambda: L.ContrastiveLoss(1.0, "hinge"),
        lambda: L.TripletMarginLoss(float("nan")),
        lambda: L.BatchTripletLoss(0.2, "easy"),
        lambda: L.BatchTripletLoss(-0.2),
    ],
)
def test_modules_validate_hyperparameters(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


# ----------------------------------------------------------------------------------------------
# Bad inputs: only clear ValueErrors
# ----------------------------------------------------------------------------------------------

BAD_MATRICES = [
    None,
    [[1.0, 2.0]],
    torch.zeros(4),
    torch.zeros(4, 3, 1),
    torch.zeros(0, 3),
    torch.zeros(4, 0),
    torch.zeros(4, 3, dtype=torch.int64),
    torch.zeros(5, 3),
    torch.zeros(4, 2),
    torch.zeros(4, 3, dtype=torch.complex64),
    torch.tensor([[float("nan")] * 3] * 4),
    torch.full((4, 3), float("inf")),
]
BAD_SCALARS = [0.0, -1.0, float("nan"), float("inf"), "0.5", None, True, torch.zeros(2)]
BAD_LABELS = [None, [0, 0, 1, 1], torch.zeros(3, dtype=torch.long), torch.zeros(4), torch.zeros(4, 1, dtype=torch.long)]
BAD_SAME = [
    None,
    [1, 0, 1, 0],
    torch.zeros(3),
    torch.tensor([0, 1, 2, 0]),
    torch.tensor([0.5, 1, 0, 0]),
    torch.zeros(4, 1),
]


def _ok() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(9)
    return {"x": torch.randn(4, 3, generator=g), "y": torch.tensor([0, 0, 1, 1])}


CALLS = {
    "nt_xent": (lambda a: L.nt_xent_loss(a["z1"], a["z2"], a["t"]), {"z1": "m", "z2": "m", "t": "pos"}),
    "supcon": (
        lambda a: L.supcon_loss(a["f"], a["labels"], a["t"]),
        {"f": "f", "labels": "labels", "t": "pos"},
    ),
    "batch": (
        lambda a: L.batch_triplet_loss(a["e"], a["labels"], a["margin"], a["strategy"]),
        {"e": "m", "labels": "labels", "margin": "nonneg", "strategy": "strategy"},
    ),
    "contrastive": (
        lambda a: L.contrastive_loss(a["x1"], a["x2"], a["same"], a["margin"], a["variant"]),
        {"x1": "m", "x2": "m", "same": "same", "margin": "nonneg", "variant": "variant"},
    ),
    "triplet": (
        lambda a: L.triplet_margin_loss(a["a"], a["p"], a["n"], a["margin"]),
        {"a": "m", "p": "m", "n": "m", "margin": "nonneg"},
    ),
}


def _good(kind: str) -> object:
    ok = _ok()
    return {
        "m": ok["x"],
        "f": ok["x"].view(4, 1, 3).expand(4, 2, 3).contiguous(),
        "labels": ok["y"],
        "same": ok["y"],
        "pos": 0.5,
        "nonneg": 0.2,
        "strategy": "all",
        "variant": "hadsell",
    }[kind]


def _bad(kind: str) -> list[object]:
    return {
        "m": BAD_MATRICES,
        "f": [
            *(m for m in BAD_MATRICES if not (isinstance(m, torch.Tensor) and m.dim() == 3)),
            torch.zeros(4, 0, 3),
            torch.zeros(5, 2, 3),
            torch.zeros(4, 2, 3, dtype=torch.long),
        ],
        "labels": BAD_LABELS[1:],  # None is allowed for SupCon; batch_triplet_loss gets its own check below
        "same": BAD_SAME,
        "pos": BAD_SCALARS,
        "nonneg": [s for s in BAD_SCALARS if not (isinstance(s, float) and s == 0.0)],
        "strategy": ["ALL", "", None, 3, "semi-hard"],
        "variant": ["Hadsell", "", None, 1],
    }[kind]


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(CALLS)))
def test_every_loss_rejects_bad_input(data: st.DataObject, name: str) -> None:
    fn, spec = CALLS[name]
    args = {arg: _good(kind) for arg, kind in spec.items()}
    arg = data.draw(st.sampled_from(sorted(spec)))
    args[arg] = data.draw(st.sampled_from(_bad(spec[arg])))
    # a [4, 2] or [5, 3] matrix is only wrong next to its [4, 3] partners or labels; alone it may be valid
    assume(not (name in ("batch",) and isinstance(args[arg], torch.Tensor) and args[arg].shape == (4, 2)))
    with pytest.raises(ValueError):
        fn(args)


def test_batch_triplet_requires_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        L.batch_triplet_loss(torch.randn(4, 3), None)  # type: ignore[arg-type]


def test_error_messages_say_what_came() -> None:
    with pytest.raises(ValueError, match=r"temperature must be > 0, got 0"):
        L.nt_xent_loss(torch.randn(3, 2), torch.randn(3, 2), 0)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 2\) and \(4, 2\)"):
        L.nt_xent_loss(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"labels must have shape \[4\]"):
        L.supcon_loss(torch.randn(4, 2, 3), torch.arange(5))
    with pytest.raises(ValueError, match=r"strategy must be one of"):
        L.batch_triplet_loss(torch.randn(4, 3), torch.arange(4), strategy="hardest")
    with pytest.raises(ValueError, match=r"0/1"):
        L.contrastive_loss(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"same dtype"):
        L.nt_xent_loss(torch.randn(3, 2), torch.randn(3, 2, dtype=torch.float64))
