"""Shared helpers of the metric modules: input checks and chunked similarity scores.

:mod:`contrastkit.evaluate` (kNN accuracy, alignment, uniformity) and :mod:`contrastkit.retrieval`
(retrieval and verification metrics) both import from here. Scores are computed in blocks of at
most ``_BLOCK_ELEMENTS`` query-reference pairs, so the full MNIST (60,000 train × 10,000 test
embeddings) fits in a laptop's memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastkit._checks import check_tensor, describe

__all__ = [
    "METRICS",
    "_check_embeddings",
    "_chunk_rows",
    "_compute_dtype",
    "_prepare",
    "_scores",
]

#: Similarity measures accepted by the neighbour-based metrics.
METRICS = ("cosine", "euclidean")

#: Upper bound on the elements of one [queries, references] score block (64 MiB in float32).
_BLOCK_ELEMENTS = 1 << 24


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------


def _check_embeddings(name: str, emb: object) -> torch.Tensor:
    check_tensor(name, emb, ndim=2, min_rows=1)
    if emb.shape[1] < 1:  # type: ignore[union-attr]
        raise ValueError(f"{name} must have at least one feature column, got {describe(emb)}")
    return emb  # type: ignore[return-value]


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _prepare(emb: torch.Tensor, metric: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Cast and, for cosine, L2-normalise rows (an all-zero row stays zero: similarity 0 to all)."""
    emb = emb.to(device=device, dtype=dtype)
    return F.normalize(emb, dim=1) if metric == "cosine" else emb


def _scores(queries: torch.Tensor, refs: torch.Tensor, metric: str, ref_sq: torch.Tensor | None) -> torch.Tensor:
    """Closeness scores [Q, N]: larger means nearer (cosine similarity, or minus squared distance)."""
    sim = queries @ refs.T  # [Q, N]
    if metric == "cosine":
        return sim
    q_sq = (queries * queries).sum(1, keepdim=True)  # [Q, 1]
    return 2 * sim - q_sq - ref_sq  # [Q, N] = -||q - r||^2


def _chunk_rows(n_refs: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(n_refs, 1))
