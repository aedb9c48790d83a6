"""Distances and miners: which pairs and triplets of a batch (or a data set) a loss should look at.

- ``pairwise_distances``: the [B, B] Euclidean (or squared) distance matrix, with a gradient that stays
  finite when two embeddings coincide.
- ``mine_triplets``: online triplet mining inside a batch ("all", "hard", "semihard"). It returns exactly
  the triplets whose mean triplet loss is ``contrastkit.losses.batch_triplet_loss``: both are built on
  the same selection code in this module.
- ``mine_hard_negatives``: offline mining over a whole data set with a scikit-learn nearest-neighbour
  index: for every sample, the k closest samples of another class.

Mining works on anchor rows in chunks of at most ``CHUNK_ELEMENTS`` distances, and the triplet
statistics are computed with sorting and binary search per anchor, so nothing of size B×B×B is ever
built: batch-all at B=8192 needs O(B²) memory and O(B² log B) time.

References:
    - [0] FaceNet, Schroff, Kalenichenko, Philbin 2015, arXiv:1503.03832 (semi-hard negatives).
    - [1] In Defense of the Triplet Loss for Person Re-Identification, Hermans, Beyer, Leibe 2017,
      arXiv:1703.07737 (batch-all and batch-hard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from contrastkit._checks import check_choice, check_labels, check_nonnegative, check_positive_int, check_tensor

__all__ = [
    "CHUNK_ELEMENTS",
    "STRATEGIES",
    "mine_hard_negatives",
    "mine_triplets",
    "pairwise_distances",
]

#: Triplet mining strategies understood by ``mine_triplets`` and ``batch_triplet_loss``.
STRATEGIES = ("all", "hard", "semihard")

#: Upper bound on the elements of one [anchors, B] block of distances handled at once (64 MiB in float32).
CHUNK_ELEMENTS = 1 << 24


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype the losses compute in: float16/bfloat16 are promoted to float32, others kept."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _check_embeddings(name: str, x: object) -> torch.Tensor:
    x = check_tensor(name, x, ndim=2, min_rows=1)
    if x.shape[1] < 1:
        raise ValueError(f"{name} needs at least one feature column, got shape {tuple(x.shape)}")
    return x


def distance_rows(x: torch.Tensor, start: int, stop: int, squared: bool = False) -> torch.Tensor:
    """Distances from rows ``start:stop`` of ``x`` to every row of ``x``.

    Uses ||a||² + ||b||² − 2 a·b clamped at 0, with the self-distances set to exactly 0. The square
    root is taken only where the squared distance is > 0; elsewhere the value is 0 with gradient 0, so
    coinciding embeddings never produce an infinite or NaN gradient.

    Args:
        x: embeddings [B, D].
        start: first anchor row.
        stop: one past the last anchor row.
        squared: return squared Euclidean distances instead.

    Returns:
        Distances [stop - start, B] in the dtype of ``x``.
    """
    rows = x[start:stop]  # [c, D]
    sq = (x * x).sum(dim=1)  # [B]
    d2 = sq[start:stop, None] + sq[None, :] - 2.0 * (rows @ x.T)  # [c, B]
    d2 = d2.clamp_min(0.0)
    idx = torch.arange(stop - start, device=x.device)
    d2[idx, idx + start] = 0.0  # each anchor against itself
    if squared:
        return d2
    positive = d2 > 0
    tiny = torch.finfo(d2.dtype).tiny
    return torch.where(positive, d2.clamp_min(tiny).sqrt(), torch.zeros_like(d2))


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
    x = _check_embeddings("x", x)
    work = x.to(compute_dtype(x.dtype))
    work = work - work.mean(dim=0)  # translation invariant; centring reduces rounding in the expansion
    return distance_rows(work, 0, work.shape[0], squared=squared).to(x.dtype)


def chunk_rows(n: int) -> int:
    """Number of anchor rows handled per chunk for a batch of ``n``."""
    return max(1, CHUNK_ELEMENTS // max(n, 1))


@dataclass
class Selection:
    """Result of triplet selection (internal).

    Attributes:
        weights: [B, B] float; the selected triplets' summed loss is sum(weights * D) + margin * active,
            where D are the pairwise distances. None if not requested.
        denominator: number of triplets the loss is averaged over.
        active: number of selected triplets with a loss > 0 (for "hard", left to the caller, which
            recomputes the distances of the selected triplets).
        valid: number of valid triplets (a, p, n) in the batch, whatever the strategy.
        sum_pos: sum of d(a, p) over the selected triplets (0 for "hard": left to the caller).
        sum_neg: sum of d(a, n) over the selected triplets (0 for "hard": left to the caller).
        triplets: (a, p, n) int64 index tensors [T] of the averaged triplets, or None if not requested.
    """

    weights: torch.Tensor | None
    denominator: int
    active: int
    valid: int
    sum_pos: float
    sum_neg: float
    triplets: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None


@torch.no_grad()
def select_triplets(
    x: torch.Tensor,
    labels: torch.Tensor,
    strategy: str,
    margin: float,
    squared: bool,
    *,
    want_weights: bool,
    want_triplets: bool,
) -> Selection:
    """Select triplets chunk by chunk over anchors (shared by ``mine_triplets`` and the loss).

    Args:
        x: embeddings [B, D] in the compute dtype (already validated).
        labels: int64 [B].
        strategy: "all", "hard" or "semihard".
        margin: triplet margin >= 0.
        squared: use squared distances.
        want_weights: build the [B, B] weight matrix used by the loss.
        want_triplets: build the explicit (a, p, n) index tensors.
    """
    b = x.shape[0]
    x = x.detach()
    x = x - x.mean(dim=0)  # distances are translation invariant; centring reduces rounding in the expansion
    device = x.device
    weights = torch.zeros(b, b, dtype=x.dtype, device=device) if want_weights else None
    # class bookkeeping: members[c] lists the rows of class c, padded with -1 to the largest class size
    _, inv, counts = torch.unique(labels, return_inverse=True, return_counts=True)  # [B], [C]
    perm = torch.argsort(inv, stable=True)  # [B] rows grouped by class
    starts = torch.cumsum(counts, 0) - counts  # [C]
    members = torch.full((counts.numel(), int(counts.max())), -1, dtype=torch.long, device=device)  # [C, K]
    members[inv[perm], torch.arange(b, device=device) - starts[inv[perm]]] = perm
    n_pos_all = counts[inv] - 1  # [B]
    n_neg_all = b - counts[inv]  # [B]
    valid = int((n_pos_all * n_neg_all).sum())
    step = chunk_rows(b)
    denominator = active = 0
    sum_pos = sum_neg = 0.0
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for start in range(0, b, step):
        stop = min(b, start + step)
        rows = torch.arange(start, stop, device=device)  # [c]
        # batch-hard only needs the order of the distances: squared ones will do
        d = distance_rows(x, start, stop, squared=squared or strategy == "hard")  # [c, B]
        neg = inv[start:stop, None] != inv[None, :]  # [c, B]
        if strategy == "hard":
            pos = ~neg  # [c, B]
            pos[rows - start, rows] = False  # an anchor is not its own positive
            has = (n_pos_all[start:stop] > 0) & (n_neg_all[start:stop] > 0)  # [c]
            p_idx = torch.where(pos, d, float("-inf")).argmax(dim=1)  # [c] hardest positive
            n_idx = torch.where(neg, d, float("inf")).argmin(dim=1)  # [c] hardest negative
            denominator += int(has.sum())
            parts.append((rows[has], p_idx[has], n_idx[has]))
            continue
        pos_cols = members[inv[start:stop]]  # [c, K] candidate positives (same class)
        is_pos = (pos_cols >= 0) & (pos_cols != rows[:, None])  # [c, K] real positives, self excluded
        pos_cols = pos_cols.clamp_min(0)
        d_pos = d.gather(1, pos_cols)  # [c, K]
        sorted_neg, order = torch.where(neg, d, float("inf")).sort(dim=1)  # [c, B] negatives first, ascending
        if strategy == "all":
            # k[a, p]: how many negatives of a lie strictly below d(a, p) + margin (the active triplets)
            thresholds = torch.where(is_pos, d_pos + margin, float("-inf"))  # [c, K]
            k = torch.searchsorted(sorted_neg, thresholds.contiguous(), side="left")  # [c, K]
            n_act = int(k.sum())
            active += n_act
            denominator += n_act
            # the negative at rank r is active for every positive with k > r: a suffix sum of a histogram
            hist = torch.zeros(stop - start, b + 1, dtype=torch.long, device=device)
            hist.scatter_add_(1, k, torch.ones_like(k))  # [c, B + 1]
            per_rank = hist[:, 1:].flip(1).cumsum(1).flip(1)  # [c, B] positives active against rank r
            c_an = torch.zeros_like(per_rank).scatter_(1, order, per_rank)  # [c, B] back to columns
            sum_pos += float((k.double() * d_pos.double()).sum())
            sum_neg += float((c_an.double() * d.double()).sum())
            if weights is not None:
                w = weights[start:stop]
                w -= c_an.to(w.dtype)
                w.scatter_add_(1, pos_cols, k.to(w.dtype))
            if want_triplets and n_act:
                a_loc, slot = k.nonzero(as_tuple=True)  # [P] pairs with at least one active negative
                cnt = k[a_loc, slot]  # [P]
                pair = torch.repeat_interleave(torch.arange(cnt.numel(), device=device), cnt)  # [T]
                first = torch.cumsum(cnt, 0) - cnt  # [P]
                rank = torch.arange(n_act, device=device) - first[pair]  # [T]
                parts.append((rows[a_loc[pair]], pos_cols[a_loc[pair], slot[pair]], order[a_loc[pair], rank]))
            continue
        # semihard: for each positive pair, the closest negative with d_ap < d_an < d_ap + margin
        j = torch.searchsorted(sorted_neg, d_pos.contiguous(), side="right").clamp_max(b - 1)  # [c, K]
        cand = sorted_neg.gather(1, j)  # [c, K] closest negative farther than the positive (inf if none)
        chosen = is_pos & (cand > d_pos) & (cand < d_pos + margin)  # [c, K]
        n_sel = int(chosen.sum())
        denominator += n_sel
        active += n_sel
        if n_sel:
            a_loc, slot = chosen.nonzero(as_tuple=True)  # [T]
            p_idx = pos_cols[a_loc, slot]  # [T]
            n_idx = order[a_loc, j[a_loc, slot]]  # [T]
            sum_pos += float(d_pos[a_loc, slot].double().sum())
            sum_neg += float(cand[a_loc, slot].double().sum())
            if weights is not None:
                ones = torch.ones(n_sel, dtype=weights.dtype, device=device)
                w = weights[start:stop]
                w.index_put_((a_loc, p_idx), ones, accumulate=True)
                w.index_put_((a_loc, n_idx), -ones, accumulate=True)
            if want_triplets:
                parts.append((rows[a_loc], p_idx, n_idx))
    if strategy == "hard":  # the caller measures the selected triplets exactly (difference-based distances)
        want_triplets = True
    triplets = None
    if want_triplets:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        if parts:
            triplets = tuple(torch.cat([p[i] for p in parts]).long() for i in range(3))  # type: ignore[assignment]
        else:
            triplets = (empty, empty.clone(), empty.clone())
    return Selection(weights, denominator, active, valid, sum_pos, sum_neg, triplets)


def mine_triplets(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    strategy: str = "all",
    margin: float = 0.2,
    squared: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Online triplet mining inside a batch, under ``torch.no_grad``.

    A triplet (a, p, n) is valid when a ≠ p, labels[a] = labels[p] and labels[n] ≠ labels[a]; its loss
    is max(0, d(a, p) − d(a, n) + margin). The strategies return exactly the triplets over which
    ``batch_triplet_loss`` takes its mean:

    - ``"all"`` (batch-all [1]): every valid triplet whose loss is > 0, i.e. d(a, n) < d(a, p) + margin.
    - ``"hard"`` (batch-hard [1]): for every anchor that has a positive and a negative, one triplet with
      its farthest positive and its closest negative (kept even if its loss is 0).
    - ``"semihard"`` (FaceNet [0]): for every positive pair (a, p), the closest negative with
      d(a, p) < d(a, n) < d(a, p) + margin. Pairs with no such semi-hard negative are skipped (no
      fallback to a harder or easier negative), so every returned triplet has a loss in (0, margin).

    Ties are broken by torch's ``max``/``min``/``sort``. The number of "all" triplets grows like B³:
    mine explicitly only small batches (the loss itself never lists them).

    Args:
        embeddings: [B, D] floating tensor.
        labels: [B] integer class ids.
        strategy: "all", "hard" or "semihard".
        margin: triplet margin, >= 0.
        squared: use squared Euclidean distances.

    Returns:
        (a, p, n): int64 index tensors [T] each, sorted by anchor.

    Raises:
        ValueError: on bad shapes, dtypes, non-finite values or hyperparameters.

    References:
        - [0] FaceNet, Schroff et al. 2015, arXiv:1503.03832
        - [1] In Defense of the Triplet Loss, Hermans et al. 2017, arXiv:1703.07737
    """
    embeddings = _check_embeddings("embeddings", embeddings)
    labels = check_labels("labels", labels, embeddings.shape[0])
    check_choice("strategy", strategy, STRATEGIES)
    margin = check_nonnegative("margin", margin)
    x = embeddings.detach().to(compute_dtype(embeddings.dtype))
    sel = select_triplets(
        x, labels.to(x.device), strategy, margin, bool(squared), want_weights=False, want_triplets=True
    )
    assert sel.triplets is not None
    return sel.triplets


