"""The supervised contrastive loss SupCon.

References:
    - [4] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
"""

from __future__ import annotations

import torch
from torch import nn

from contrastkit._checks import check_labels, check_temperature, check_tensor, describe
from contrastkit.distances import compute_dtype, normalize_rows
from contrastkit.losses._common import full_precision, zero_loss

__all__ = ["SupConLoss", "supcon_loss"]


@full_precision
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
    temperature = check_temperature("temperature", temperature)
    work = compute_dtype(features)
    z = normalize_rows(features.to(work).transpose(0, 1).reshape(v * b, dim))  # [VB, D] view-major
    _, inv = torch.unique(ids.to(z.device), return_inverse=True)  # [B] class index of each sample
    inv = inv.repeat(v)  # [VB]
    n_pos = torch.bincount(inv)[inv] - 1  # [VB] positives of each anchor (same class, not itself)
    has = n_pos > 0
    if not bool(has.any()):
        return zero_loss(features)
    # sum_p s_ip = z_i . (sum of its class's rows - z_i) / t: O(VB·D) instead of a [VB, VB] mask, in the
    # compute dtype (no float64 on the device: MPS has none); its rounding is that of the masked sum
    class_sums = z.new_zeros(int(inv.max()) + 1, dim).index_add_(0, inv, z)  # [C, D]
    pos_sum = ((class_sums[inv] - z) * z).sum(dim=1) / temperature  # [VB]
    logits = (z @ z.T) / temperature  # [VB, VB]
    logits.fill_diagonal_(float("-inf"))  # an anchor is not in its own denominator
    log_denominator = torch.logsumexp(logits, dim=1)  # [VB]
    per_anchor = log_denominator[has] - pos_sum[has] / n_pos[has]  # [anchors with a positive]
    return per_anchor.mean().to(features.dtype)


class SupConLoss(nn.Module):
    """Module form of ``supcon_loss``: ``forward(features [B, V, D], labels [B] | None = None) -> scalar``."""

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = check_temperature("temperature", temperature)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return supcon_loss(features, labels, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
