"""Tests for contrastkit.distances: pairwise distances, the compute dtype, chunks, exact nearest neighbours."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit import distances
from tests.helpers import BAD_TENSORS, LINE

FUZZ = settings(max_examples=25, deadline=None)


# ----------------------------------------------------------------------------------------------
# compute_dtype and chunk_rows
# ----------------------------------------------------------------------------------------------


def test_compute_dtype_is_float64_if_any_input_is_else_float32() -> None:
    x32, x64 = torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.float64)
    assert distances.compute_dtype(x32) == torch.float32
    assert distances.compute_dtype(x64) == torch.float64
    assert distances.compute_dtype(x32, x64) == torch.float64
    assert distances.compute_dtype(torch.float16, torch.bfloat16) == torch.float32  # half precision is promoted
    assert distances.compute_dtype(torch.zeros(1, dtype=torch.float16), torch.float64) == torch.float64


def test_chunk_rows_bounds_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    assert distances.chunk_rows(1) == distances.CHUNK_ELEMENTS
    assert distances.chunk_rows(0) == distances.CHUNK_ELEMENTS
    assert distances.chunk_rows(1000) == distances.CHUNK_ELEMENTS // 1000
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 50)
    assert distances.chunk_rows(23) == 2
    assert distances.chunk_rows(100) == 1  # never 0 rows


# ----------------------------------------------------------------------------------------------
# pairwise_distances
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairwise_distances_match_cdist(dtype: torch.dtype) -> None:
    x = torch.randn(9, 5, generator=torch.Generator().manual_seed(0), dtype=dtype)
    ref = torch.cdist(x.double(), x.double())
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.allclose(distances.pairwise_distances(x).double(), ref, atol=tol)
    assert torch.allclose(distances.pairwise_distances(x, squared=True).double(), ref**2, atol=tol * 10)
    assert torch.all(distances.pairwise_distances(x).diagonal() == 0)
    assert distances.pairwise_distances(x).dtype == dtype


def test_pairwise_distances_hand_computed() -> None:
    d = distances.pairwise_distances(LINE)
    assert d[0, 3].item() == pytest.approx(5.0)
    assert d[1, 2].item() == pytest.approx(0.5)
    assert distances.pairwise_distances(LINE, squared=True)[0, 3].item() == pytest.approx(25.0)


def test_pairwise_distances_gradient_finite_when_rows_coincide() -> None:
    x = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    d = distances.pairwise_distances(x)
    assert d[0, 1].item() == 0.0
    d.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_pairwise_distances_gradcheck() -> None:
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: distances.pairwise_distances(t), (x,))
    assert torch.autograd.gradcheck(lambda t: distances.pairwise_distances(t, squared=True), (x,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pairwise_distances_half_precision(dtype: torch.dtype) -> None:
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    d = distances.pairwise_distances(x.to(dtype))
    assert d.dtype == dtype
    assert torch.allclose(d.float(), torch.cdist(x, x), atol=0.05, rtol=0.02)


@FUZZ
@given(x=st.sampled_from(BAD_TENSORS), squared=st.booleans())
def test_pairwise_distances_rejects_bad_input(x: object, squared: bool) -> None:
    with pytest.raises(ValueError):
        distances.pairwise_distances(x, squared=squared)  # type: ignore[arg-type]


def test_row_distances_are_rowwise() -> None:
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[3.0, 4.0], [1.0, 1.0]], dtype=torch.float64)
    assert distances.row_distances(a, b).tolist() == [5.0, 0.0]
    assert distances.row_distances(a, b, squared=True).tolist() == [25.0, 0.0]


# ----------------------------------------------------------------------------------------------
# nearest_neighbors against a brute-force loop
# ----------------------------------------------------------------------------------------------


def _distance(q: torch.Tensor, r: torch.Tensor, metric: str) -> float:
    q, r = q.double(), r.double()
    if metric == "euclidean":
        return math.sqrt(float(((q - r) ** 2).sum()))
    return 1.0 - float(q @ r) / (float(q.norm()) * float(r.norm()))


def _brute_force(queries, refs, k, metric, exclude=None, labels=None) -> tuple[list[list[int]], list[list[float]]]:
    """The k nearest references of every query, one distance at a time."""
    idx, dist = [], []
    for i in range(queries.shape[0]):
        candidates = []
        for j in range(refs.shape[0]):
            if exclude is not None and j == int(exclude[i]):
                continue
            if labels is not None and int(labels[0][i]) == int(labels[1][j]):
                continue
            candidates.append((_distance(queries[i], refs[j], metric), j))
        candidates.sort()
        idx.append([j for _, j in candidates[:k]])
        dist.append([d for d, _ in candidates[:k]])
    return idx, dist


def _check(got: tuple[torch.Tensor, torch.Tensor], expected: tuple[list[list[int]], list[list[float]]]) -> None:
    idx, dist = got
    assert idx.dtype == torch.int64
    assert idx.tolist() == expected[0]
    torch.testing.assert_close(dist.double(), torch.tensor(expected[1], dtype=torch.float64), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("metric", distances.METRICS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_neighbors_matches_brute_force(metric: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    queries = torch.randn(7, 3, generator=g, dtype=torch.float64)
    refs = torch.randn(12, 3, generator=g, dtype=torch.float64)
    got = distances.nearest_neighbors(queries, refs, 4, metric=metric)
    assert got[0].shape == got[1].shape == (7, 4) and got[1].dtype == torch.float64
    _check(got, _brute_force(queries, refs, 4, metric))


@pytest.mark.parametrize("metric", distances.METRICS)
def test_nearest_neighbors_among_the_queries_leaves_each_out(metric: str) -> None:
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    self_excluded = _brute_force(x, x, 3, metric, exclude=torch.arange(10))
    _check(distances.nearest_neighbors(x, k=3, metric=metric), self_excluded)
    _check(distances.nearest_neighbors(x, x, 3, metric=metric, exclude=torch.arange(10)), self_excluded)
    assert not (distances.nearest_neighbors(x, k=3, metric=metric)[0] == torch.arange(10)[:, None]).any()


@pytest.mark.parametrize("metric", distances.METRICS)
def test_nearest_neighbors_with_an_exclude_column(metric: str) -> None:
    g = torch.Generator().manual_seed(4)
    queries = torch.randn(6, 3, generator=g, dtype=torch.float64)
    refs = torch.randn(9, 3, generator=g, dtype=torch.float64)
    exclude = torch.tensor([0, 8, 3, 3, 5, 1])
    nearest = distances.nearest_neighbors(queries, refs, 1, metric=metric)[0][:, 0]
    _check(distances.nearest_neighbors(queries, refs, 8, metric=metric, exclude=exclude),
           _brute_force(queries, refs, 8, metric, exclude=exclude))  # fmt: skip
    # leaving out each query's nearest reference promotes the second one
    second = distances.nearest_neighbors(queries, refs, 2, metric=metric)[0][:, 1]
    assert distances.nearest_neighbors(queries, refs, 1, metric=metric, exclude=nearest)[0][:, 0].tolist() == (
        second.tolist()
    )


@pytest.mark.parametrize("metric", distances.METRICS)
def test_nearest_neighbors_of_another_label(metric: str) -> None:
    g = torch.Generator().manual_seed(5)
    queries = torch.randn(8, 3, generator=g, dtype=torch.float64)
    refs = torch.randn(15, 3, generator=g, dtype=torch.float64)
    q_labels, r_labels = torch.arange(8) % 3, torch.arange(15) % 3
    got = distances.nearest_neighbors(queries, refs, 5, metric=metric, labels=(q_labels, r_labels))
    assert (r_labels[got[0]] != q_labels[:, None]).all()
    _check(got, _brute_force(queries, refs, 5, metric, labels=(q_labels, r_labels)))
    # together with exclude (the queries are the references)
    both = distances.nearest_neighbors(refs, k=4, metric=metric, labels=(r_labels, r_labels))
    _check(both, _brute_force(refs, refs, 4, metric, exclude=torch.arange(15), labels=(r_labels, r_labels)))


def test_nearest_neighbors_hand_computed() -> None:
    refs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    idx, dist = distances.nearest_neighbors(torch.tensor([[0.9, 0.0]]), refs, 3, metric="euclidean")
    assert idx.tolist() == [[1, 0, 2]]  # (3, 0) at 2.1 comes before (0, 2) at 2.19
    assert dist[0].tolist() == pytest.approx([0.1, 0.9, 2.1], abs=1e-6)
    assert dist.dtype == torch.float32
    # cosine ignores the length: (1, 0) and (3, 0) are equally near, then (0, 2); an all-zero row is at 1
    idx, dist = distances.nearest_neighbors(torch.tensor([[2.0, 0.2]]), refs, 4)
    assert set(idx[0, :2].tolist()) == {1, 2} and idx[0, 2:].tolist() == [3, 0]
    cos = 2.0 / math.hypot(2.0, 0.2)
    assert dist[0].tolist() == pytest.approx([1 - cos, 1 - cos, 1 - 0.2 / math.hypot(2.0, 0.2), 1.0], abs=1e-6)


def test_nearest_neighbors_chunked_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(6)
    queries, refs = torch.randn(25, 4, generator=g), torch.randn(30, 4, generator=g)
    labels = (torch.arange(25) % 4, torch.arange(30) % 4)
    full = distances.nearest_neighbors(queries, refs, 6, metric="euclidean", labels=labels)
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 4 * 30)  # 4 queries per chunk
    chunked = distances.nearest_neighbors(queries, refs, 6, metric="euclidean", labels=labels)
    assert torch.equal(full[0], chunked[0]) and torch.allclose(full[1], chunked[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 13}, "k must be at most the 12 references"),
        ({"k": 12, "exclude": torch.zeros(7, dtype=torch.long)}, "k must be at most the 11 references"),
        ({"k": 9, "labels": (torch.zeros(7, dtype=torch.long), torch.arange(12) % 3)}, "at most the 8 references"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"k": True}, "k must be an integer"),
        ({"k": 2.0}, "k must be an integer"),
        ({"refs": torch.randn(12, 4)}, "same size D"),
        ({"queries": torch.randn(7, 0)}, "needs at least one feature column"),
        ({"refs": torch.zeros(0, 3)}, "refs needs at least 1 rows"),
        ({"metric": "manhattan"}, "metric must be one of"),
        ({"exclude": torch.zeros(6, dtype=torch.long)}, r"exclude must have shape \[7\]"),
        ({"exclude": torch.zeros(7)}, "exclude must hold integer"),
        ({"exclude": torch.full((7,), 12)}, r"exclude must hold reference indices in \[0, 12\)"),
        ({"exclude": torch.full((7,), -1)}, "exclude must hold reference indices"),
        ({"exclude": [0] * 7}, "exclude must be a 1-D integer torch.Tensor"),
        ({"labels": (torch.zeros(6, dtype=torch.long), torch.zeros(12, dtype=torch.long))}, "query labels"),
        ({"labels": (torch.zeros(7, dtype=torch.long), torch.zeros(11, dtype=torch.long))}, "reference labels"),
        ({"queries": torch.full((7, 3), math.nan)}, "queries must be finite"),
    ],
)
def test_nearest_neighbors_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"queries": torch.randn(7, 3), "refs": torch.randn(12, 3), "k": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        distances.nearest_neighbors(**args)  # type: ignore[arg-type]


@FUZZ
@given(x=st.sampled_from(BAD_TENSORS))
def test_nearest_neighbors_rejects_bad_embeddings(x: object) -> None:
    with pytest.raises(ValueError):
        distances.nearest_neighbors(x, k=1)  # type: ignore[arg-type]
    if x is not None:  # refs=None searches among the queries
        with pytest.raises(ValueError):
            distances.nearest_neighbors(torch.randn(3, 2), x, k=1)  # type: ignore[arg-type]
