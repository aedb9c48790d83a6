"""Distances and nearest neighbours between embeddings: the one home of every chunked score computation.

The losses, the miners, the metrics, the 2-D projections and the image galleries all measure how
close embeddings are. They do it here, with one chunk-size rule (at most :data:`CHUNK_ELEMENTS`
scores in memory at once, so 60,000 × 10,000 fits on a laptop) and one compute-dtype rule
(:func:`compute_dtype`).

- :func:`pairwise_distances`: the [B, B] Euclidean (or squared) distance matrix of a batch, with a
  gradient that stays finite when two rows coincide.
- :func:`nearest_neighbors`: the k nearest references of every query (cosine or Euclidean),
  optionally leaving each query itself out or only counting references of another label.

The lower-level kernels (:func:`distance_rows`, :func:`row_distances`, :func:`prepare`,
:func:`closeness`, :func:`topk_neighbors`, :func:`chunk_rows`) take inputs that their caller has
already validated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastkit._checks import check_bool, check_choice, check_embeddings, check_labels, check_positive_int, describe

__all__ = [
    "CHUNK_ELEMENTS",
    "METRICS",
    "chunk_rows",
    "closeness",
    "compute_dtype",
    "distance_rows",
    "nearest_neighbors",
    "pairwise_distances",
    "prepare",
    "row_distances",
    "to_distance",
    "topk_neighbors",
]

#: Similarity measures understood by the neighbour-based functions.
METRICS = ("cosine", "euclidean")

#: Upper bound on the elements of one [rows, N] block of scores handled at once (64 MiB in float32).
CHUNK_ELEMENTS = 1 << 24


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


def row_distances(a: torch.Tensor, b: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Row-wise Euclidean (or squared) distances [B] of two [B, D] tensors, from the differences."""
    d2 = ((a - b) ** 2).sum(dim=1)  # [B]
    return d2 if squared else _safe_sqrt(d2)


def distance_rows(x: torch.Tensor, start: int, stop: int, squared: bool = False) -> torch.Tensor:
    """Distances from rows ``start:stop`` of ``x`` [B, D] to every row of ``x``: [stop - start, B].

    Uses ||a||² + ||b||² − 2 a·b clamped at 0, with the self-distances set to exactly 0; the square
    root is taken only where the squared distance is > 0 (elsewhere 0 with gradient 0), so coinciding
    embeddings never produce an infinite or NaN gradient.
    """
    rows = x[start:stop]  # [c, D]
    sq = (x * x).sum(dim=1)  # [B]
    d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (rows @ x.T)  # [c, B]
    d2 = d2.clamp_min(0.0)
    idx = torch.arange(stop - start, device=x.device)
    d2[idx, idx + start] = 0.0  # each anchor against itself
    return d2 if squared else _safe_sqrt(d2)


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
    return distance_rows(work, 0, work.shape[0], squared=check_bool("squared", squared)).to(x.dtype)


# ----------------------------------------------------------------------------------------------
# Similarity scores and nearest neighbours (metrics, projections, galleries, offline mining)
# ----------------------------------------------------------------------------------------------


def prepare(emb: torch.Tensor, metric: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Cast and, for cosine, L2-normalise rows (an all-zero row stays zero: similarity 0 to all)."""
    emb = emb.to(device=device, dtype=dtype)
    return F.normalize(emb, dim=1) if metric == "cosine" else emb


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
    """The kernel of :func:`nearest_neighbors` on validated inputs: top-k closeness, in query chunks.

    Args:
        queries: [Q, D]; refs: [N, D]; both floating, any dtype (computed in :func:`compute_dtype`).
        k: neighbours per query (at most what every query has available).
        metric: "cosine" or "euclidean".
        exclude: int64 [Q], one reference column per query to leave out (the query itself), or None.
        labels: ``(query_labels [Q], ref_labels [N])`` int64: references sharing the query's label are
            left out, or None.

    Returns:
        ``(indices, closeness)``: int64 [Q, k] and the scores of :func:`closeness` [Q, k], nearest first,
        on the device of ``refs``.
    """
    device = refs.device
    dtype = compute_dtype(queries, refs)
    r = prepare(refs, metric, dtype, device)  # [N, D]
    ref_sq = (r * r).sum(1)[None, :] if metric == "euclidean" else None  # [1, N]
    indices, scores = [], []
    step = chunk_rows(r.shape[0])
    for start in range(0, queries.shape[0], step):
        q = prepare(queries[start : start + step], metric, dtype, device)  # [c, D]
        s = closeness(q, r, metric, ref_sq)  # [c, N]
        if exclude is not None:
            s[torch.arange(q.shape[0], device=device), exclude[start : start + step].to(device)] = float("-inf")
        if labels is not None:
            same = labels[0][start : start + step, None].to(device) == labels[1][None, :].to(device)  # [c, N]
            s = s.masked_fill(same, float("-inf"))
        top = s.topk(k, dim=1)  # [c, k] largest closeness first
        indices.append(top.indices)
        scores.append(top.values)
    return torch.cat(indices), torch.cat(scores)


def to_distance(scores: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances from :func:`closeness` scores: cosine distance 1 − cos, or the Euclidean distance."""
    return 1.0 - scores if metric == "cosine" else (-scores).clamp_min(0.0).sqrt()


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
    indices, best = topk_neighbors(queries, refs, k, metric, exclude=exclude, labels=labels)
    return indices, to_distance(best, metric)
