"""Embeddings from a model: run it over images in batches, frozen (eval mode, no gradients)."""

from __future__ import annotations

import torch
from torch import nn

from contrastkit._checks import check_positive_int, check_tensor, describe

__all__ = ["embed", "model_device"]


def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 512, device=None) -> torch.Tensor:
    """Run ``model`` over ``images`` in batches and collect the embeddings.

    The model runs in eval mode (BatchNorm uses its running statistics, dropout is off) under
    ``torch.no_grad``; its previous train/eval mode is restored afterwards, even on error.

    Args:
        model: any module mapping a batch [B, ...] to [B, D] (outputs with more dimensions are
            flattened to [B, D']; ``nn.Flatten()`` gives raw pixels).
        images: input tensor [N, ...], e.g. [N, 1, 28, 28] MNIST digits.
        batch_size: images per forward pass.
        device: where the batches go; None means the device of the model's parameters (CPU if it
            has none). The model itself is not moved, so it must be able to run there.

    Returns:
        Embeddings [N, D], float32, on the CPU.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {describe(model)}")
    check_tensor("images", images, min_rows=1)
    if images.dim() < 2:
        raise ValueError(f"images must have a batch dimension and at least one more, got {describe(images)}")
    check_positive_int("batch_size", batch_size)
    device = model_device(model) if device is None else torch.device(device)

    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].to(device)
                out = model(batch)
                if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != batch.shape[0]:
                    raise ValueError(
                        f"model must return a tensor [B, D] for a batch of {batch.shape[0]}, got {describe(out)}"
                    )
                outputs.append(out.reshape(out.shape[0], -1).float().cpu())  # [B, D]
    finally:
        model.train(was_training)
    return torch.cat(outputs)  # [N, D]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model that has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
