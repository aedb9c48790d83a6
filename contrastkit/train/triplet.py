"""The triplet recipe: class-balanced P×K batches, online mining, the triplet loss.

References:
    - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832; Hermans et al. 2017, arXiv:1703.07737
      (triplet loss with online mining)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from contrastkit._checks import check_bool, check_choice, check_margin, check_positive_int
from contrastkit.data import ClassBalancedBatchSampler
from contrastkit.losses import batch_triplet_loss
from contrastkit.mining import STRATEGIES
from contrastkit.train.batches import augmenter
from contrastkit.train.config import Recipe, RecipeConfig, register

__all__ = ["TripletConfig"]


@register
@dataclass(frozen=True)
class TripletConfig(RecipeConfig):
    """Triplet loss with online mining inside class-balanced P×K batches [1].

    Attributes:
        margin: triplet margin.
        strategy: "all" (batch-all), "hard" (batch-hard) or "semihard".
        classes_per_batch: P, digits per batch.
        samples_per_class: K, images per digit; None means ``batch_size // classes_per_batch``.
            When given, ``classes_per_batch * samples_per_class`` must equal ``batch_size``.
        squared: squared Euclidean distances.
        normalize: L2-normalise the embeddings before the loss.
    """

    method: ClassVar[str] = "triplet"
    chapter: ClassVar[int] = 2

    epochs: int = 8
    batch_size: int = 200
    lr: float = 2e-3
    margin: float = 0.2
    strategy: str = "all"
    classes_per_batch: int = 10
    samples_per_class: int | None = None
    squared: bool = False
    normalize: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_margin("margin", self.margin)
        check_choice("strategy", self.strategy, STRATEGIES)
        check_positive_int("classes_per_batch", self.classes_per_batch, minimum=2)
        if self.samples_per_class is None:
            if self.batch_size < 2 * self.classes_per_batch:
                raise ValueError(
                    f"batch_size must be at least 2 * classes_per_batch = {2 * self.classes_per_batch} so that "
                    f"every digit has a positive, got batch_size={self.batch_size}"
                )
        else:
            check_positive_int("samples_per_class", self.samples_per_class, minimum=2)
            if self.classes_per_batch * self.samples_per_class != self.batch_size:
                raise ValueError(
                    f"batch_size must equal classes_per_batch * samples_per_class = "
                    f"{self.classes_per_batch} * {self.samples_per_class}, got {self.batch_size}; "
                    "set samples_per_class=None to derive it from batch_size"
                )
        check_bool("squared", self.squared)
        check_bool("normalize", self.normalize)

    @property
    def k(self) -> int:
        """K, the images per digit in a batch."""
        return self.samples_per_class or self.batch_size // self.classes_per_batch

    def build(self, encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Recipe:
        """P×K batches from ``ClassBalancedBatchSampler``; the mined triplet loss on the embeddings."""
        aug = augmenter(self.augment_strength)
        sampler = ClassBalancedBatchSampler(
            y.cpu(), classes_per_batch=self.classes_per_batch, samples_per_class=self.k, seed=self.seed
        )

        def batches(epoch: int) -> list[torch.Tensor]:
            sampler.set_epoch(epoch)
            return [torch.as_tensor(b, dtype=torch.long).to(x.device) for b in sampler]

        def step(idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
            images = x[idx]  # [B, 1, 28, 28]
            if aug is not None:
                images = aug(images, generator=generator)
            z = encoder(images).float()  # [B, D]
            if self.normalize:
                z = F.normalize(z, dim=1)
            loss, stats = batch_triplet_loss(
                z, y[idx], margin=self.margin, strategy=self.strategy, squared=self.squared, return_stats=True
            )
            return loss, {"active_fraction": stats.active_fraction}

        return Recipe(encoder, step, batches)
