"""Measure how good an embedding is: kNN, linear probe, retrieval, verification, alignment/uniformity.

Every function takes plain tensors (``embed`` turns a model and images into them), validates its
inputs once, and works in chunks (:mod:`contrastkit.distances`) so that the full MNIST (60,000 train
× 10,000 test embeddings) fits in a laptop's memory.

- :mod:`~contrastkit.evaluate.embedding`: ``embed`` (a frozen model over images, in batches).
- :mod:`~contrastkit.evaluate.classification`: kNN accuracy (majority vote among the k nearest
  training embeddings) and the linear probe (logistic regression on frozen, standardised features).
- :mod:`~contrastkit.evaluate.retrieval`: Precision@1, R-precision and MAP@R (leave-one-out within
  one set, [0] Musgrave, Belongie, Lim 2020, arXiv:2003.08505); the verification ROC (AUC, equal
  error rate, best distance threshold for "same or different?").
- :mod:`~contrastkit.evaluate.geometry`: alignment and uniformity of L2-normalised embeddings,
  [1] Wang and Isola 2020, arXiv:2005.10242.
- :mod:`~contrastkit.evaluate.summary`: ``evaluate_embeddings``, all of them at once.
"""

from contrastkit.distances import METRICS
from contrastkit.evaluate.classification import knn_accuracy, linear_probe_accuracy
from contrastkit.evaluate.embedding import embed
from contrastkit.evaluate.geometry import alignment, uniformity
from contrastkit.evaluate.retrieval import (
    RetrievalResult,
    VerificationResult,
    map_at_r,
    precision_at_1,
    r_precision,
    retrieval_metrics,
    sample_verification_pairs,
    verification_roc,
)
from contrastkit.evaluate.summary import METRIC_KEYS, evaluate_embeddings

__all__ = [
    "METRICS",
    "METRIC_KEYS",
    "RetrievalResult",
    "VerificationResult",
    "alignment",
    "embed",
    "evaluate_embeddings",
    "knn_accuracy",
    "linear_probe_accuracy",
    "map_at_r",
    "precision_at_1",
    "r_precision",
    "retrieval_metrics",
    "sample_verification_pairs",
    "uniformity",
    "verification_roc",
]