def mine_hard_negatives(embeddings: torch.Tensor, labels: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Offline hard-negative mining: the k nearest other-class samples of every sample.

    Builds a scikit-learn ``NearestNeighbors`` index (Euclidean) over the whole set, queries a few more
    neighbours than k, drops those that share the query's label, and doubles the number of neighbours
    for the rows that still have fewer than k until every row is served.

    Args:
        embeddings: [N, D] floating tensor (any device; searched on the CPU in float32/float64).
        labels: [N] integer class ids.
        k: number of negatives per sample, >= 1. Every class must have at least k samples outside it.

    Returns:
        LongTensor [N, k] of indices into ``embeddings``, closest first.

    Raises:
        ValueError: on bad inputs, or when some sample has fewer than k samples of another class.
    """
    embeddings = _check_embeddings("embeddings", embeddings)
    n = embeddings.shape[0]
    labels = check_labels("labels", labels, n)
    k = check_positive_int("k", k)
    from sklearn.neighbors import NearestNeighbors  # imported here: the losses do not need scikit-learn

    x = embeddings.detach().cpu()
    x = (x.double() if x.dtype == torch.float64 else x.float()).numpy()
    y = labels.cpu().numpy()
    _, counts = np.unique(y, return_counts=True)
    fewest_others = n - int(counts.max())
    if fewest_others < k:
        raise ValueError(
            f"k={k} negatives per sample need at least {k} samples outside every class; "
            f"the largest class leaves only {fewest_others}"
        )
    index = NearestNeighbors(metric="euclidean").fit(x)
    out = np.empty((n, k), dtype=np.int64)
    todo = np.arange(n)
    m = min(n, 2 * k + 1)
    while todo.size:
        idx = index.kneighbors(x[todo], n_neighbors=m, return_distance=False)  # [t, m] closest first
        other = y[idx] != y[todo, None]  # [t, m]
        done = (other.sum(axis=1) >= k) | (m == n)  # [t]
        first = np.argsort(~other[done], axis=1, kind="stable")[:, :k]  # other-class columns, in order
        out[todo[done]] = np.take_along_axis(idx[done], first, axis=1)
        todo = todo[~done]
        m = min(n, 2 * m)
    return torch.from_numpy(out).to(embeddings.device)
