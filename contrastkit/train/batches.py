"""What the recipes share to make their batches: seeded orders, augmenters and multi-view forward passes.

Randomness: the order of the batches (and the Siamese pairs) comes from a NumPy generator seeded
with ``(seed, epoch)`` (:func:`epoch_rng`), and the augmentations from a ``torch.Generator`` whose
state the trainer saves in the checkpoint, so a resumed run draws exactly the numbers the
uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from contrastkit.augment import DigitAugment, MultiView

__all__ = ["augmenter", "embed_views", "epoch_rng", "shuffled_batches"]


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The NumPy generator of one epoch of a run with ``seed``."""
    return np.random.default_rng([seed, epoch])


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device) -> list[torch.Tensor]:
    """A random permutation of range(n) cut into batches of index tensors; an incomplete last batch is dropped."""
    order = torch.from_numpy(epoch_rng(seed, epoch).permutation(n)).to(device)  # [N]
    size = min(batch_size, n)
    return [order[i : i + size] for i in range(0, n - size + 1, size)]


def augmenter(strength: float) -> DigitAugment | None:
    """The digit augmentation at ``strength`` (0: none)."""
    return DigitAugment.with_strength(strength) if strength > 0 else None


def embed_views(model: nn.Module, views: MultiView, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """V augmented views of every image through ``model`` as one batch: [B, ...] images to [B, V, P].

    The views go through the model view-major (all first views, then all second views...), so
    BatchNorm sees every view of the batch at once.
    """
    v = views(images, generator=generator)  # [B, V, C, H, W]
    b, n_views = v.shape[:2]
    z = model(v.transpose(0, 1).reshape(n_views * b, *v.shape[2:]))  # [V*B, P], view-major
    return z.float().reshape(n_views, b, -1).transpose(0, 1)  # [B, V, P]
