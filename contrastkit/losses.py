"""Contrastive and metric-learning losses: exact, numerically stable, and lean in memory.

Each loss is a typed pure function plus a thin ``nn.Module`` that stores the hyperparameters. All
return a scalar (0-dim) tensor. Inputs are validated up front (``ValueError`` saying what was expected
and what came). float16 and bfloat16 inputs are computed in float32 internally (so that a temperature
of 0.01 or a large batch cannot overflow) and the loss is returned in the input dtype.

Losses and their papers:

- ``contrastive_loss``: pair loss, [0] Hadsell, Chopra, LeCun 2006 (DOI 10.1109/CVPR.2006.100).
- ``triplet_margin_loss``: fixed triplets, [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832.
- ``batch_triplet_loss``: online mining, batch-all and batch-hard from [2] Hermans, Beyer, Leibe 2017,
  arXiv:1703.07737; semi-hard from [1].
- ``nt_xent_loss``: [3] SimCLR, Chen et al. 2020, arXiv:2002.05709.
- ``supcon_loss``: L_out of [4] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362.

Batches without anything to learn from (no positive pair, no valid triplet) give a loss of exactly 0
whose gradient is all zeros, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from contrastkit._checks import (
    check_choice,
    check_labels,
    check_nonnegative,
    check_positive,
    check_same_shape,
    check_tensor,
    describe,
)
from contrastkit.mining import (
    STRATEGIES,
    chunk_rows,
    compute_dtype,
    distance_rows,
    select_triplets,
)

__all__ = [
    "CONTRASTIVE_VARIANTS",
    "BatchTripletLoss",
    "ContrastiveLoss",
    "NTXentLoss",
    "SupConLoss",
    "TripletMarginLoss",
    "TripletStats",
    "batch_triplet_loss",
    "contrastive_loss",
    "nt_xent_loss",
    "supcon_loss",
    "triplet_margin_loss",
]

#: Forms of the pair loss understood by ``contrastive_loss``.
CONTRASTIVE_VARIANTS = ("hadsell", "squared")


def _check_matrix(name: str, x: object) -> torch.Tensor:
    x = check_tensor(name, x, ndim=2, min_rows=1)
    if x.shape[1] < 1:
        raise ValueError(f"{name} needs at least one feature column, got shape {tuple(x.shape)}")
    return x


def _zero(*tensors: torch.Tensor) -> torch.Tensor:
    """A scalar 0 connected to the inputs, so that backward() works and gives zero gradients."""
    total = sum(t.sum() for t in tensors)
    return total * 0  # type: ignore[return-value]


def _row_distances(a: torch.Tensor, b: torch.Tensor, squared: bool) -> torch.Tensor:
    """Row-wise Euclidean (or squared) distances [B] of [B, D] tensors, with zero gradient at d = 0."""
    d2 = ((a - b) ** 2).sum(dim=1)  # [B]
    if squared:
        return d2
    tiny = torch.finfo(d2.dtype).tiny
    return torch.where(d2 > 0, d2.clamp_min(tiny).sqrt(), torch.zeros_like(d2))


# ------------------------------------------------------------------------------------------------
# Pair and fixed-triplet losses
# ------------------------------------------------------------------------------------------------


def contrastive_loss(
    x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor, margin: float = 1.0, variant: str = "hadsell"
) -> torch.Tensor:
    """Contrastive pair loss, mean over the B pairs.

    With d = ||x1 − x2|| (Euclidean) and ``same`` = 1 for a pair of the same class, 0 otherwise:

    - ``variant="hadsell"`` [0]: same·d² + (1 − same)·max(0, margin − d)²
    - ``variant="squared"``: same·d² + (1 − same)·max(0, margin − d²), the form many tutorials print.

    Label convention: here 1 means *similar*. Hadsell et al. write Y = 0 for similar pairs and put a
    factor ½ in front of both terms; the ½ is left out here (it only rescales the gradient).
    When a dissimilar pair coincides (d = 0) its gradient is taken as 0 (the direction is undefined).

    Args:
        x1: embeddings of the first items [B, D].
        x2: embeddings of the second items [B, D].
        same: [B] bool, integer or floating tensor of 0/1 values.
        margin: distance beyond which dissimilar pairs cost nothing, >= 0.
        variant: "hadsell" or "squared".

    Returns:
        Scalar loss, dtype of ``x1``.

    References:
        - [0] Dimensionality Reduction by Learning an Invariant Mapping, Hadsell, Chopra, LeCun 2006.
    """
    x1 = _check_matrix("x1", x1)
    x2 = _check_matrix("x2", x2)
    check_same_shape("x1", x1, "x2", x2)
    if x1.dtype != x2.dtype:
        raise ValueError(f"x1 and x2 must have the same dtype, got {x1.dtype} and {x2.dtype}")
    same = _check_same(same, x1.shape[0])
    margin = check_nonnegative("margin", margin)
    check_choice("variant", variant, CONTRASTIVE_VARIANTS)
    work = compute_dtype(x1.dtype)
    a, b = x1.to(work), x2.to(work)
    s = same.to(device=a.device, dtype=work)  # [B]
    d2 = ((a - b) ** 2).sum(dim=1)  # [B]
    if variant == "hadsell":
        tiny = torch.finfo(work).tiny
        d = torch.where(d2 > 0, d2.clamp_min(tiny).sqrt(), torch.zeros_like(d2))  # [B]
        dissimilar = F.relu(margin - d) ** 2
    else:
        dissimilar = F.relu(margin - d2)
    loss = (s * d2 + (1 - s) * dissimilar).mean()
    return loss.to(x1.dtype)


def _check_same(same: object, n: int) -> torch.Tensor:
    if not isinstance(same, torch.Tensor):
        raise ValueError(f"same must be a [{n}] tensor of 0/1 (or bool) values, got {describe(same)}")
    if same.dim() != 1 or same.shape[0] != n:
        raise ValueError(f"same must have shape [{n}], got {describe(same)}")
    if same.dtype == torch.bool:
        return same
    if same.dtype.is_complex:
        raise ValueError(f"same must hold 0/1 values, got {describe(same)}")
    if not bool(((same == 0) | (same == 1)).all()):
        raise ValueError(f"same must hold only 0/1 values (1 = same class), got {describe(same)}")
    return same


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
    anchor = _check_matrix("anchor", anchor)
    positive = _check_matrix("positive", positive)
    negative = _check_matrix("negative", negative)
    check_same_shape("anchor", anchor, "positive", positive)
    check_same_shape("anchor", anchor, "negative", negative)
    if not anchor.dtype == positive.dtype == negative.dtype:
        raise ValueError(
            f"anchor, positive and negative must share a dtype, got {anchor.dtype}, {positive.dtype}, {negative.dtype}"
        )
    margin = check_nonnegative("margin", margin)
    work = compute_dtype(anchor.dtype)
    a, p, n = anchor.to(work), positive.to(work), negative.to(work)
    d_ap = _row_distances(a, p, bool(squared))  # [B]
    d_an = _row_distances(a, n, bool(squared))  # [B]
    return F.relu(d_ap - d_an + margin).mean().to(anchor.dtype)


# ------------------------------------------------------------------------------------------------
# Online triplet mining loss
# ------------------------------------------------------------------------------------------------


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
    """sum_ab weights[a, b] * d(x_a, x_b) as a float64 scalar, differentiable in ``x``.

    Runs over anchor chunks; when there is more than one chunk each is checkpointed, so the autograd
    graph never holds more than one [chunk, B] block of distances.
    """
    b = x.shape[0]
    step = chunk_rows(b)
    x = x - x.mean(dim=0)  # distances are translation invariant; centring reduces rounding in the expansion

    def block(x_: torch.Tensor, w: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        d = distance_rows(x_, start, stop, squared=squared)  # [c, B]
        return (d * w).sum().double()

    if step >= b:
        return block(x, weights, 0, b)
    total = x.new_zeros((), dtype=torch.float64)
    for start in range(0, b, step):
        stop = min(b, start + step)
        w = weights[start:stop]
        if not bool(w.any()):
            continue
        total = total + checkpoint(block, x, w, start, stop, use_reentrant=False)
    return total


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

    The triplets are selected under no_grad by ``contrastkit.mining`` (``mine_triplets`` returns the
    same ones) and the loss is written as sum(W ⊙ D) / T + margin · active / T, with W a [B, B] weight
    matrix counting how often each distance enters the selected triplets (positive for d(a, p), negative
    for d(a, n)). Batch-all therefore never builds a B×B×B tensor: selection sorts each anchor's
    negatives and counts with binary search, O(B² log B) time and O(B²) memory.

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
    embeddings = _check_matrix("embeddings", embeddings)
    labels = check_labels("labels", labels, embeddings.shape[0])
    margin = check_nonnegative("margin", margin)
    check_choice("strategy", strategy, STRATEGIES)
    squared = bool(squared)
    x = embeddings.to(compute_dtype(embeddings.dtype))
    hard = strategy == "hard"
    sel = select_triplets(x, labels.to(x.device), strategy, margin, squared, want_weights=not hard, want_triplets=hard)
    if sel.triplets is not None and sel.denominator > 0:  # batch-hard: one triplet per anchor, row by row
        a, p, n = sel.triplets
        d_ap, d_an = _row_distances(x[a], x[p], squared), _row_distances(x[a], x[n], squared)  # [T], [T]
        hinge = d_ap - d_an + margin  # [T]
        loss = F.relu(hinge).mean().to(embeddings.dtype)
        sel.active = int((hinge.detach() > 0).sum())
        # report the exact (difference-based) distances rather than the ones used for the selection
        sel.sum_pos, sel.sum_neg = float(d_ap.detach().double().sum()), float(d_an.detach().double().sum())
    elif sel.active == 0:
        loss = _zero(embeddings)
    else:
        assert sel.weights is not None
        total = _weighted_distance_sum(x, sel.weights, squared) + margin * sel.active  # float64
        loss = (total / sel.denominator).to(embeddings.dtype)
    if not return_stats:
        return loss
    if strategy == "all":
        considered = sel.valid
    elif strategy == "hard":
        considered = sel.denominator
    else:
        considered = _pairs_with_negative(labels)
    nan = float("nan")
    stats = TripletStats(
        valid_triplets=sel.valid,
        active_triplets=sel.active,
        active_fraction=sel.active / considered if considered else 0.0,
        mean_pos_distance=sel.sum_pos / sel.denominator if sel.denominator else nan,
        mean_neg_distance=sel.sum_neg / sel.denominator if sel.denominator else nan,
    )
    return loss, stats


def _pairs_with_negative(labels: torch.Tensor) -> int:
    """Number of ordered positive pairs (a, p), a ≠ p, whose anchor has at least one negative."""
    _, counts = torch.unique(labels, return_counts=True)
    n = labels.numel()
    counts = counts[counts < n]
    return int((counts * (counts - 1)).sum())


# ------------------------------------------------------------------------------------------------
# Softmax-based contrastive losses
# ------------------------------------------------------------------------------------------------


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent (normalised temperature-scaled cross entropy), the SimCLR loss [3].

    The 2N rows z = [z1; z2] are L2-normalised; s_ij = z_i·z_j / temperature. Anchor i's positive is
    the other view of the same sample (i ± N) and its 2N − 2 negatives are all other rows but itself:

        loss = mean_i −log( exp(s_i,pos(i)) / sum_{k ≠ i} exp(s_ik) )

    computed as a cross entropy over the [2N, 2N] similarity matrix with the diagonal set to −inf (no
    magic constants). Identical embeddings give log(2N − 1). N = 1 gives 0 (no negatives).

    Args:
        z1: first views [N, D].
        z2: second views [N, D].
        temperature: > 0.

    Returns:
        Scalar loss in the dtype of ``z1`` (computed in float32 for float16/bfloat16).

    References:
        - [3] SimCLR, Chen et al. 2020, arXiv:2002.05709
    """
    z1 = _check_matrix("z1", z1)
    z2 = _check_matrix("z2", z2)
    check_same_shape("z1", z1, "z2", z2)
    if z1.dtype != z2.dtype:
        raise ValueError(f"z1 and z2 must have the same dtype, got {z1.dtype} and {z2.dtype}")
    temperature = check_positive("temperature", temperature)
    n = z1.shape[0]
    work = compute_dtype(z1.dtype)
    z = F.normalize(torch.cat([z1, z2]).to(work), dim=1)  # [2N, D]
    logits = (z @ z.T) / temperature  # [2N, 2N]
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # [2N] index of the other view
    return F.cross_entropy(logits, targets).to(z1.dtype)


