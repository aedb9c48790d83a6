"""The Siamese recipe: pairs of images, one shared encoder, the contrastive pair loss.

References:
    - [0] Hadsell, Chopra and LeCun 2006, "Dimensionality Reduction by Learning an Invariant
      Mapping", CVPR 2006 (contrastive pair loss)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from contrastkit._checks import check_bool, check_choice, check_fraction, check_margin
from contrastkit.losses import CONTRASTIVE_VARIANTS, contrastive_loss
from contrastkit.models import SiameseNet
from contrastkit.train.batches import augmenter, epoch_rng
from contrastkit.train.config import Recipe, RecipeConfig, register

__all__ = ["SiameseConfig"]


@register
@dataclass(frozen=True)
class SiameseConfig(RecipeConfig):
    """Siamese network trained with the contrastive pair loss [0].

    Every epoch draws fresh pairs: each training image is the first item of one pair, its partner is
    another image of the same digit with probability ``positive_fraction``, otherwise an image of a
    different digit.

    Attributes:
        margin: distance beyond which dissimilar pairs cost nothing.
        variant: "hadsell" or "squared" (see ``contrastkit.losses.contrastive_loss``).
        positive_fraction: share of same-digit pairs.
        normalize: L2-normalise the embeddings before the loss (distances then lie in [0, 2]).
    """

    method: ClassVar[str] = "siamese"
    chapter: ClassVar[int] = 1

    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3
    margin: float = 1.0
    variant: str = "hadsell"
    positive_fraction: float = 0.5
    normalize: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_margin("margin", self.margin)
        check_choice("variant", self.variant, CONTRASTIVE_VARIANTS)
        check_fraction("positive_fraction", self.positive_fraction, open_low=True, open_high=True)
        check_bool("normalize", self.normalize)

    def build(self, encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Recipe:
        """Fresh pairs every epoch (a partner of the same digit with ``positive_fraction``), the pair loss."""
        net = SiameseNet(encoder)
        aug = augmenter(self.augment_strength)
        n = x.shape[0]
        labels = y.cpu().numpy()
        classes = np.unique(labels)
        members = [np.flatnonzero(labels == c) for c in classes]  # per class, indices
        class_pos = np.searchsorted(classes, labels)  # [N] position of each label in `classes`

        def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
            rng = epoch_rng(self.seed, epoch)
            first = rng.permutation(n)  # [N]
            same = rng.random(n) < self.positive_fraction  # [N]
            if len(classes) < 2:
                same[:] = True
            # the partner's class: the anchor's own, or another one drawn uniformly
            offset = rng.integers(1, max(len(classes), 2), size=n)
            partner_class = np.where(same, class_pos[first], (class_pos[first] + offset) % len(classes))  # [N]
            u = rng.random(n)
            second = np.array([members[c][int(v * len(members[c]))] for c, v in zip(partner_class, u)])  # [N]
            i = torch.from_numpy(first).to(x.device)
            j = torch.from_numpy(second).to(x.device)
            s = torch.from_numpy(same.astype(np.float32)).to(x.device)
            size = min(self.batch_size, n)
            return [(i[a : a + size], j[a : a + size], s[a : a + size]) for a in range(0, n - size + 1, size)]

        def step(batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
            i, j, same = batch
            x1, x2 = x[i], x[j]  # [B, 1, 28, 28]
            if aug is not None:
                both = aug(torch.cat([x1, x2]), generator=generator)  # [2B, 1, 28, 28]
                x1, x2 = both[: i.shape[0]], both[i.shape[0] :]
            e1, e2 = net(x1, x2)  # [B, D] each
            e1, e2 = e1.float(), e2.float()
            if self.normalize:
                e1, e2 = F.normalize(e1, dim=1), F.normalize(e2, dim=1)
            return contrastive_loss(e1, e2, same, margin=self.margin, variant=self.variant)

        return Recipe(net, step, batches)
