"""The SupCon recipe: V augmented views of every image; positives are all images of the same class.

References:
    - [3] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from contrastkit._checks import check_nonnegative_int, check_positive_int, check_temperature
from contrastkit.augment import DigitAugment, MultiView
from contrastkit.losses import supcon_loss
from contrastkit.models import ProjectedEncoder, build_projection_head
from contrastkit.train.batches import embed_views, shuffled_batches
from contrastkit.train.config import Recipe, RecipeConfig, register

__all__ = ["SupConConfig"]


@register
@dataclass(frozen=True)
class SupConConfig(RecipeConfig):
    """Supervised contrastive learning: V augmented views, positives are all images of the same digit [3].

    Attributes:
        temperature: SupCon temperature.
        n_views: views per image (V >= 1; with V = 1 the other images of the digit are the positives).
        projection_dim: output size of the projection head; 0 applies the loss directly to the
            encoder's embedding.
    """

    method: ClassVar[str] = "supcon"
    chapter: ClassVar[int] = 4

    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    augment_strength: float = 0.5
    temperature: float = 0.1
    n_views: int = 2
    projection_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_temperature("temperature", self.temperature)
        check_positive_int("n_views", self.n_views)
        check_nonnegative_int("projection_dim", self.projection_dim, "no projection head")

    def build(self, encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Recipe:
        """Shuffled batches of images; SupCon over the projections of their V views and their labels."""
        model = ProjectedEncoder(encoder, build_projection_head(self.embedding_dim, self.projection_dim))
        views = MultiView(DigitAugment.with_strength(self.augment_strength), n_views=self.n_views)

        def batches(epoch: int) -> list[torch.Tensor]:
            return shuffled_batches(x.shape[0], self.batch_size, self.seed, epoch, x.device)

        def step(idx: torch.Tensor) -> torch.Tensor:
            z = embed_views(model, views, x[idx], generator)  # [B, V, P]
            return supcon_loss(z, y[idx], temperature=self.temperature)

        return Recipe(model, step, batches)
