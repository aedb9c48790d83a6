"""Plain helpers (not fixtures) shared by several test folders."""

from __future__ import annotations

import torch

# Four points on a line: class 0 at x = 0 and 1, class 1 at x = 1.5 and 5.
LINE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0], [5.0, 0.0]], dtype=torch.float64)
LINE_LABELS = torch.tensor([0, 0, 1, 1])

#: Values that are no [N, D] embedding matrix (or not a finite floating one).
BAD_TENSORS = [
    None,
    [[1.0, 2.0]],
    torch.zeros(3),
    torch.zeros(2, 3, 4),
    torch.zeros(0, 3),
    torch.zeros(3, 0),
    torch.zeros(3, 2, dtype=torch.int64),
    torch.tensor([[1.0, float("nan")], [0.0, 0.0]]),
    torch.tensor([[1.0, float("inf")], [0.0, 0.0]]),
]


def triplet_set(triplets: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> set[tuple[int, int, int]]:
    """Mined triplets as a set of (anchor, positive, negative) index tuples."""
    a, p, n = triplets
    return set(zip(a.tolist(), p.tolist(), n.tolist()))


def gaussian_blobs(
    n: int, d: int, n_classes: int, spread: float = 1.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs [n, d] float64 with labels [n]."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, d, generator=g, dtype=torch.float64) * 3
    labels = torch.arange(n) % n_classes
    x = centres[labels] + spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, labels


def legend_texts(legend) -> list[str]:
    """The texts of a matplotlib legend."""
    return [t.get_text() for t in legend.get_texts()]
