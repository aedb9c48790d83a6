"""Miners: which triplets of a batch (or which negatives of a data set) a loss should look at.

- :func:`mine_triplets`: online triplet mining inside a batch ("all", "hard", "semihard"). It returns
  a frozen :class:`Triplets` (anchor, positive, negative index tensors) that
  :func:`contrastkit.losses.triplet_loss` reads; :func:`contrastkit.losses.batch_triplet_loss` is the
  same mean over the same triplets, computed without listing them.
- :func:`select_triplets`: the selection both are built on, chunk by chunk over anchors. It returns
  a frozen :class:`TripletSelection`: the weight matrix the fast loss uses, the counts and, on
  request, the triplets.
- :func:`mine_hard_negatives`: offline mining over a whole data set: for every sample, the k closest
  samples of another class (:func:`contrastkit.distances.nearest_neighbors`).

Distances come from :mod:`contrastkit.distances`, one [anchors, B] block of at most
``CHUNK_ELEMENTS`` at a time, and the triplet statistics are computed with sorting and binary
search per anchor, so nothing of size B×B×B is ever built: batch-all at B=8192 needs O(B²) memory
and O(B² log B) time.

References:
    - [0] FaceNet, Schroff, Kalenichenko, Philbin 2015, arXiv:1503.03832 (semi-hard negatives).
    - [1] In Defense of the Triplet Loss for Person Re-Identification, Hermans, Beyer, Leibe 2017,
      arXiv:1703.07737 (batch-all and batch-hard).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from contrastkit._checks import (
    check_bool,
    check_choice,
    check_embeddings,
    check_labels,
    check_margin,
    check_positive_int,
    check_squared_range,
)
from contrastkit.distances import (
    chunk_rows,
    compute_dtype,
    distance_rows,
    rounding_tolerance,
    row_distances,
    topk_neighbors,
)

__all__ = [
    "STRATEGIES",
    "TripletSelection",
    "Triplets",
    "mine_hard_negatives",
    "mine_triplets",
    "select_triplets",
]

#: Triplet mining strategies understood by ``mine_triplets`` and ``batch_triplet_loss``.
STRATEGIES = ("all", "hard", "semihard")


class Triplets(NamedTuple):
    """Mined triplets: three int64 index tensors [T] into the batch, sorted by anchor (frozen).

    Unpacks as ``a, p, n = triplets``.
    """

    anchors: torch.Tensor
    positives: torch.Tensor
    negatives: torch.Tensor


@dataclass(frozen=True)
class TripletSelection:
    """What :func:`select_triplets` found in one batch. Read by the losses, never changed.

    Attributes:
        weights: [B, B] float or None; the selected triplets' summed loss is
            sum(weights * D) + margin * active, D the pairwise distances ("all" and "semihard").
        denominator: number of triplets the loss is averaged over.
        active: selected triplets with a loss > 0 ("all" and "semihard"; for "hard" the loss counts
            them itself from exact distances, and this is 0).
        valid: valid (a, p, n) triplets in the batch, whatever the strategy.
        sum_pos: sum of d(a, p) over the selected triplets (0 for "hard").
        sum_neg: sum of d(a, n) over the selected triplets (0 for "hard").
        considered: what the active fraction is relative to: all valid triplets ("all"), anchors
            with a positive and a negative ("hard"), positive pairs whose anchor has a negative
            ("semihard").
        triplets: the averaged triplets, or None when not requested (always given for "hard").
    """

    weights: torch.Tensor | None
    denominator: int
    active: int
    valid: int
    sum_pos: float
    sum_neg: float
    considered: int
    triplets: Triplets | None


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
) -> TripletSelection:
    """Select triplets chunk by chunk over anchors (shared by :func:`mine_triplets` and the losses).

    Inputs are the already validated ones of the public callers.

    Args:
        x: embeddings [B, D] in the compute dtype.
        labels: int64 [B] on the device of ``x``.
        strategy: "all", "hard" or "semihard".
        margin: triplet margin >= 0.
        squared: use squared distances.
        want_weights: build the [B, B] weight matrix used by the loss ("all" and "semihard").
        want_triplets: list the (a, p, n) index tensors.

    Returns:
        A frozen :class:`TripletSelection`.
    """
    b = x.shape[0]
    # every comparison is made in units of a power of two near max |x| (exact), so that the squared
    # distances batch-hard orders by neither overflow nor underflow; the sums are scaled back
    unit = float(x.detach().abs().max()) if x.numel() else 0.0
    unit = 2.0 ** math.floor(math.log2(unit)) if unit > 0 else 1.0
    uncentred = x.detach() / unit  # [B, D]
    unit = unit * unit if squared else unit  # what distances scale by
    margin = margin / unit
    # two computed distances closer than this may be misordered (the bound is of the uncentred rows, so
    # it covers the rounding of the centring too)
    tol = 2 * rounding_tolerance(uncentred, squared)
    x = uncentred - uncentred.mean(dim=0)  # translation invariant; centring reduces rounding in the expansion
    device = x.device
    weights = torch.zeros(b, b, dtype=x.dtype, device=device) if want_weights and strategy != "hard" else None
    classes = _ClassMembers(labels)
    step = chunk_rows(b)
    totals = _Totals()
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    select = {"all": _select_all, "hard": _select_hard, "semihard": _select_semihard}[strategy]
    want = want_triplets or strategy == "hard"  # batch-hard: the loss measures the chosen triplets exactly
    for start in range(0, b, step):
        stop = min(b, start + step)
        # batch-hard only needs the order of the distances: squared ones will do
        d = distance_rows(x, start, stop, squared=squared or strategy == "hard")  # [c, B]
        if strategy != "hard":  # batch-hard's loss re-measures its triplets from the differences
            _settle_near_ties(d, uncentred, classes, start, stop, margin, tol, squared)
        w = weights[start:stop] if weights is not None else None
        found = select(d, classes, start, stop, margin, totals, w, want)
        if found is not None:
            parts.append(found)
    triplets = None
    if want:
        if parts:
            triplets = Triplets(*(torch.cat([p[i] for p in parts]).long() for i in range(3)))
        else:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            triplets = Triplets(empty, empty.clone(), empty.clone())
    considered = {"all": classes.valid, "hard": totals.denominator, "semihard": classes.pairs_with_negative}[strategy]
    return TripletSelection(
        weights=weights,
        denominator=totals.denominator,
        active=totals.active,
        valid=classes.valid,
        sum_pos=totals.sum_pos * unit,
        sum_neg=totals.sum_neg * unit,
        considered=considered,
        triplets=triplets,
    )


class _ClassMembers:
    """Class bookkeeping of a batch: each row's class, the members of each class, and the counts."""

    def __init__(self, labels: torch.Tensor):
        b = labels.shape[0]
        device = labels.device
        _, inv, counts = torch.unique(labels, return_inverse=True, return_counts=True)  # [B], [C]
        perm = torch.argsort(inv, stable=True)  # [B] rows grouped by class
        starts = torch.cumsum(counts, 0) - counts  # [C]
        # members[c] lists the rows of class c, padded with -1 to the largest class size
        self.members = torch.full((counts.numel(), int(counts.max())), -1, dtype=torch.long, device=device)  # [C, K]
        self.members[inv[perm], torch.arange(b, device=device) - starts[inv[perm]]] = perm
        self.inv = inv
        self.n_pos = counts[inv] - 1  # [B]
        self.n_neg = b - counts[inv]  # [B]
        self.valid = int((self.n_pos * self.n_neg).sum())
        with_negative = counts[counts < b]
        self.pairs_with_negative = int((with_negative * (with_negative - 1)).sum())