def supcon_loss(features: torch.Tensor, labels: torch.Tensor | None = None, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss L_out [4].

    The B·V rows (every view of every sample) are L2-normalised; s_ij = z_i·z_j / temperature. For an
    anchor i with positives P(i) (all other rows with its label; with ``labels=None``, the other views
    of the same sample) and A(i) = every row but i:

        loss_i = −1/|P(i)| · sum_{p in P(i)} ( s_ip − log sum_{a in A(i)} exp(s_ia) )

    The loss is the mean of loss_i over anchors with |P(i)| ≥ 1; no base-temperature rescaling. With
    V = 2 and ``labels=None`` it equals ``nt_xent_loss(features[:, 0], features[:, 1])``. When no anchor
    has a positive (V = 1 and all labels distinct, or B·V = 1) the loss is 0 with a zero gradient.

    Args:
        features: [B, V, D] with V views per sample.
        labels: [B] integer class ids, or None for self-supervised positives.
        temperature: > 0.

    Returns:
        Scalar loss in the dtype of ``features`` (computed in float32 for float16/bfloat16).

    References:
        - [4] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
    """
    features = check_tensor("features", features, ndim=3, min_rows=1)
    b, v, dim = features.shape
    if v < 1 or dim < 1:
        raise ValueError(f"features must have shape [B, V, D] with V >= 1 and D >= 1, got {describe(features)}")
    ids = torch.arange(b) if labels is None else check_labels("labels", labels, b)
    temperature = check_positive("temperature", temperature)
    work = compute_dtype(features.dtype)
    z = F.normalize(features.to(work).transpose(0, 1).reshape(v * b, dim), dim=1)  # [VB, D] view-major
    _, inv = torch.unique(ids.to(z.device), return_inverse=True)  # [B] class index of each sample
    inv = inv.repeat(v)  # [VB]
    n_pos = torch.bincount(inv)[inv] - 1  # [VB] positives of each anchor (same class, not itself)
    has = n_pos > 0
    if not bool(has.any()):
        return _zero(features)
    # sum_p s_ip = z_i . (sum of its class's rows - z_i) / t: O(VB·D) instead of a [VB, VB] mask;
    # accumulated in float64 so the subtraction loses nothing
    z64 = z.double()
    class_sums = torch.zeros(int(inv.max()) + 1, dim, dtype=torch.float64, device=z.device).index_add_(0, inv, z64)
    pos_sum = (((class_sums[inv] - z64) * z64).sum(dim=1) / temperature).to(work)  # [VB]
    logits = (z @ z.T) / temperature  # [VB, VB]
    logits.fill_diagonal_(float("-inf"))  # an anchor is not in its own denominator
    log_denominator = torch.logsumexp(logits, dim=1)  # [VB]
    per_anchor = log_denominator[has] - pos_sum[has] / n_pos[has]  # [anchors with a positive]
    return per_anchor.mean().to(features.dtype)


# ------------------------------------------------------------------------------------------------
# Modules
# ------------------------------------------------------------------------------------------------


class ContrastiveLoss(nn.Module):
    """Module form of ``contrastive_loss``: ``forward(x1 [B, D], x2 [B, D], same [B]) -> scalar``."""

    def __init__(self, margin: float = 1.0, variant: str = "hadsell") -> None:
        super().__init__()
        self.margin = check_nonnegative("margin", margin)
        self.variant = check_choice("variant", variant, CONTRASTIVE_VARIANTS)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        return contrastive_loss(x1, x2, same, margin=self.margin, variant=self.variant)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, variant={self.variant!r}"


class TripletMarginLoss(nn.Module):
    """Module form of ``triplet_margin_loss``: ``forward(anchor, positive, negative [B, D]) -> scalar``."""

    def __init__(self, margin: float = 0.2, squared: bool = False) -> None:
        super().__init__()
        self.margin = check_nonnegative("margin", margin)
        self.squared = bool(squared)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        return triplet_margin_loss(anchor, positive, negative, margin=self.margin, squared=self.squared)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, squared={self.squared}"


class BatchTripletLoss(nn.Module):
    """Module form of ``batch_triplet_loss``: ``forward(embeddings [B, D], labels [B], return_stats=False)``."""

    def __init__(self, margin: float = 0.2, strategy: str = "all", squared: bool = False) -> None:
        super().__init__()
        self.margin = check_nonnegative("margin", margin)
        self.strategy = check_choice("strategy", strategy, STRATEGIES)
        self.squared = bool(squared)

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


class NTXentLoss(nn.Module):
    """Module form of ``nt_xent_loss``: ``forward(z1 [N, D], z2 [N, D]) -> scalar``."""

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = check_positive("temperature", temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z1, z2, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class SupConLoss(nn.Module):
    """Module form of ``supcon_loss``: ``forward(features [B, V, D], labels [B] | None = None) -> scalar``."""

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = check_positive("temperature", temperature)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return supcon_loss(features, labels, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
