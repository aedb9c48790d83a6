"""Every metric of an embedding at once: what the leaderboards and run directories report."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastkit._checks import (
    check_bool,
    check_int,
)
from contrastkit.distances import compute_dtype
from contrastkit.evaluate._kernels import fit_linear, knn_correct, log_mean_potential, mean_alignment, retrieval_means
from contrastkit.evaluate.classification import check_knn_inputs
from contrastkit.evaluate.retrieval import sample_verification_pairs, verification_roc

__all__ = ["METRIC_KEYS", "evaluate_embeddings"]

#: The keys of ``evaluate_embeddings``'s result, in a fixed order (``linear_probe_accuracy`` only with the probe).
METRIC_KEYS = (
    "knn_accuracy",
    "linear_probe_accuracy",
    "precision_at_1",
    "map_at_r",
    "r_precision",
    "verification_auc",
    "verification_eer",
    "alignment",
    "uniformity",
)


def evaluate_embeddings(
    train_emb: torch.Tensor,
    train_labels: torch.Tensor,
    test_emb: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    k: int = 5,
    seed: int = 0,
    linear_probe: bool = True,
) -> dict[str, float]:
    """All the metrics of this module for one embedding, as a flat dict.

    - ``knn_accuracy``: cosine kNN with ``k`` neighbours, train as references, test as queries.
    - ``linear_probe_accuracy`` (only when ``linear_probe``): linear layer on standardised train
      features, scored on test.
    - ``precision_at_1``, ``map_at_r``, ``r_precision``: leave-one-out within the test set, cosine.
    - ``verification_auc``, ``verification_eer``: on 2,000 balanced same/different test pairs
      drawn with ``seed`` (``sample_verification_pairs``), cosine distance 1 - cos.
    - ``alignment``: over the same-label pairs among those; for labelled data a positive pair is
      two samples of one class.
    - ``uniformity``: over the test embeddings (subsampled to 5,000 with ``seed``).

    Args:
        train_emb: training embeddings [N, D].
        train_labels: integer labels [N].
        test_emb: test embeddings [M, D].
        test_labels: integer labels [M].
        k: neighbours for kNN.
        seed: seed of the verification pairs, the uniformity subsample and the probe's shuffling.
        linear_probe: whether to train the linear probe (the slowest part, about a second).

    Returns:
        ``dict[str, float]`` with the keys above.
    """
    check_bool("linear_probe", linear_probe)
    check_int("seed", seed)
    train_labels, test_labels = check_knn_inputs(train_emb, train_labels, test_emb, test_labels, k)

    correct = knn_correct(train_emb, train_labels, test_emb, test_labels, k, "cosine")
    results: dict[str, float] = {"knn_accuracy": correct / test_emb.shape[0]}
    if linear_probe:
        results["linear_probe_accuracy"] = fit_linear(
            train_emb.float(), train_labels, test_emb.float(), test_labels, train_emb.device, seed
        )
    p1, rp, map_r, _ = retrieval_means(test_emb, test_labels, "cosine")
    results["precision_at_1"] = p1
    results["map_at_r"] = map_r
    results["r_precision"] = rp

    i, j, same = sample_verification_pairs(test_labels, n_pairs=2000, seed=seed)
    z = F.normalize(test_emb.to(compute_dtype(test_emb)), dim=1)  # [M, D]
    i, j = i.to(z.device), j.to(z.device)
    distances = 1.0 - (z[i] * z[j]).sum(1)  # [P] cosine distance
    roc = verification_roc(distances, same)
    results["verification_auc"] = roc.auc
    results["verification_eer"] = roc.eer
    same_dev = same.to(z.device)
    results["alignment"] = mean_alignment(z[i[same_dev]], z[j[same_dev]], 2.0)
    results["uniformity"] = log_mean_potential(test_emb, 2.0, 5000, seed)
    return results