class _Totals:
    """Running sums of one selection over the anchor chunks."""

    def __init__(self) -> None:
        self.denominator = 0
        self.active = 0
        self.sum_pos = 0.0
        self.sum_neg = 0.0


def _select_hard(d, classes: _ClassMembers, start, stop, margin, totals: _Totals, weights, want):
    """Batch-hard: each anchor's farthest positive and closest negative."""
    rows = torch.arange(start, stop, device=d.device)  # [c]
    neg = classes.inv[start:stop, None] != classes.inv[None, :]  # [c, B]
    pos = ~neg  # [c, B]
    pos[rows - start, rows] = False  # an anchor is not its own positive
    has = (classes.n_pos[start:stop] > 0) & (classes.n_neg[start:stop] > 0)  # [c]
    p_idx = torch.where(pos, d, float("-inf")).argmax(dim=1)  # [c] hardest positive
    n_idx = torch.where(neg, d, float("inf")).argmin(dim=1)  # [c] hardest negative
    totals.denominator += int(has.sum())
    return rows[has], p_idx[has], n_idx[has]


def _settle_near_ties(d, x, classes: _ClassMembers, start, stop, margin, tol, squared) -> None:
    """Recompute from the differences, in place, the distances of ``d`` [c, B] that rounding could misorder.

    Batch-all and semi-hard compare each negative's d(a, n) with d(a, p) and d(a, p) + margin. Where
    the two sides are within ``tol`` (what rounding of the expansion can change) the comparison is
    decided by the differences x_a − x_b of the uncentred rows ``x`` instead, which are exact for exact
    ties in the data (points on a grid, duplicates). Everything farther apart keeps the fast value:
    rounding cannot flip it.
    """
    _, pos_cols, is_pos, d_pos, _, _ = _positives(d, classes, start, stop, sort=False)
    k = pos_cols.shape[1]
    # every value a negative is compared with, and the positive column it comes from: [c, 2K]
    thresholds = torch.where(is_pos.repeat(1, 2), torch.cat([d_pos, d_pos + margin], dim=1), float("inf"))
    thresholds, order = thresholds.sort(dim=1)
    owner = pos_cols.repeat(1, 2).gather(1, order)  # [c, 2K]
    j = torch.searchsorted(thresholds, d.contiguous()).clamp(1, 2 * k - 1) if k > 0 else None  # [c, B]
    if j is None:
        return
    neg = classes.inv[start:stop, None] != classes.inv[None, :]  # [c, B]
    below, above = thresholds.gather(1, j - 1), thresholds.gather(1, j)  # [c, B] the two nearest thresholds
    near_below, near_above = (d - below).abs() <= tol, (above - d).abs() <= tol  # [c, B]
    a_loc, col = (neg & (near_below | near_above)).nonzero(as_tuple=True)  # [M] negatives near a threshold
    if a_loc.numel() == 0:
        return
    # ... and the positives whose thresholds they are near
    pos_b = owner[a_loc, j[a_loc, col] - 1][near_below[a_loc, col]]
    pos_a = owner[a_loc, j[a_loc, col]][near_above[a_loc, col]]
    a_all = torch.cat([a_loc, a_loc[near_below[a_loc, col]], a_loc[near_above[a_loc, col]]])
    b_all = torch.cat([col, pos_b, pos_a])
    exact = row_distances(x[start + a_all], x[b_all], squared)  # [M'] from the differences
    d[a_all, b_all] = exact


