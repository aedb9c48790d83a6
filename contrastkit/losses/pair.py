"""The contrastive pair loss of Siamese networks.

References:
    - [0] Dimensionality Reduction by Learning an Invariant Mapping, Hadsell, Chopra, LeCun 2006
      (DOI 10.1109/CVPR.2006.100).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastkit._checks import check_choice, check_margin, check_squared_range, describe
from contrastkit.distances import compute_dtype, row_distances
from contrastkit.losses._common import check_pair, full_precision

__all__ = ["CONTRASTIVE_VARIANTS", "ContrastiveLoss", "contrastive_loss"]

#: Forms of the pair loss understood by ``contrastive_loss``.
CONTRASTIVE_VARIANTS = ("hadsell", "squared")


@full_precision
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
    x1, x2 = check_pair("x1", x1, "x2", x2)
    same = _check_same(same, x1.shape[0])
    margin = check_margin("margin", margin)
    check_choice("variant", variant, CONTRASTIVE_VARIANTS)
    work = compute_dtype(x1)
    a, b = x1.to(work), x2.to(work)
    check_squared_range("x1 - x2", a - b, True, work)  # both variants square the distances
    s = same.to(device=a.device, dtype=work)  # [B]
    d2 = row_distances(a, b, squared=True)  # [B]
    if variant == "hadsell":
        dissimilar = F.relu(margin - row_distances(a, b)) ** 2  # [B]
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


class ContrastiveLoss(nn.Module):
    """Module form of ``contrastive_loss``: ``forward(x1 [B, D], x2 [B, D], same [B]) -> scalar``."""

    def __init__(self, margin: float = 1.0, variant: str = "hadsell") -> None:
        super().__init__()
        self.margin = check_margin("margin", margin)
        self.variant = check_choice("variant", variant, CONTRASTIVE_VARIANTS)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        return contrastive_loss(x1, x2, same, margin=self.margin, variant=self.variant)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, variant={self.variant!r}"
