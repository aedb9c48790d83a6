"""Distances and nearest neighbours between embeddings: the one home of every chunked score computation.

The losses, the miners, the metrics, the 2-D projections and the image galleries all measure how
close embeddings are. They do it here, with one chunk-size rule (at most :data:`CHUNK_ELEMENTS`
scores in memory at once, so 60,000 × 10,000 fits on a laptop) and one compute-dtype rule
(:func:`compute_dtype`).

- :func:`pairwise_distances`: the [B, B] Euclidean (or squared) distance matrix of a batch, with a
  gradient that stays finite when two rows coincide.
- :func:`nearest_neighbors`: the k nearest references of every query (cosine or Euclidean),
  optionally leaving each query itself out or only counting references of another label.
- :func:`normalize_rows`: L2 normalisation that works at any scale.

Precision: every distance is computed on inputs divided by a power of two near their largest entry
(exact), so embeddings of 1e20 or 1e-25 in float32 give the right distances; the fast expansion
||a||² + ||b||² − 2 a·b is recomputed from the differences for pairs that are close compared with
their norms (:data:`REFINE_RATIO`), where the expansion would cancel most digits;
:func:`rounding_tolerance` bounds what rounding is left, for the miners' tie rule.

The lower-level kernels (:func:`distance_rows`, :func:`row_distances`, :func:`prepare`,
:func:`closeness`, :func:`topk_neighbors`, :func:`chunk_rows`) take inputs that their caller has
already validated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastkit._checks import (
    check_bool,
    check_choice,
    check_embeddings,
    check_labels,
    check_positive_int,
    check_squared_range,
    describe,
)

__all__ = [
    "CHUNK_ELEMENTS",
    "METRICS",
    "REFINE_RATIO",
    "chunk_rows",
    "closeness",
    "compute_dtype",
    "distance_rows",
    "nearest_neighbors",
    "normalize_rows",
    "pairwise_distances",
    "prepare",
    "rounding_tolerance",
    "row_distances",
    "topk_neighbors",
]

#: Similarity measures understood by the neighbour-based functions.
METRICS = ("cosine", "euclidean")

#: Upper bound on the elements of one [rows, N] block of scores handled at once (64 MiB in float32).
CHUNK_ELEMENTS = 1 << 24

#: Pairs whose squared distance is below this fraction of ||a||² + ||b||² are recomputed from their
#: differences: there the expansion ||a||² + ||b||² − 2 a·b cancels most of its digits.
REFINE_RATIO = 1.0 / 64


def compute_dtype(*items: torch.Tensor | torch.dtype) -> torch.dtype:
    """The dtype every score is computed in: float64 if any input is float64, else float32.

    float16 and bfloat16 inputs are promoted to float32, so that a temperature of 0.01 or a large
    batch cannot overflow.
    """
    dtypes = [x.dtype if isinstance(x, torch.Tensor) else x for x in items]
    return torch.float64 if torch.float64 in dtypes else torch.float32


def chunk_rows(n: int) -> int:
    """Rows handled per chunk when each row is scored against ``n`` others."""
    return max(1, CHUNK_ELEMENTS // max(n, 1))


# ----------------------------------------------------------------------------------------------
# Euclidean distances inside a batch (losses and miners)
# ----------------------------------------------------------------------------------------------


def _safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    """sqrt(d2) where d2 > 0, else 0 with gradient 0 (the direction of a zero distance is undefined)."""
    tiny = torch.finfo(d2.dtype).tiny
    return torch.where(d2 > 0, d2.clamp_min(tiny).sqrt(), torch.zeros_like(d2))


def _power_of_two_scale(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """A power of two close to max |x| (over ``dim``, or all of ``x``), 1 where that is 0; detached.

    Dividing by it is exact and brings the entries near 1, so that squares neither overflow (entries
    of 1e20 in float32) nor underflow (1e-25).
    """
    m = x.detach().abs()
    m = m.amax() if dim is None else m.amax(dim=dim, keepdim=True)
    return torch.where(m > 0, torch.exp2(torch.floor(torch.log2(m.clamp_min(torch.finfo(m.dtype).tiny)))), 1.0)


def normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the rows of ``x`` [B, D] at any scale (an all-zero row stays zero).

    ``F.normalize`` squares the entries first, so rows of 1e20 (float32) overflow to zero vectors and
    rows of 1e-25 underflow; each row is first divided by a power of two near its largest entry.
    """
    return F.normalize(x / _power_of_two_scale(x, dim=1), dim=1)