def _positives(d, classes: _ClassMembers, start, stop, sort: bool = True):
    """Each anchor's positives and its negatives sorted by distance."""
    rows = torch.arange(start, stop, device=d.device)  # [c]
    neg = classes.inv[start:stop, None] != classes.inv[None, :]  # [c, B]
    pos_cols = classes.members[classes.inv[start:stop]]  # [c, K] candidate positives (same class)
    is_pos = (pos_cols >= 0) & (pos_cols != rows[:, None])  # [c, K] real positives, self excluded
    pos_cols = pos_cols.clamp_min(0)
    d_pos = d.gather(1, pos_cols)  # [c, K]
    if not sort:
        return rows, pos_cols, is_pos, d_pos, None, None
    sorted_neg, order = torch.where(neg, d, float("inf")).sort(dim=1)  # [c, B] negatives first, ascending
    return rows, pos_cols, is_pos, d_pos, sorted_neg, order


def _select_all(d, classes: _ClassMembers, start, stop, margin, totals: _Totals, weights, want):
    """Batch-all: every valid triplet with d(a, n) < d(a, p) + margin."""
    rows, pos_cols, is_pos, d_pos, sorted_neg, order = _positives(d, classes, start, stop)
    b = d.shape[1]
    device = d.device
    # k[a, p]: how many negatives of a lie strictly below d(a, p) + margin (the active triplets)
    thresholds = torch.where(is_pos, d_pos + margin, float("-inf"))  # [c, K]
    k = torch.searchsorted(sorted_neg, thresholds.contiguous(), side="left")  # [c, K]
    n_act = int(k.sum())
    totals.active += n_act
    totals.denominator += n_act
    # the negative at rank r is active for every positive with k > r: a suffix sum of a histogram
    hist = torch.zeros(stop - start, b + 1, dtype=torch.long, device=device)
    hist.scatter_add_(1, k, torch.ones_like(k))  # [c, B + 1]
    per_rank = hist[:, 1:].flip(1).cumsum(1).flip(1)  # [c, B] positives active against rank r
    c_an = torch.zeros_like(per_rank).scatter_(1, order, per_rank)  # [c, B] back to columns
    totals.sum_pos += float((k.to(d.dtype) * d_pos).sum())  # in the compute dtype: no float64 on the device
    totals.sum_neg += float((c_an.to(d.dtype) * d).sum())
    if weights is not None:
        weights -= c_an.to(weights.dtype)
        weights.scatter_add_(1, pos_cols, k.to(weights.dtype))
    if not (want and n_act):
        return None
    a_loc, slot = k.nonzero(as_tuple=True)  # [P] pairs with at least one active negative
    cnt = k[a_loc, slot]  # [P]
    pair = torch.repeat_interleave(torch.arange(cnt.numel(), device=device), cnt)  # [T]
    first = torch.cumsum(cnt, 0) - cnt  # [P]
    rank = torch.arange(n_act, device=device) - first[pair]  # [T]
    return rows[a_loc[pair]], pos_cols[a_loc[pair], slot[pair]], order[a_loc[pair], rank]


