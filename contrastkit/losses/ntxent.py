"""NT-Xent, the SimCLR loss.

References:
    - [3] SimCLR, Chen et al. 2020, arXiv:2002.05709
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastkit._checks import check_temperature
from contrastkit.distances import compute_dtype, normalize_rows
from contrastkit.losses._common import check_pair, full_precision

__all__ = ["NTXentLoss", "nt_xent_loss"]


@full_precision
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
    z1, z2 = check_pair("z1", z1, "z2", z2)
    temperature = check_temperature("temperature", temperature)
    n = z1.shape[0]
    work = compute_dtype(z1)
    z = normalize_rows(torch.cat([z1, z2]).to(work))  # [2N, D]
    logits = (z @ z.T) / temperature  # [2N, 2N]
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # [2N] index of the other view
    return F.cross_entropy(logits, targets).to(z1.dtype)


class NTXentLoss(nn.Module):
    """Module form of ``nt_xent_loss``: ``forward(z1 [N, D], z2 [N, D]) -> scalar``."""

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = check_temperature("temperature", temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return nt_xent_loss(z1, z2, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
