"""Triplet losses: on given triplets, and with online mining inside the batch.

- ``triplet_margin_loss``: fixed (anchor, positive, negative) rows, [1] FaceNet.
- ``triplet_loss``: the mean triplet loss of mined index triplets (``contrastkit.mining.mine_triplets``).
- ``batch_triplet_loss``: mining and loss in one call, batch-all and batch-hard from [2], semi-hard
  from [1]; the same value as ``triplet_loss(embeddings, mine_triplets(...))`` without listing the
  triplets.

References:
    - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832
    - [2] In Defense of the Triplet Loss, Hermans, Beyer, Leibe 2017, arXiv:1703.07737
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from contrastkit._checks import (
    check_bool,
    check_choice,
    check_embeddings,
    check_labels,
    check_margin,
    check_squared_range,
    describe,
)
from contrastkit.distances import chunk_rows, compute_dtype, distance_rows, row_distances
from contrastkit.losses._common import check_pair, full_precision, zero_loss
from contrastkit.mining import STRATEGIES, Triplets, select_triplets

__all__ = [
    "BatchTripletLoss",
    "TripletMarginLoss",
    "TripletStats",
    "batch_triplet_loss",
    "triplet_loss",
    "triplet_margin_loss",
]


@full_precision
def triplet_margin_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 0.2,
    squared: bool = False,
) -> torch.Tensor:
    """Triplet margin loss on given triplets, mean over the B triplets.

    loss = mean_i max(0, d(a_i, p_i) − d(a_i, n_i) + margin), with d the Euclidean distance (or its
    square when ``squared``). Unlike ``torch.nn.functional.triplet_margin_loss`` no epsilon is added to
    the differences; coinciding rows get a zero gradient through d.

    Args:
        anchor: [B, D].
        positive: [B, D], same class as the anchor.
        negative: [B, D], another class.
        margin: >= 0.
        squared: use squared Euclidean distances.

    Returns:
        Scalar loss, dtype of ``anchor``.

    References:
        - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832
    """
    anchor, positive = check_pair("anchor", anchor, "positive", positive)
    anchor, negative = check_pair("anchor", anchor, "negative", negative)
    margin = check_margin("margin", margin)
    work = compute_dtype(anchor)
    a, p, n = anchor.to(work), positive.to(work), negative.to(work)
    squared = check_bool("squared", squared)
    check_squared_range("anchor - positive", a - p, squared, work)
    check_squared_range("anchor - negative", a - n, squared, work)
    d_ap = row_distances(a, p, squared)  # [B]
    d_an = row_distances(a, n, squared)  # [B]
    return F.relu(d_ap - d_an + margin).mean().to(anchor.dtype)


@full_precision
def triplet_loss(
    embeddings: torch.Tensor, triplets: Triplets, margin: float = 0.2, squared: bool = False
) -> torch.Tensor:
    """Mean triplet loss of index triplets, such as those of ``contrastkit.mining.mine_triplets``.

    loss = mean_t max(0, d(a_t, p_t) − d(a_t, n_t) + margin), distances from the row differences.
    No triplets give 0 with a zero gradient.

    Args:
        embeddings: [B, D] floating tensor.
        triplets: ``(anchors, positives, negatives)``, int64 index tensors [T] into ``embeddings``.
        margin: >= 0.
        squared: use squared Euclidean distances.

    Returns:
        Scalar loss, dtype of ``embeddings``.

    References:
        - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832
    """
    embeddings = check_embeddings("embeddings", embeddings)
    margin = check_margin("margin", margin)
    a, p, n = _check_triplets(triplets, embeddings.shape[0])
    if a.numel() == 0:
        return zero_loss(embeddings)
    x = embeddings.to(compute_dtype(embeddings))
    a, p, n = a.to(x.device), p.to(x.device), n.to(x.device)
    squared = check_bool("squared", squared)
    check_squared_range("embeddings", x - x.mean(dim=0), squared, x.dtype)
    hinge = row_distances(x[a], x[p], squared) - row_distances(x[a], x[n], squared) + margin  # [T]
    return F.relu(hinge).mean().to(embeddings.dtype)


def _check_triplets(triplets: object, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not isinstance(triplets, tuple) or len(triplets) != 3:
        raise ValueError(f"triplets must be (anchors, positives, negatives) index tensors, got {describe(triplets)}")
    out = []
    for name, idx in zip(("anchors", "positives", "negatives"), triplets):
        if not isinstance(idx, torch.Tensor) or idx.dim() != 1 or idx.dtype.is_floating_point or idx.dtype.is_complex:
            raise ValueError(f"triplets.{name} must be a 1-D integer tensor, got {describe(idx)}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(f"triplets.{name} must index rows 0..{n - 1} of embeddings, got {describe(idx)}")
        out.append(idx.long())
    if not out[0].shape == out[1].shape == out[2].shape:
        raise ValueError(f"triplets must have three index tensors of one length, got {[t.numel() for t in out]}")
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class TripletStats:
    """Mining statistics of one ``batch_triplet_loss`` call.

    Attributes:
        valid_triplets: valid (a, p, n) triplets in the batch (a ≠ p same class, n another class),
            whatever the strategy.
        active_triplets: triplets selected by the strategy whose loss is > 0.
        active_fraction: active_triplets divided by the triplets the strategy considered: all valid
            triplets ("all"), anchors with a positive and a negative ("hard"), positive pairs of anchors
            that have a negative ("semihard": the fraction of pairs that found a semi-hard negative).
            0.0 when there is nothing to consider.
        mean_pos_distance: mean d(a, p) over the triplets the loss averages (NaN if none).
        mean_neg_distance: mean d(a, n) over the triplets the loss averages (NaN if none).
    """

    valid_triplets: int
    active_triplets: int
    active_fraction: float
    mean_pos_distance: float
    mean_neg_distance: float


def _weighted_distance_sum(x: torch.Tensor, weights: torch.Tensor, squared: bool) -> torch.Tensor:
    """sum_ab weights[a, b] * d(x_a, x_b), a scalar in the dtype of ``x``, differentiable in ``x``.

    Runs over anchor chunks; when there is more than one chunk each is checkpointed, so the autograd
    graph never holds more than one [chunk, B] block of distances.
    """
    b = x.shape[0]
    step = chunk_rows(b)
    x = x - x.mean(dim=0)  # distances are translation invariant; centring reduces rounding in the expansion

    def block(x_: torch.Tensor, w: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        d = distance_rows(x_, start, stop, squared=squared)  # [c, B]
        return (d * w).sum()

    if step >= b:
        return block(x, weights, 0, b)
    total = x.new_zeros(())
    for start in range(0, b, step):
        stop = min(b, start + step)
        w = weights[start:stop]
        if not bool(w.any()):
            continue
        total = total + checkpoint(block, x, w, start, stop, use_reentrant=False)
    return total


@full_precision
def batch_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.2,
    strategy: str = "all",
    squared: bool = False,
    return_stats: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, TripletStats]:
    """Triplet loss with online mining inside the batch.

    A triplet (a, p, n) is valid when a ≠ p, labels[a] = labels[p], labels[n] ≠ labels[a]; its loss is
    max(0, d(a, p) − d(a, n) + margin), d Euclidean (or squared Euclidean when ``squared``).

    - ``"all"`` (batch-all [2]): mean over the valid triplets whose loss is > 0.
    - ``"hard"`` (batch-hard [2]): for each anchor with at least one positive and one negative,
      max(0, max_p d(a, p) − min_n d(a, n) + margin); mean over those anchors.
    - ``"semihard"`` ([1]): for each positive pair (a, p), the closest negative that is farther than
      the positive but within the margin, d(a, p) < d(a, n) < d(a, p) + margin; mean over the pairs
      that have one. Pairs without a semi-hard negative are skipped (no fallback).

    Anchors without a positive are skipped. When nothing is selected (one class only, all singletons,
    B = 1, or no triplet with a positive loss) the loss is 0 with an all-zero gradient.

    The triplets are selected under no_grad by ``contrastkit.mining.select_triplets``
    (``mine_triplets`` returns the same ones, and ``triplet_loss`` of them is this loss); the loss is
    then written as sum(W ⊙ D) / T + margin · active / T, with W a [B, B] weight matrix counting
    how often each distance enters the selected triplets (positive for d(a, p), negative for d(a, n)).
    Batch-all therefore never builds a B×B×B tensor: selection sorts each anchor's negatives and
    counts with binary search, O(B² log B) time and O(B²) memory.

    Args:
        embeddings: [B, D] floating tensor.
        labels: [B] integer class ids.
        margin: >= 0.
        strategy: "all", "hard" or "semihard".
        squared: use squared Euclidean distances.
        return_stats: also return a ``TripletStats``.

    Returns:
        Scalar loss (dtype of ``embeddings``), or ``(loss, stats)`` when ``return_stats``.

    References:
        - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832
        - [2] In Defense of the Triplet Loss, Hermans et al. 2017, arXiv:1703.07737
    """
    embeddings = check_embeddings("embeddings", embeddings)
    labels = check_labels("labels", labels, embeddings.shape[0])
    margin = check_margin("margin", margin)
    check_choice("strategy", strategy, STRATEGIES)
    squared = check_bool("squared", squared)
    x = embeddings.to(compute_dtype(embeddings))
    check_squared_range("embeddings", x - x.mean(dim=0), squared, x.dtype)
    hard = strategy == "hard"
    sel = select_triplets(x, labels.to(x.device), strategy, margin, squared, want_weights=not hard, want_triplets=False)
    active, sum_pos, sum_neg = sel.active, sel.sum_pos, sel.sum_neg
    if hard and sel.denominator > 0:  # batch-hard: one triplet per anchor, measured row by row
        a, p, n = sel.triplets  # type: ignore[misc]
        d_ap, d_an = row_distances(x[a], x[p], squared), row_distances(x[a], x[n], squared)  # [T], [T]
        hinge = d_ap - d_an + margin  # [T]
        loss = F.relu(hinge).mean().to(embeddings.dtype)
        active = int((hinge.detach() > 0).sum())  # exact distances: a tie is not active
        # report the exact (difference-based) distances rather than the ones used for the selection
        sum_pos, sum_neg = float(d_ap.detach().sum()), float(d_an.detach().sum())
    elif active == 0:
        loss = zero_loss(embeddings)
    else:
        total = _weighted_distance_sum(x, sel.weights, squared) + margin * active  # type: ignore[arg-type]
        loss = (total / sel.denominator).to(embeddings.dtype)
    if not return_stats:
        return loss
    nan = float("nan")
    stats = TripletStats(
        valid_triplets=sel.valid,
        active_triplets=active,
        active_fraction=active / sel.considered if sel.considered else 0.0,
        mean_pos_distance=sum_pos / sel.denominator if sel.denominator else nan,
        mean_neg_distance=sum_neg / sel.denominator if sel.denominator else nan,
    )
    return loss, stats


class TripletMarginLoss(nn.Module):
    """Module form of ``triplet_margin_loss``: ``forward(anchor, positive, negative [B, D]) -> scalar``."""

    def __init__(self, margin: float = 0.2, squared: bool = False) -> None:
        super().__init__()
        self.margin = check_margin("margin", margin)
        self.squared = check_bool("squared", squared)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        return triplet_margin_loss(anchor, positive, negative, margin=self.margin, squared=self.squared)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, squared={self.squared}"


class BatchTripletLoss(nn.Module):
    """Module form of ``batch_triplet_loss``: ``forward(embeddings [B, D], labels [B], return_stats=False)``."""

    def __init__(self, margin: float = 0.2, strategy: str = "all", squared: bool = False) -> None:
        super().__init__()
        self.margin = check_margin("margin", margin)
        self.strategy = check_choice("strategy", strategy, STRATEGIES)
        self.squared = check_bool("squared", squared)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, return_stats: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, TripletStats]:
        return batch_triplet_loss(
            embeddings,
            labels,
            margin=self.margin,
            strategy=self.strategy,
            squared=self.squared,
            return_stats=return_stats,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, strategy={self.strategy!r}, squared={self.squared}"
