"""Tests for contrastkit.mining: distances, in-batch triplet mining and offline hard negatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit import mining

FUZZ = settings(max_examples=25, deadline=None)


def _triplet_set(triplets: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> set[tuple[int, int, int]]:
    a, p, n = triplets
    return set(zip(a.tolist(), p.tolist(), n.tolist()))


# Four points on a line: class 0 at x = 0 and 1, class 1 at x = 1.5 and 5.
LINE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0], [5.0, 0.0]], dtype=torch.float64)
LINE_LABELS = torch.tensor([0, 0, 1, 1])


# ----------------------------------------------------------------------------------------------
# pairwise_distances
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairwise_distances_match_cdist(dtype: torch.dtype) -> None:
    x = torch.randn(9, 5, generator=torch.Generator().manual_seed(0), dtype=dtype)
    ref = torch.cdist(x.double(), x.double())
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.allclose(mining.pairwise_distances(x).double(), ref, atol=tol)
    assert torch.allclose(mining.pairwise_distances(x, squared=True).double(), ref**2, atol=tol * 10)
    assert torch.all(mining.pairwise_distances(x).diagonal() == 0)
    assert mining.pairwise_distances(x).dtype == dtype


def test_pairwise_distances_hand_computed() -> None:
    d = mining.pairwise_distances(LINE)
    assert d[0, 3].item() == pytest.approx(5.0)
    assert d[1, 2].item() == pytest.approx(0.5)
    assert mining.pairwise_distances(LINE, squared=True)[0, 3].item() == pytest.approx(25.0)


def test_pairwise_distances_gradient_finite_when_rows_coincide() -> None:
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    d = mining.pairwise_distances(x)
    assert d[0, 1].item() == 0.0
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_pairwise_distances_gradcheck() -> None:
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: mining.pairwise_distances(t), (x,))
    assert torch.autograd.gradcheck(lambda t: mining.pairwise_distances(t, squared=True), (x,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pairwise_distances_half_precision(dtype: torch.dtype) -> None:
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    d = mining.pairwise_distances(x.to(dtype))
    assert d.dtype == dtype
    assert torch.allclose(d.float(), torch.cdist(x, x), atol=0.05, rtol=0.02)


# ----------------------------------------------------------------------------------------------
# mine_triplets
# ----------------------------------------------------------------------------------------------


def test_mine_all_on_a_line() -> None:
    # losses with margin 1: (0,1,2) 0.5, (1,0,2) 1.5, (2,3,0) 3, (2,3,1) 4, (3,2,1) 0.5; the others are <= 0
    got = _triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "all", margin=1.0))
    assert got == {(0, 1, 2), (1, 0, 2), (2, 3, 0), (2, 3, 1), (3, 2, 1)}


def test_mine_hard_on_a_line() -> None:
    got = _triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "hard", margin=1.0))
    assert got == {(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 1)}


def test_mine_semihard_on_a_line() -> None:
    # (0,1): d_ap=1, negative 2 at 1.5 is in (1, 2). (1,0): none in (1, 2). (2,3): none in (3.5, 4.5).
    # (3,2): d_ap=3.5, negative 1 at 4 is in (3.5, 4.5) and closer than negative 0 at 5.
    got = _triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "semihard", margin=1.0))
    assert got == {(0, 1, 2), (3, 2, 1)}


def test_mine_semihard_picks_closest_of_several() -> None:
    x = torch.tensor([[0.0], [1.0], [1.2], [1.1], [1.9], [3.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 1, 1])
    got = _triplet_set(mining.mine_triplets(x, y, "semihard", margin=1.0))
    # anchor 0, positive 1 (d=1): semi-hard negatives 2 (1.2), 3 (1.1), 4 (1.9): the closest is 3
    assert (0, 1, 3) in got
    assert not any(t[:2] == (0, 1) and t[2] != 3 for t in got)


def test_mine_squared_distances_change_selection() -> None:
    # squared: d_ap = 1, d_an(0, 2) = 2.25 lies outside (1, 2), so (0, 1, 2) is no longer semi-hard
    got = _triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "semihard", margin=1.0, squared=True))
    assert (0, 1, 2) not in got


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
def test_mine_returns_long_indices_without_grad(strategy: str) -> None:
    x = torch.randn(10, 3, requires_grad=True)
    y = torch.arange(10) % 3
    a, p, n = mining.mine_triplets(x, y, strategy, margin=5.0)
    for t in (a, p, n):
        assert t.dtype == torch.int64 and not t.requires_grad and t.dim() == 1
    assert len(a) > 0
    assert torch.all(y[a] == y[p]) and torch.all(a != p) and torch.all(y[a] != y[n])


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], [7]])
def test_mine_nothing_to_mine(strategy: str, labels: list[int]) -> None:
    y = torch.tensor(labels)
    a, p, n = mining.mine_triplets(torch.randn(len(labels), 2), y, strategy)
    assert len(a) == len(p) == len(n) == 0


@FUZZ
@given(
    b=st.integers(2, 12),
    n_classes=st.integers(1, 4),
    margin=st.floats(0.0, 3.0),
    strategy=st.sampled_from(mining.STRATEGIES),
    squared=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_mine_matches_brute_force(
    b: int, n_classes: int, margin: float, strategy: str, squared: bool, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (b,), generator=g)
    d = torch.cdist(x, x) ** (2 if squared else 1)
    expected = set()
    for a in range(b):
        negs = [n for n in range(b) if y[n] != y[a]]
        poss = [p for p in range(b) if p != a and y[p] == y[a]]
        if strategy == "hard":
            if poss and negs:
                expected.add((a, max(poss, key=lambda p: d[a, p]), min(negs, key=lambda n: d[a, n])))
            continue
        for p in poss:
            if strategy == "all":
                expected |= {(a, p, n) for n in negs if d[a, p] - d[a, n] + margin > 0}
            else:
                semi = [n for n in negs if d[a, p] < d[a, n] < d[a, p] + margin]
                if semi:
                    expected.add((a, p, min(semi, key=lambda n: d[a, n])))
    got = _triplet_set(mining.mine_triplets(x, y, strategy, margin=margin, squared=squared))
    assert got == expected


def test_mine_chunked_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(23, 4, generator=g)
    y = torch.randint(0, 4, (23,), generator=g)
    full = {s: _triplet_set(mining.mine_triplets(x, y, s, margin=1.0)) for s in mining.STRATEGIES}
    monkeypatch.setattr(mining, "CHUNK_ELEMENTS", 50)  # 2 anchors per chunk
    assert mining.chunk_rows(23) == 2
    for s in mining.STRATEGIES:
        assert _triplet_set(mining.mine_triplets(x, y, s, margin=1.0)) == full[s]


# ----------------------------------------------------------------------------------------------
# mine_hard_negatives
# ----------------------------------------------------------------------------------------------

POINTS_1D = torch.tensor([[0.0], [1.0], [3.0], [10.0], [11.0]])
POINTS_1D_LABELS = torch.tensor([0, 0, 1, 1, 2])


def test_hard_negatives_k1_on_a_line() -> None:
    got = mining.mine_hard_negatives(POINTS_1D, POINTS_1D_LABELS, k=1)
    assert got.dtype == torch.int64 and got.shape == (5, 1)
    assert got[:, 0].tolist() == [2, 2, 1, 4, 3]


def test_hard_negatives_k2_on_a_line() -> None:
    got = mining.mine_hard_negatives(POINTS_1D, POINTS_1D_LABELS, k=2)
    assert got.tolist() == [[2, 3], [2, 3], [1, 0], [4, 1], [3, 2]]


def test_hard_negatives_grows_the_search() -> None:
    # 20 class-0 points crowd every class-0 query: the first query (2k+1 = 3 neighbours) finds no negative
    x = torch.cat([torch.linspace(0, 1, 20)[:, None], torch.tensor([[100.0], [101.0]])])
    y = torch.tensor([0] * 20 + [1, 2])
    got = mining.mine_hard_negatives(x, y, k=2)
    assert got[:20].tolist() == [[20, 21]] * 20
    assert got[20].tolist() == [21, 19] and got[21].tolist() == [20, 19]


@FUZZ
@given(n=st.integers(3, 30), n_classes=st.integers(2, 4), k=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_hard_negatives_match_brute_force(n: int, n_classes: int, k: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=g)
    _, counts = torch.unique(y, return_counts=True)
    if n - int(counts.max()) < k:
        with pytest.raises(ValueError, match="negatives per sample"):
            mining.mine_hard_negatives(x, y, k=k)
        return
    got = mining.mine_hard_negatives(x, y, k=k)
    d = torch.cdist(x, x).numpy()
    for i in range(n):
        others = np.flatnonzero(y.numpy() != y[i].item())
        expected = np.sort(d[i, others])[:k]
        assert np.all(y[got[i]].numpy() != y[i].item())
        assert np.allclose(d[i, got[i].numpy()], expected)


def test_hard_negatives_needs_enough_other_class_samples() -> None:
    with pytest.raises(ValueError, match="k=3"):
        mining.mine_hard_negatives(torch.randn(4, 2), torch.tensor([0, 0, 1, 1]), k=3)


# ----------------------------------------------------------------------------------------------
# bad inputs: only clear ValueErrors
# ----------------------------------------------------------------------------------------------

BAD_TENSORS = st.sampled_from(
    [
        None,
        [[1.0, 2.0]],
        torch.zeros(3),
        torch.zeros(2, 3, 4),
        torch.zeros(0, 3),
        torch.zeros(3, 0),
        torch.zeros(3, 2, dtype=torch.int64),
        torch.tensor([[1.0, float("nan")], [0.0, 0.0]]),
        torch.tensor([[1.0, float("inf")], [0.0, 0.0]]),
    ]
)


@FUZZ
@given(x=BAD_TENSORS, squared=st.booleans())
def test_pairwise_distances_rejects_bad_input(x: object, squared: bool) -> None:
    with pytest.raises(ValueError):
        mining.pairwise_distances(x, squared=squared)  # type: ignore[arg-type]


@FUZZ
@given(
    case=st.sampled_from(["embeddings", "labels", "strategy", "margin"]),
    bad_x=BAD_TENSORS,
    bad_labels=st.sampled_from([None, torch.zeros(3), torch.zeros(5, dtype=torch.long), torch.zeros(4, 1).long()]),
    bad_strategy=st.sampled_from(["ALL", "hardest", "", None, 3]),
    bad_margin=st.sampled_from([-0.1, float("nan"), float("inf"), "1", None, True]),
)
def test_mine_triplets_rejects_bad_input(
    case: str, bad_x: object, bad_labels: object, bad_strategy: object, bad_margin: object
) -> None:
    kwargs: dict[str, object] = {
        "embeddings": torch.randn(4, 2),
        "labels": torch.tensor([0, 0, 1, 1]),
        "strategy": "all",
        "margin": 0.2,
    }
    kwargs[case] = {"embeddings": bad_x, "labels": bad_labels, "strategy": bad_strategy, "margin": bad_margin}[case]
    with pytest.raises(ValueError):
        mining.mine_triplets(**kwargs)  # type: ignore[arg-type]


@FUZZ
@given(
    case=st.sampled_from(["embeddings", "labels", "k"]),
    bad_x=BAD_TENSORS,
    bad_labels=st.sampled_from([None, torch.zeros(3), torch.zeros(5, dtype=torch.long), [0, 1, 0, 1]]),
    bad_k=st.sampled_from([0, -1, 1.5, "2", None, True, 10]),
)
def test_mine_hard_negatives_rejects_bad_input(case: str, bad_x: object, bad_labels: object, bad_k: object) -> None:
    kwargs: dict[str, object] = {"embeddings": torch.randn(4, 2), "labels": torch.tensor([0, 0, 1, 1]), "k": 1}
    kwargs[case] = {"embeddings": bad_x, "labels": bad_labels, "k": bad_k}[case]
    with pytest.raises(ValueError):
        mining.mine_hard_negatives(**kwargs)  # type: ignore[arg-type]