def _select_semihard(d, classes: _ClassMembers, start, stop, margin, totals: _Totals, weights, want):
    """Semi-hard: for each positive pair, the closest negative with d_ap < d_an < d_ap + margin."""
    rows, pos_cols, is_pos, d_pos, sorted_neg, order = _positives(d, classes, start, stop)
    b = d.shape[1]
    j = torch.searchsorted(sorted_neg, d_pos.contiguous(), side="right").clamp_max(b - 1)  # [c, K]
    cand = sorted_neg.gather(1, j)  # [c, K] closest negative farther than the positive (inf if none)
    chosen = is_pos & (cand > d_pos) & (cand < d_pos + margin)  # [c, K]
    n_sel = int(chosen.sum())
    totals.denominator += n_sel
    totals.active += n_sel
    if not n_sel:
        return None
    a_loc, slot = chosen.nonzero(as_tuple=True)  # [T]
    p_idx = pos_cols[a_loc, slot]  # [T]
    n_idx = order[a_loc, j[a_loc, slot]]  # [T]
    totals.sum_pos += float(d_pos[a_loc, slot].sum())
    totals.sum_neg += float(cand[a_loc, slot].sum())
    if weights is not None:
        ones = torch.ones(n_sel, dtype=weights.dtype, device=d.device)
        weights.index_put_((a_loc, p_idx), ones, accumulate=True)
        weights.index_put_((a_loc, n_idx), -ones, accumulate=True)
    return (rows[a_loc], p_idx, n_idx) if want else None


def mine_triplets(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    strategy: str = "all",
    margin: float = 0.2,
    squared: bool = False,
) -> Triplets:
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

    Comparisons that the rounding of the fast distances could flip
    (:func:`contrastkit.distances.rounding_tolerance`) are decided from the differences of the
    embeddings, so exact ties in the data are never decided by rounding: a tie d(a, n) = d(a, p) +
    margin is not active. Among tied hardest positives or negatives, torch's ``max``/``min``
    choose. The number of "all" triplets grows like B³:
    mine explicitly only small batches (the loss itself never lists them).

    Args:
        embeddings: [B, D] floating tensor.
        labels: [B] integer class ids.
        strategy: "all", "hard" or "semihard".
        margin: triplet margin, >= 0.
        squared: use squared Euclidean distances.

    Returns:
        A frozen :class:`Triplets` ``(anchors, positives, negatives)``: int64 index tensors [T] each,
        sorted by anchor; ``contrastkit.losses.triplet_loss(embeddings, triplets)`` is their mean loss.

    Raises:
        ValueError: on bad shapes, dtypes, non-finite values or hyperparameters.

    References:
        - [0] FaceNet, Schroff et al. 2015, arXiv:1503.03832
        - [1] In Defense of the Triplet Loss, Hermans et al. 2017, arXiv:1703.07737
    """
    embeddings = check_embeddings("embeddings", embeddings)
    labels = check_labels("labels", labels, embeddings.shape[0])
    check_choice("strategy", strategy, STRATEGIES)
    margin = check_margin("margin", margin)
    x = embeddings.detach().to(compute_dtype(embeddings))
    squared = check_bool("squared", squared)
    check_squared_range("embeddings", x - x.mean(dim=0), squared, x.dtype)
    sel = select_triplets(x, labels.to(x.device), strategy, margin, squared, want_weights=False, want_triplets=True)
    assert sel.triplets is not None
    return sel.triplets


def mine_hard_negatives(embeddings: torch.Tensor, labels: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Offline hard-negative mining: the k nearest other-class samples of every sample.

    An exact search (:func:`contrastkit.distances.nearest_neighbors`, Euclidean, samples of the
    query's own class masked out), in chunks of queries, so a whole data set fits in memory.

    Args:
        embeddings: [N, D] floating tensor.
        labels: [N] integer class ids.
        k: number of negatives per sample, >= 1. Every class must have at least k samples outside it.

    Returns:
        LongTensor [N, k] of indices into ``embeddings``, closest first, on the device of ``embeddings``.

    Raises:
        ValueError: on bad inputs, or when some sample has fewer than k samples of another class.
    """
    embeddings = check_embeddings("embeddings", embeddings)
    labels = check_labels("labels", labels, embeddings.shape[0])
    k = check_positive_int("k", k)
    _, counts = torch.unique(labels, return_counts=True)
    fewest_others = embeddings.shape[0] - int(counts.max())
    if fewest_others < k:
        raise ValueError(
            f"k={k} negatives per sample need at least {k} samples outside every class; "
            f"the largest class leaves only {fewest_others}"
        )
    labels = labels.to(embeddings.device)
    indices, _ = topk_neighbors(embeddings.detach(), embeddings.detach(), k, "euclidean", labels=(labels, labels))
    return indices
