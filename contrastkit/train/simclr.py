"""The SimCLR recipe: two augmented views of every image, NT-Xent between them; no labels.

References:
    - [2] SimCLR, Chen et al. 2020, arXiv:2002.05709
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from contrastkit._checks import check_nonnegative_int, check_temperature
from contrastkit.augment import DigitAugment, MultiView
from contrastkit.losses import nt_xent_loss
from contrastkit.models import ProjectedEncoder, build_projection_head
from contrastkit.train.batches import embed_views, shuffled_batches
from contrastkit.train.config import Recipe, RecipeConfig, register

__all__ = ["SimCLRConfig"]


@register
@dataclass(frozen=True)
class SimCLRConfig(RecipeConfig):
    """SimCLR: two augmented views per image, NT-Xent between them; labels are not used [2].

    The encoder's embedding (``forward``) is what is evaluated. With ``projection_dim > 0`` the loss
    is computed on a projection head g(z), dropped after training, as in the paper.

    Why these defaults (measured on the bundled 8,000/2,000 sample, 2 CPU cores, ``benchmarks/quality.py``):
    the loss directly on the embedding (no head) learned faster in 10 epochs than with a head;
    a 128-d embedding (SimCLR's size) gave the linear probe about 0.4 points over 64-d; batches of
    128 give twice the optimiser steps of 256 per epoch for the same compute, and with 10 digit
    classes 254 negatives per anchor are already plenty; the full-strength
    :class:`~contrastkit.augment.DigitAugment`, whose stroke-width change lifted kNN accuracy by
    about a point (without it two views can be matched by the writer's pen instead of the shape);
    temperatures 0.2-0.5 gave about the same accuracy.

    Attributes:
        temperature: NT-Xent temperature.
        projection_dim: output size of the projection head; 0 applies the loss directly to the
            encoder's embedding.
    """

    method: ClassVar[str] = "simclr"
    chapter: ClassVar[int] = 3

    epochs: int = 10
    batch_size: int = 128
    embedding_dim: int = 128
    lr: float = 3e-3
    augment_strength: float = 1.0
    temperature: float = 0.3
    projection_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_temperature("temperature", self.temperature)
        check_nonnegative_int("projection_dim", self.projection_dim, "no projection head")

    def build(self, encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Recipe:
        """Shuffled batches of images; NT-Xent between the projections of their two views (``y`` unused)."""
        model = ProjectedEncoder(encoder, build_projection_head(self.embedding_dim, self.projection_dim))
        views = MultiView(DigitAugment.with_strength(self.augment_strength), n_views=2)

        def batches(epoch: int) -> list[torch.Tensor]:
            return shuffled_batches(x.shape[0], self.batch_size, self.seed, epoch, x.device)

        def step(idx: torch.Tensor) -> torch.Tensor:
            z = embed_views(model, views, x[idx], generator)  # [B, 2, P]
            return nt_xent_loss(z[:, 0], z[:, 1], temperature=self.temperature)

        return Recipe(model, step, batches)