def row_distances(a: torch.Tensor, b: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Row-wise Euclidean (or squared) distances [B] of two [B, D] tensors, from the differences.

    The differences are rescaled by a power of two before squaring, so that huge or tiny embeddings
    neither overflow nor underflow (a squared distance beyond the dtype's range is still inf).
    """
    diff = a - b  # [B, D]
    scale = _power_of_two_scale(diff, dim=1)[:, 0]  # [B] one power of two per row
    d2 = ((diff / scale[:, None]) ** 2).sum(dim=1)  # [B]
    return d2 * scale**2 if squared else _safe_sqrt(d2) * scale


@torch.no_grad()
def _close_pair_correction(x: torch.Tensor, start: int, stop: int, d2: torch.Tensor, sq: torch.Tensor) -> torch.Tensor:
    """exact − expanded squared distance [c, B] for the close pairs of rows ``start:stop``, else 0."""
    c = stop - start
    close = d2 < REFINE_RATIO * (sq[start:stop, None] + sq[None, :])  # [c, B]
    idx = torch.arange(c, device=x.device)
    close[idx, idx + start] = False
    r, col = close.nonzero(as_tuple=True)  # [M] close pairs
    correction = torch.zeros_like(d2)
    step = max(1, CHUNK_ELEMENTS // max(x.shape[1], 1))
    for i in range(0, r.numel(), step):  # [step, D] differences at a time
        rr, cc = r[i : i + step], col[i : i + step]
        correction[rr, cc] = ((x[start + rr] - x[cc]) ** 2).sum(dim=1) - d2[rr, cc]
    return correction


def distance_rows(x: torch.Tensor, start: int, stop: int, squared: bool = False) -> torch.Tensor:
    """Distances from rows ``start:stop`` of ``x`` [B, D] to every row of ``x``: [stop - start, B].

    Uses ||a||² + ||b||² − 2 a·b (one matmul) on ``x`` rescaled by a power of two, so that huge or
    tiny embeddings neither overflow nor underflow. Where two rows are close compared with their
    norms (squared distance below :data:`REFINE_RATIO` of ||a||² + ||b||²) the expansion cancels most
    of its digits, and the value is recomputed from the difference (the gradient stays that of the
    expansion, which is the same function). The result is clamped at 0, the self-distances are
    exactly 0, and the square root is taken only where the squared distance is > 0 (elsewhere 0 with
    gradient 0), so coinciding embeddings never produce an infinite or NaN gradient.
    """
    scale = _power_of_two_scale(x)
    x = x / scale  # exact: a power of two
    rows = x[start:stop]  # [c, D]
    sq = (x * x).sum(dim=1)  # [B]
    d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (rows @ x.T)  # [c, B]
    d2 = (d2 + _close_pair_correction(x, start, stop, d2.detach(), sq)).clamp_min(0.0)
    idx = torch.arange(stop - start, device=x.device)
    d2[idx, idx + start] = 0.0  # each anchor against itself
    return d2 * scale**2 if squared else _safe_sqrt(d2) * scale


def rounding_tolerance(x: torch.Tensor, squared: bool = False) -> float:
    """A bound on the rounding error of the distances :func:`distance_rows` computes for ``x`` [B, D].

    8·√D·eps·max_i ||x_i|| (times max_i ||x_i|| again for squared distances): a worst-case bound for
    the expansion of distances comparable to the norms (closer pairs are recomputed from their
    differences). Two computed distances closer than twice this may be in the wrong order; the
    miners settle such near-ties from the differences.
    """
    if x.numel() == 0:
        return 0.0
    norm = float(row_distances(x, torch.zeros_like(x)).max())
    return 8.0 * x.shape[1] ** 0.5 * torch.finfo(x.dtype).eps * norm * (norm if squared else 1.0)


def pairwise_distances(x: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """All pairwise Euclidean (or squared Euclidean) distances of a batch.

    d²(a, b) = ||a||² + ||b||² − 2 a·b, clamped at 0 (rounding can make it slightly negative), with the
    diagonal exactly 0. The Euclidean distance is sqrt(d²) where d² > 0 and 0 (with zero gradient)
    where d² = 0, so the gradient is finite even when two rows coincide.

    Args:
        x: embeddings [B, D], floating dtype. float16/bfloat16 are computed in float32.
        squared: return squared distances.

    Returns:
        Distances [B, B] in the dtype of ``x``.

    Raises:
        ValueError: if ``x`` is not a finite floating 2-D tensor with at least one row and column.
    """
    x = check_embeddings("x", x)
    work = x.to(compute_dtype(x))
    work = work - work.mean(dim=0)  # translation invariant; centring reduces rounding in the expansion
    squared = check_bool("squared", squared)
    check_squared_range("x", work, squared, work.dtype)
    return distance_rows(work, 0, work.shape[0], squared=squared).to(x.dtype)


# ----------------------------------------------------------------------------------------------
# Similarity scores and nearest neighbours (metrics, projections, galleries, offline mining)
# ----------------------------------------------------------------------------------------------


def prepare(emb: torch.Tensor, metric: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Cast and, for cosine, L2-normalise rows (an all-zero row stays zero: similarity 0 to all)."""
    emb = emb.to(device=device, dtype=dtype)
    return normalize_rows(emb) if metric == "cosine" else emb


def closeness(queries: torch.Tensor, refs: torch.Tensor, metric: str, ref_sq: torch.Tensor | None) -> torch.Tensor:
    """Closeness scores [Q, N] of prepared rows: larger is nearer (cosine, or minus squared distance).

    ``ref_sq`` is ``(refs * refs).sum(1)[None, :]`` for "euclidean" (None for "cosine").
    """
    sim = queries @ refs.T  # [Q, N]
    if metric == "cosine":
        return sim
    q_sq = (queries * queries).sum(1, keepdim=True)  # [Q, 1]
    return 2 * sim - q_sq - ref_sq  # [Q, N] = -||q - r||^2


def topk_neighbors(
    queries: torch.Tensor,
    refs: torch.Tensor,
    k: int,
    metric: str,
    *,
    exclude: torch.Tensor | None = None,
    labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel of :func:`nearest_neighbors` on validated inputs: the top k, in query chunks.

    For "euclidean" both inputs are divided by one power of two near their largest entry, so that
    the squared distances of huge or tiny embeddings neither overflow nor underflow; the distances
    are scaled back at the end.

    Args:
        queries: [Q, D]; refs: [N, D]; both floating, any dtype (computed in :func:`compute_dtype`).
        k: neighbours per query (at most what every query has available).
        metric: "cosine" or "euclidean".
        exclude: int64 [Q], one reference column per query to leave out (the query itself), or None.
        labels: ``(query_labels [Q], ref_labels [N])`` int64: references sharing the query's label are
            left out, or None.

    Returns:
        ``(indices, distances)``: int64 [Q, k] and their distances [Q, k] (cosine distance 1 − cos, or
        Euclidean), nearest first, in the compute dtype, on the device of ``refs``.
    """
    device = refs.device
    dtype = compute_dtype(queries, refs)
    scale = torch.ones((), dtype=dtype, device=device)
    if metric == "euclidean" and queries.numel() and refs.numel():
        biggest = torch.stack([queries.detach().abs().amax().to(device, dtype), refs.detach().abs().amax().to(dtype)])
        scale = _power_of_two_scale(biggest)
    r = prepare(refs, metric, dtype, device) / scale  # [N, D]
    ref_sq = (r * r).sum(1)[None, :] if metric == "euclidean" else None  # [1, N]
    indices, scores = [], []
    step = chunk_rows(r.shape[0])
    for start in range(0, queries.shape[0], step):
        q = prepare(queries[start : start + step], metric, dtype, device) / scale  # [c, D]
        s = closeness(q, r, metric, ref_sq)  # [c, N]
        if exclude is not None:
            s[torch.arange(q.shape[0], device=device), exclude[start : start + step].to(device)] = float("-inf")
        if labels is not None:
            same = labels[0][start : start + step, None].to(device) == labels[1][None, :].to(device)  # [c, N]
            s = s.masked_fill(same, float("-inf"))
        top = s.topk(k, dim=1)  # [c, k] largest closeness first
        indices.append(top.indices)
        scores.append(top.values)
    best = torch.cat(scores)  # [Q, k]
    distances = 1.0 - best if metric == "cosine" else (-best).clamp_min(0.0).sqrt() * scale
    return torch.cat(indices), distances


def nearest_neighbors(
    queries: torch.Tensor,
    refs: torch.Tensor | None = None,
    k: int = 5,
    *,
    metric: str = "cosine",
    exclude: torch.Tensor | None = None,
    labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest references of every query, nearest first, computed in chunks of queries.

    Args:
        queries: [Q, D] floating.
        refs: [N, D] floating, or None to search among the queries themselves (each query then
            leaves itself out).
        k: neighbours per query, 1 <= k <= the references available to each query.
        metric: "cosine" (distance 1 − cos of the L2-normalised rows) or "euclidean".
        exclude: int64 [Q]: for each query, one reference index to leave out (e.g. the query's own
            row when the queries are rows of ``refs``).
        labels: ``(query_labels [Q], ref_labels [N])``: only references of another label count (the
            hard negatives of offline mining).

    Returns:
        ``(indices, distances)``: int64 [Q, k] into the references and their distances [Q, k]
        (cosine distance 1 − cos, or Euclidean distance), in the compute dtype, on the device of
        the references.
    """
    queries = check_embeddings("queries", queries)
    if refs is None:
        refs = queries
        exclude = torch.arange(queries.shape[0], device=queries.device) if exclude is None else exclude
    refs = check_embeddings("refs", refs)
    if refs.shape[1] != queries.shape[1]:
        raise ValueError(f"queries and refs must have the same size D, got {describe(queries)} and {describe(refs)}")
    check_choice("metric", metric, METRICS)
    k = check_positive_int("k", k)
    available = refs.shape[0]
    if exclude is not None:
        exclude = check_labels("exclude", exclude, queries.shape[0])
        if exclude.numel() and not (0 <= int(exclude.min()) and int(exclude.max()) < refs.shape[0]):
            raise ValueError(f"exclude must hold reference indices in [0, {refs.shape[0]}), got {describe(exclude)}")
        available -= 1
    if labels is not None:
        labels = (
            check_labels("query labels", labels[0], queries.shape[0]),
            check_labels("reference labels", labels[1], refs.shape[0]),
        )
        _, counts = torch.unique(labels[1], return_counts=True)
        available = min(available, refs.shape[0] - int(counts.max()))
    if k > available:
        raise ValueError(f"k must be at most the {available} references available to every query, got {k}")
    return topk_neighbors(queries, refs, k, metric, exclude=exclude, labels=labels)
