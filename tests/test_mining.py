"""Tests for contrastkit.mining: in-batch triplet mining, its frozen results, offline hard negatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit import distances, mining
from tests.helpers import BAD_TENSORS, LINE, LINE_LABELS, triplet_set

FUZZ = settings(max_examples=25, deadline=None)


# ----------------------------------------------------------------------------------------------
# mine_triplets
# ----------------------------------------------------------------------------------------------


def test_mine_all_on_a_line() -> None:
    # losses with margin 1: (0,1,2) 0.5, (1,0,2) 1.5, (2,3,0) 3, (2,3,1) 4, (3,2,1) 0.5; the others are <= 0
    got = triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "all", margin=1.0))
    assert got == {(0, 1, 2), (1, 0, 2), (2, 3, 0), (2, 3, 1), (3, 2, 1)}


def test_mine_hard_on_a_line() -> None:
    got = triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "hard", margin=1.0))
    assert got == {(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 1)}


def test_mine_semihard_on_a_line() -> None:
    # (0,1): d_ap=1, negative 2 at 1.5 is in (1, 2). (1,0): none in (1, 2). (2,3): none in (3.5, 4.5).
    # (3,2): d_ap=3.5, negative 1 at 4 is in (3.5, 4.5) and closer than negative 0 at 5.
    got = triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "semihard", margin=1.0))
    assert got == {(0, 1, 2), (3, 2, 1)}


def test_mine_semihard_picks_closest_of_several() -> None:
    x = torch.tensor([[0.0], [1.0], [1.2], [1.1], [1.9], [3.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 1, 1])
    got = triplet_set(mining.mine_triplets(x, y, "semihard", margin=1.0))
    # anchor 0, positive 1 (d=1): semi-hard negatives 2 (1.2), 3 (1.1), 4 (1.9): the closest is 3
    assert (0, 1, 3) in got
    assert not any(t[:2] == (0, 1) and t[2] != 3 for t in got)


def test_mine_squared_distances_change_selection() -> None:
    # squared: d_ap = 1, d_an(0, 2) = 2.25 lies outside (1, 2), so (0, 1, 2) is no longer semi-hard
    got = triplet_set(mining.mine_triplets(LINE, LINE_LABELS, "semihard", margin=1.0, squared=True))
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
    got = triplet_set(mining.mine_triplets(x, y, strategy, margin=margin, squared=squared))
    assert got == expected


def test_mine_chunked_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(23, 4, generator=g)
    y = torch.randint(0, 4, (23,), generator=g)
    full = {s: triplet_set(mining.mine_triplets(x, y, s, margin=1.0)) for s in mining.STRATEGIES}
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 50)  # 2 anchors per chunk
    assert mining.chunk_rows(23) == 2
    for s in mining.STRATEGIES:
        assert triplet_set(mining.mine_triplets(x, y, s, margin=1.0)) == full[s]


# ----------------------------------------------------------------------------------------------
# Triplets and TripletSelection: frozen results
# ----------------------------------------------------------------------------------------------


def test_mine_triplets_returns_frozen_named_triplets() -> None:
    triplets = mining.mine_triplets(LINE, LINE_LABELS, "all", margin=1.0)
    assert isinstance(triplets, mining.Triplets) and isinstance(triplets, tuple)
    assert mining.Triplets._fields == ("anchors", "positives", "negatives")
    a, p, n = triplets  # still unpacks
    assert a is triplets.anchors and p is triplets.positives and n is triplets.negatives
    assert triplets.anchors.tolist() == sorted(triplets.anchors.tolist())  # sorted by anchor
    with pytest.raises(AttributeError):
        triplets.anchors = torch.zeros(0, dtype=torch.long)  # type: ignore[misc]
    with pytest.raises(TypeError):
        triplets[0] = torch.zeros(0, dtype=torch.long)  # type: ignore[index]


def _select(strategy: str, *, want_weights: bool = True, want_triplets: bool = True) -> mining.TripletSelection:
    return mining.select_triplets(
        LINE, LINE_LABELS, strategy, 1.0, False, want_weights=want_weights, want_triplets=want_triplets
    )


def test_triplet_selection_is_frozen() -> None:
    selection = _select("all")
    with pytest.raises(AttributeError):
        selection.denominator = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        selection.weights = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        selection.considered = 1  # type: ignore[misc]


@pytest.mark.parametrize("strategy", mining.STRATEGIES)
def test_select_triplets_lists_what_mine_triplets_returns(strategy: str) -> None:
    selection = _select(strategy)
    assert selection.triplets is not None
    mined = mining.mine_triplets(LINE, LINE_LABELS, strategy, margin=1.0)
    assert triplet_set(selection.triplets) == triplet_set(mined)
    assert all(torch.equal(s, m) for s, m in zip(selection.triplets, mined))
    assert selection.valid == 8  # 4 positive pairs x 2 negatives
    assert selection.denominator == len(mined.anchors)
    if strategy == "hard":
        assert selection.weights is None  # batch-hard measures its triplets exactly instead
    else:
        assert selection.weights is not None and selection.weights.shape == (4, 4)
        assert selection.active == selection.denominator
    lean = _select(strategy, want_triplets=False)
    if strategy == "hard":
        assert lean.triplets is not None  # batch-hard always lists its triplets
    else:
        assert lean.triplets is None


def test_select_triplets_considered_is_what_the_active_fraction_divides_by() -> None:
    # LINE: 8 valid triplets; 4 anchors with a positive and a negative; 4 positive pairs with a negative
    assert _select("all").considered == 8
    assert _select("hard").considered == 4
    assert _select("semihard").considered == 4
    one_class = mining.select_triplets(
        LINE, torch.zeros(4, dtype=torch.long), "semihard", 1.0, False, want_weights=True, want_triplets=True
    )
    assert one_class.considered == 0 and one_class.valid == 0 and one_class.denominator == 0
    assert one_class.triplets is not None and all(len(t) == 0 for t in one_class.triplets)


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


def test_hard_negatives_beyond_a_crowded_class() -> None:
    # 20 class-0 points crowd every class-0 query: its nearest negatives lie beyond all of them
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


# Hand-placed 2-D points: class 0 at (0, 0) and (0, 1), class 1 at (3, 0) and (10, 0), class 2 at (0, 5).
POINTS_2D = torch.tensor([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [10.0, 0.0], [0.0, 5.0]])
POINTS_2D_LABELS = torch.tensor([0, 0, 1, 1, 2])


def test_hard_negatives_hand_placed_2d() -> None:
    # point 0: (3,0) at 3, (0,5) at 5, (10,0) at 10;  point 1: (3,0) at 3.16, (0,5) at 4, (10,0) at 10.05
    # point 2: (0,0) at 3, (0,1) at 3.16;  point 3: (0,0) at 10, (0,1) at 10.05;  point 4: (0,1) at 4, (0,0) at 5
    assert mining.mine_hard_negatives(POINTS_2D, POINTS_2D_LABELS, k=1)[:, 0].tolist() == [2, 2, 0, 0, 1]
    assert mining.mine_hard_negatives(POINTS_2D, POINTS_2D_LABELS, k=2).tolist() == [
        [2, 4],
        [2, 4],
        [0, 1],
        [0, 1],
        [1, 0],
    ]
    assert mining.mine_hard_negatives(POINTS_2D, POINTS_2D_LABELS, k=3).tolist() == [
        [2, 4, 3],
        [2, 4, 3],
        [0, 1, 4],
        [0, 1, 4],
        [1, 0, 2],
    ]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_hard_negatives_hand_placed_2d_match_a_loop(k: int) -> None:
    expected = []
    for i, (xi, yi) in enumerate(POINTS_2D.tolist()):
        others = [
            ((xi - xj) ** 2 + (yi - yj) ** 2, j)
            for j, (xj, yj) in enumerate(POINTS_2D.tolist())
            if POINTS_2D_LABELS[j] != POINTS_2D_LABELS[i]
        ]
        expected.append([j for _, j in sorted(others)[:k]])
    assert mining.mine_hard_negatives(POINTS_2D, POINTS_2D_LABELS, k=k).tolist() == expected
    # float64, and the result on the device of the embeddings
    got64 = mining.mine_hard_negatives(POINTS_2D.double(), POINTS_2D_LABELS, k=k)
    assert got64.tolist() == expected and got64.device == POINTS_2D.device


def test_hard_negatives_chunked_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(40, 3, generator=g)
    y = torch.randint(0, 4, (40,), generator=g)
    full = mining.mine_hard_negatives(x, y, k=3)
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 3 * 40)  # 3 queries per chunk
    assert torch.equal(mining.mine_hard_negatives(x, y, k=3), full)


def test_hard_negatives_needs_enough_other_class_samples() -> None:
    with pytest.raises(ValueError, match="k=3"):
        mining.mine_hard_negatives(torch.randn(4, 2), torch.tensor([0, 0, 1, 1]), k=3)


# ----------------------------------------------------------------------------------------------
# bad inputs: only clear ValueErrors
# ----------------------------------------------------------------------------------------------


@FUZZ
@given(
    case=st.sampled_from(["embeddings", "labels", "strategy", "margin"]),
    bad_x=st.sampled_from(BAD_TENSORS),
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
    bad_x=st.sampled_from(BAD_TENSORS),
    bad_labels=st.sampled_from([None, torch.zeros(3), torch.zeros(5, dtype=torch.long), [0, 1, 0, 1]]),
    bad_k=st.sampled_from([0, -1, 1.5, "2", None, True, 10]),
)
def test_mine_hard_negatives_rejects_bad_input(case: str, bad_x: object, bad_labels: object, bad_k: object) -> None:
    kwargs: dict[str, object] = {"embeddings": torch.randn(4, 2), "labels": torch.tensor([0, 0, 1, 1]), "k": 1}
    kwargs[case] = {"embeddings": bad_x, "labels": bad_labels, "k": bad_k}[case]
    with pytest.raises(ValueError):
        mining.mine_hard_negatives(**kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# exact ties are ties, whatever the rounding of the distances
# ----------------------------------------------------------------------------------------------

#: Five points on a line: anchor 3 at -1 is exactly 1 from its positives (0, 1 at 0) and from its
#: negatives (2 at 0, 4 at -2); with margin 0 those triplets are ties, not active.
TIES = torch.tensor([[0.0], [0.0], [0.0], [-1.0], [-2.0]], dtype=torch.float64)
TIE_LABELS = torch.tensor([0, 0, 1, 0, 1])
#: The six active triplets (hinge > 0): their hinges sum to 8.
TIE_ACTIVE = {(0, 3, 2), (1, 3, 2), (2, 4, 0), (2, 4, 1), (2, 4, 3), (4, 2, 3)}


@pytest.mark.parametrize("offset", [0.0, 10.0, -1000.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_exact_ties_are_never_active_at_any_offset(offset: float, dtype: torch.dtype) -> None:
    x = (TIES + offset).to(dtype)
    assert triplet_set(mining.mine_triplets(x, TIE_LABELS, "all", margin=0.0)) == TIE_ACTIVE
    # semi-hard with margin 1: a negative exactly at d_ap is not "farther than the positive"
    for a, p, n in triplet_set(mining.mine_triplets(x, TIE_LABELS, "semihard", margin=1.0)):
        assert abs(float(x[a] - x[n])) > abs(float(x[a] - x[p]))


def test_exact_ties_in_two_dimensions() -> None:
    # a square: anchor 0's positive 1 and negative 2 are both at distance 1, negative 3 at sqrt 2
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) + 0.1
    y = torch.tensor([0, 0, 1, 1])
    got = triplet_set(mining.mine_triplets(x, y, "all", margin=0.0))
    assert (0, 1, 2) not in got and (1, 0, 3) not in got  # ties
    assert got == set()


def test_selection_compares_huge_and_tiny_embeddings_in_their_own_units() -> None:
    x = torch.randn(24, 6, generator=torch.Generator().manual_seed(3))
    y = torch.arange(24) % 4
    for strategy in mining.STRATEGIES:
        base = triplet_set(mining.mine_triplets(x, y, strategy, margin=0.5))
        for scale in (2.0**40, 2.0**-80):  # powers of two: the scaled problem is exactly the same
            got = triplet_set(mining.mine_triplets(x * scale, y, strategy, margin=0.5 * scale))
            assert got == base, (strategy, scale)
    # batch-hard orders squared distances: at 2**70 (float32) they would overflow without the rescaling
    base = triplet_set(mining.mine_triplets(x, y, "hard"))
    assert triplet_set(mining.mine_triplets(x * 2.0**70, y, "hard")) == base
