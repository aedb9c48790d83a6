"""Helpers shared by the loss modules of :mod:`contrastkit.losses`."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import TypeVar

import torch

from contrastkit._checks import check_embeddings

__all__ = ["check_pair", "full_precision", "zero_loss"]

F = TypeVar("F", bound=Callable)


def full_precision(fn: F) -> F:
    """Run a loss with autocast switched off, so its similarity matrices really are float32.

    Under ``torch.autocast`` (mixed precision on CUDA) a matmul would otherwise run in float16 even
    on float32 inputs, and at a temperature of 0.01 that costs the loss its third digit.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with contextlib.ExitStack() as stack:
            for device in ("cpu", "cuda", "mps"):
                if torch.is_autocast_enabled(device):
                    stack.enter_context(torch.autocast(device, enabled=False))
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def zero_loss(*tensors: torch.Tensor) -> torch.Tensor:
    """A scalar 0 connected to the inputs, so that backward() works and gives zero gradients.

    ``(t * 0).sum()`` rather than ``t.sum() * 0``: the sum of a large float16 batch can overflow to
    inf, and inf * 0 is NaN.
    """
    total = sum((t * 0).sum() for t in tensors)
    return total  # type: ignore[return-value]


def check_pair(name_a: str, a: object, name_b: str, b: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two [B, D] embedding tensors of the same shape and dtype."""
    a = check_embeddings(name_a, a)
    b = check_embeddings(name_b, b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ValueError(f"{name_a} and {name_b} must have the same dtype, got {a.dtype} and {b.dtype}")
    return a, b
