"""Retrieval and verification metrics of an embedding.

- Precision@1, R-precision and MAP@R: leave-one-out retrieval within one labelled set, with the
  definitions of Musgrave et al. [0]. :func:`retrieval_metrics` computes all three in one pass
  (queries in chunks, so 10,000 test embeddings need only a few tens of MiB at a time);
  :func:`precision_at_1`, :func:`r_precision` and :func:`map_at_r` return one of them.
- Verification ROC (:func:`verification_roc`): AUC, equal error rate and the best distance
  threshold for "same or different?", on pairs such as those drawn by
  :func:`sample_verification_pairs`.

Every function validates its inputs up front (``ValueError`` with a message saying what was
expected); ``evaluate_embeddings`` reports them together with the other metrics.

References:
    - [0] A Metric Learning Reality Check, Musgrave, Belongie, Lim 2020, arXiv:2003.08505
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from contrastkit._checks import (
    check_choice,
    check_embeddings,
    check_int,
    check_labels,
    check_positive_int,
    check_tensor,
    describe,
)
from contrastkit.distances import METRICS
from contrastkit.evaluate._kernels import retrieval_means

__all__ = [
    "RetrievalResult",
    "VerificationResult",
    "map_at_r",
    "precision_at_1",
    "r_precision",
    "retrieval_metrics",
    "sample_verification_pairs",
    "verification_roc",
]


# ----------------------------------------------------------------------------------------------
# Retrieval metrics (Musgrave et al. 2020)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievalResult:
    """Leave-one-out retrieval metrics of one labelled set.

    Attributes:
        precision_at_1: fraction of queries whose nearest other sample shares their label.
        r_precision: mean over queries of (same-label samples among the R nearest) / R.
        map_at_r: mean over queries of (1/R) Σ_{i<=R} P(i)·rel(i).
        n_queries: queries used (those whose label occurs at least twice).
    """

    precision_at_1: float
    r_precision: float
    map_at_r: float
    n_queries: int


def retrieval_metrics(emb: torch.Tensor, labels: torch.Tensor, metric: str = "cosine") -> RetrievalResult:
    """Precision@1, R-precision and MAP@R in one pass (definitions of Musgrave et al. 2020).

    Every sample is a query against all the *other* samples of the same set (leave-one-out). For a
    query, R is the number of other samples with its label; the R nearest others are ranked, rel(i)
    is 1 when the i-th nearest shares the label, and P(i) is the precision among the first i.

    - Precision@1 = rel(1).
    - R-precision = (1/R) Σ_{i<=R} rel(i).
    - MAP@R = (1/R) Σ_{i<=R} P(i)·rel(i): like R-precision, but rewarding correct neighbours that
      come first.

    Each is averaged over queries. Queries with R = 0 (a label seen once) are skipped by all three.
    Exact distance ties are ordered arbitrarily.

    - [0] A Metric Learning Reality Check, Musgrave, Belongie, Lim 2020, arXiv:2003.08505

    Args:
        emb: embeddings [N, D].
        labels: integer labels [N].
        metric: "cosine" or "euclidean".

    Returns:
        A ``RetrievalResult``.
    """
    check_embeddings("emb", emb)
    labels = check_labels("labels", labels, emb.shape[0])
    check_choice("metric", metric, METRICS)
    return RetrievalResult(*retrieval_means(emb, labels, metric))


def precision_at_1(emb: torch.Tensor, labels: torch.Tensor, metric: str = "cosine") -> float:
    """Leave-one-out Precision@1 of ``emb`` [N, D] with labels [N] (see ``retrieval_metrics``)."""
    return retrieval_metrics(emb, labels, metric).precision_at_1


def map_at_r(emb: torch.Tensor, labels: torch.Tensor, metric: str = "cosine") -> float:
    """Leave-one-out MAP@R of ``emb`` [N, D] with labels [N] (see ``retrieval_metrics``)."""
    return retrieval_metrics(emb, labels, metric).map_at_r


def r_precision(emb: torch.Tensor, labels: torch.Tensor, metric: str = "cosine") -> float:
    """Leave-one-out R-precision of ``emb`` [N, D] with labels [N] (see ``retrieval_metrics``)."""
    return retrieval_metrics(emb, labels, metric).r_precision


# ----------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    """ROC analysis of "same or different?" decisions from pair distances.

    Attributes:
        auc: area under the ROC curve (1 = every same pair is closer than every different pair).
        eer: equal error rate, where false-positive rate = false-negative rate (interpolated).
        threshold: the distance threshold with the best accuracy when predicting "same" for d <= threshold.
        accuracy: that best accuracy.
        fpr: false-positive rates [T], increasing.
        tpr: true-positive rates [T].
        thresholds: distance thresholds [T], increasing (the first, -inf, predicts "different" for all).
    """

    auc: float
    eer: float
    threshold: float
    accuracy: float
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


def verification_roc(distances: torch.Tensor | np.ndarray, same: torch.Tensor | np.ndarray) -> VerificationResult:
    """ROC curve, AUC, EER and best threshold for pair verification; a smaller distance means "same".

    Args:
        distances: distances of the pairs [P].
        same: whether each pair shares a label [P] (bool or 0/1); both kinds must occur.

    Returns:
        A ``VerificationResult``.
    """
    distances = torch.as_tensor(distances) if isinstance(distances, np.ndarray) else distances
    same = torch.as_tensor(same) if isinstance(same, np.ndarray) else same
    check_tensor("distances", distances, ndim=1, min_rows=1)
    same = check_labels("same", same, distances.shape[0])
    if bool(((same != 0) & (same != 1)).any()):
        raise ValueError(f"same must hold only 0/1 (or False/True), got values {torch.unique(same).tolist()[:10]}")
    n_pos = int(same.sum())
    n_neg = same.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"same must contain both same (1) and different (0) pairs, got {n_pos} and {n_neg}")

    y = same.cpu().numpy()
    score = -distances.detach().cpu().double().numpy()  # larger score = more likely "same"
    fpr, tpr, score_thresholds = roc_curve(y, score, drop_intermediate=False)
    auc = float(roc_auc_score(y, score))
    accuracy = (tpr * n_pos + (1.0 - fpr) * n_neg) / (n_pos + n_neg)  # [T]
    best = int(np.argmax(accuracy))
    thresholds = -score_thresholds  # score >= s  <=>  distance <= -s
    return VerificationResult(
        auc=auc,
        eer=_equal_error_rate(fpr, tpr),
        threshold=float(thresholds[best]),
        accuracy=float(accuracy[best]),
        fpr=fpr,
        tpr=tpr,
        thresholds=thresholds,
    )


def _equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Rate where FPR = FNR, linearly interpolated between the two ROC points that bracket it."""
    gap = fpr - (1.0 - tpr)  # [T] increasing from -1 (fpr 0, fnr 1) to +1
    i = int(np.argmax(gap >= 0))
    if gap[i] == 0 or i == 0:
        return float(fpr[i])
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def sample_verification_pairs(
    labels: torch.Tensor, n_pairs: int = 2000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw a fixed, balanced set of same-label and different-label index pairs.

    Half the pairs (rounded up) share a label: a uniformly random first sample whose label occurs
    at least twice, and a different sample with its label. The other half pair a uniformly random
    sample with a sample of another label. Pairs may repeat. Same ``seed``, same pairs.

    Args:
        labels: integer labels [N]; needs a label occurring twice and at least two labels.
        n_pairs: number of pairs, at least 2.
        seed: seed of the draw.

    Returns:
        ``(i, j, same)``: int64 indices [P] and [P], and bool [P] (first the same pairs, then the
        different ones).
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D integer torch.Tensor, got {describe(labels)}")
    labels = check_labels("labels", labels, labels.shape[0]).cpu()
    check_positive_int("n_pairs", n_pairs, minimum=2)
    check_int("seed", seed)
    _, label_id, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    if counts.shape[0] < 2 or int(counts.max()) < 2:
        raise ValueError(
            f"verification pairs need at least two labels and one label occurring twice, got counts {counts.tolist()}"
        )
    order = torch.argsort(label_id, stable=True)  # [N] samples grouped by label
    starts = torch.cumsum(counts, 0) - counts  # [C] first position of each label in ``order``
    position = torch.empty_like(order)
    position[order] = torch.arange(order.shape[0])  # [N] position of each sample in ``order``
    generator = torch.Generator().manual_seed(seed)
    n_same = (n_pairs + 1) // 2
    n_diff = n_pairs - n_same

    eligible = torch.nonzero(counts[label_id] >= 2).squeeze(1)  # [E]
    a = eligible[torch.randint(eligible.shape[0], (n_same,), generator=generator)]  # [S]
    c = label_id[a]
    offset = (torch.rand(n_same, generator=generator, dtype=torch.float64) * (counts[c] - 1)).long()  # [S]
    offset = offset + (offset >= position[a] - starts[c]).long()  # skip the anchor itself
    b = order[starts[c] + offset]  # [S]

    u = torch.randint(labels.shape[0], (n_diff,), generator=generator)  # [S']
    cu = label_id[u]
    others = labels.shape[0] - counts[cu]  # [S'] samples with another label
    pick = (torch.rand(n_diff, generator=generator, dtype=torch.float64) * others).long()  # [S']
    pick = pick + (pick >= starts[cu]).long() * counts[cu]  # skip the block of the anchor's label
    v = order[pick]  # [S']

    i = torch.cat([a, u])
    j = torch.cat([b, v])
    same = torch.cat([torch.ones(n_same, dtype=torch.bool), torch.zeros(n_diff, dtype=torch.bool)])
    return i, j, same
