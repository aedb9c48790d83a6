"""Image panels: nearest neighbours of a query, triplets, pairs and augmented views.

Every function accepts torch tensors or NumPy arrays. The ``show_*`` functions take images in
[0, 1] as [N, 1, H, W] or [N, H, W] and return a Figure with one small Axes per image;
:func:`show_image` draws one image on an Axes, the way all of them do.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from contrastkit._checks import (
    as_bool_array,
    as_images,
    as_label_array,
    as_matrix,
    check_positive_int,
    describe,
    to_numpy,
)
from contrastkit.distances import nearest_neighbors
from contrastkit.viz.colors import SAME_COLOR, WRONG_COLOR

__all__ = ["query_neighbors", "show_augmentations", "show_image", "show_neighbors", "show_pairs", "show_triplets"]


# ----------------------------------------------------------------------------------------------
# Image galleries
# ----------------------------------------------------------------------------------------------


def show_image(ax: Axes, img: np.ndarray, title: str | None = None, *, color: str = "black", frame: str | None = None):
    """Draw one image [H, W] in [0, 1] (dark strokes on white) on ``ax``, without ticks, with an optional frame."""
    ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=10, color=color)
    for spine in ax.spines.values():
        spine.set_edgecolor("0.75" if frame is None else frame)
        spine.set_linewidth(0.8 if frame is None else 3)


def query_neighbors(
    query_index: int, embeddings: torch.Tensor | np.ndarray, k: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest neighbours of one row by cosine distance, the row itself excluded.

    Args:
        query_index: row of the query.
        embeddings: [N, D] float.
        k: number of neighbours (at most N - 1).

    Returns:
        ``(indices [k], distances [k])`` sorted by increasing cosine distance ``1 - cos``.
    """
    x = torch.from_numpy(as_matrix("embeddings", embeddings, min_rows=2))
    n = len(x)
    if isinstance(query_index, bool) or not isinstance(query_index, (int, np.integer)) or not 0 <= query_index < n:
        raise ValueError(f"query_index must be an integer in [0, {n}), got {describe(query_index)}")
    k = check_positive_int("k", k)
    if k > n - 1:
        raise ValueError(f"k must be at most N - 1 = {n - 1}, got {k}")
    q = int(query_index)
    idx, dist = nearest_neighbors(x[q : q + 1], x, k, exclude=torch.tensor([q]))  # [1, k] each
    return idx[0].numpy(), dist[0].numpy()


def show_neighbors(
    query_index: int,
    embeddings: torch.Tensor | np.ndarray,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    k: int = 8,
) -> Figure:
    """A query image and its k nearest neighbours (cosine distance) in the embedding.

    Each neighbour's title gives its distance and digit; a neighbour of another class gets a red
    (vermillion) frame and a title "✗ digit d" in red.

    Args:
        query_index: row of the query.
        embeddings: [N, D] float embeddings; neighbours are searched among all other rows.
        images: [N, 1, H, W] (or [N, H, W]) images in [0, 1].
        labels: [N] integer class ids.
        k: number of neighbours.

    Returns:
        The Figure: the query then the k neighbours, left to right (k + 1 Axes).
    """
    x = as_matrix("embeddings", embeddings, min_rows=2)
    imgs = as_images("images", images, len(x))
    lab = as_label_array("labels", labels, len(x))
    idx, dist = query_neighbors(query_index, x, k)
    q = int(query_index)
    fig, axes = plt.subplots(1, k + 1, figsize=(1.35 * (k + 1), 2.1), layout="constrained")
    show_image(axes[0], imgs[q], f"query\ndigit {lab[q]}", frame="black")
    wrong = 0
    for ax, i, d in zip(axes[1:], idx, dist):
        if lab[i] == lab[q]:
            show_image(ax, imgs[i], f"d={d:.3f}\ndigit {lab[i]}")
        else:
            wrong += 1
            show_image(ax, imgs[i], f"d={d:.3f}\n✗ digit {lab[i]}", color=WRONG_COLOR, frame=WRONG_COLOR)
    fig.suptitle(f"{k} nearest neighbours by cosine distance d; {wrong} of another class (✗, red)", fontsize=10)
    return fig


def _as_index_matrix(name: str, idx: object, width: int, n_images: int) -> np.ndarray:
    if (
        isinstance(idx, (tuple, list))
        and len(idx) == width
        and all(isinstance(t, (torch.Tensor, np.ndarray)) for t in idx)
    ):
        cols = [to_numpy(f"{name}[{j}]", t).reshape(-1) for j, t in enumerate(idx)]
        if len({len(c) for c in cols}) != 1:
            raise ValueError(f"{name} index tensors must have equal lengths, got {[len(c) for c in cols]}")
        arr = np.stack(cols, axis=1)
    else:
        arr = to_numpy(name, idx)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(
            f"{name} must have shape [T, {width}] (or be a tuple of {width} index tensors), got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_images):
        raise ValueError(f"{name} indices must lie in [0, {n_images}), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def _row_label(ax: Axes, text: str) -> None:
    ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=10)


def show_triplets(
    images: torch.Tensor | np.ndarray,
    triplets: torch.Tensor | np.ndarray | tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    labels: torch.Tensor | np.ndarray | None = None,
    n: int = 8,
    *,
    embeddings: torch.Tensor | np.ndarray | None = None,
) -> Figure:
    """Anchor, positive and negative images of the first ``n`` triplets, one column per triplet.

    Args:
        images: [N, 1, H, W] (or [N, H, W]) images in [0, 1].
        triplets: [T, 3] indices into ``images`` (anchor, positive, negative), e.g.
            ``TripletDataset.triplets``, or the tuple ``(a, p, n)`` of [T] index tensors from
            ``contrastkit.mining.mine_triplets``.
        labels: [N] class ids, shown in the titles when given.
        n: number of triplets to show (at most T).
        embeddings: [N, D] embeddings; when given, titles show the Euclidean distances d(a, p) and
            d(a, n).

    Returns:
        The Figure: 3 rows (anchor, positive, negative) × min(n, T) columns.
    """
    imgs = as_images("images", images)
    trip = _as_index_matrix("triplets", triplets, 3, len(imgs))
    lab = None if labels is None else as_label_array("labels", labels, len(imgs))
    emb = None if embeddings is None else as_matrix("embeddings", embeddings)
    if emb is not None and len(emb) != len(imgs):
        raise ValueError(f"embeddings must have {len(imgs)} rows like images, got {emb.shape}")
    n = min(check_positive_int("n", n), len(trip))
    if n == 0:
        raise ValueError("triplets is empty: nothing to show")
    fig, axes = plt.subplots(3, n, figsize=(1.3 * n + 1.0, 4.6), layout="constrained", squeeze=False)
    for j in range(n):
        a, p, ng = trip[j]
        for row, (i, role) in enumerate(((a, "anchor"), (p, "positive"), (ng, "negative"))):
            parts = []
            if lab is not None:
                parts.append(f"digit {lab[i]}")
            if emb is not None and row > 0:
                parts.append(f"d(a, {'p' if row == 1 else 'n'})={np.linalg.norm(emb[a] - emb[i]):.2f}")
            show_image(axes[row, j], imgs[i], "\n".join(parts) if parts else None)
            if j == 0:
                _row_label(axes[row, 0], role)
    return fig


def show_pairs(
    images: torch.Tensor | np.ndarray,
    pairs: torch.Tensor | np.ndarray,
    same: torch.Tensor | np.ndarray,
    n: int = 8,
    *,
    distances: torch.Tensor | np.ndarray | None = None,
) -> Figure:
    """The first ``n`` pairs, one column per pair, titled "same" or "different".

    Args:
        images: [N, 1, H, W] (or [N, H, W]) images in [0, 1].
        pairs: [P, 2] indices into ``images``, e.g. ``PairDataset.pairs``.
        same: [P] bool or 0/1, e.g. ``PairDataset.same``.
        n: number of pairs to show (at most P).
        distances: [P] embedding distance of each pair, shown in the titles when given.

    Returns:
        The Figure: 2 rows × min(n, P) columns.
    """
    imgs = as_images("images", images)
    pr = _as_index_matrix("pairs", pairs, 2, len(imgs))
    sm = as_bool_array("same", same, len(pr))
    dist = None if distances is None else to_numpy("distances", distances).astype(np.float64).reshape(-1)
    if dist is not None and len(dist) != len(pr):
        raise ValueError(f"distances must have {len(pr)} entries (one per pair), got {len(dist)}")
    n = min(check_positive_int("n", n), len(pr))
    if n == 0:
        raise ValueError("pairs is empty: nothing to show")
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n + 0.8, 3.3), layout="constrained", squeeze=False)
    for j in range(n):
        title = "same" if sm[j] else "different"
        if dist is not None:
            title += f"\nd={dist[j]:.2f}"
        show_image(axes[0, j], imgs[pr[j, 0]], title, color=SAME_COLOR if sm[j] else "black")
        show_image(axes[1, j], imgs[pr[j, 1]])
    _row_label(axes[0, 0], "x1")
    _row_label(axes[1, 0], "x2")
    return fig


def show_augmentations(
    images: torch.Tensor | np.ndarray,
    augment: Callable[..., torch.Tensor],
    n_views: int = 4,
    n: int = 6,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> Figure:
    """Each of the first ``n`` images next to ``n_views`` random augmented views of it.

    Args:
        images: [N, 1, H, W] images in [0, 1] (torch or NumPy).
        augment: a callable ``augment(x [B, 1, H, W], generator=...) -> [B, 1, H, W]``, e.g.
            ``contrastkit.augment.DigitAugment()``.
        n_views: views per image.
        n: number of images (rows), at most N.
        seed: seed of the generator when ``generator`` is None.
        generator: torch.Generator to draw the views from (takes precedence over ``seed``).

    Returns:
        The Figure: min(n, N) rows × (1 + n_views) columns, the original first.
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(to_numpy("images", images))
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"images must be a float tensor [N, 1, H, W], got {describe(x)}")
    if not callable(augment):
        raise ValueError(f"augment must be callable (e.g. DigitAugment()), got {describe(augment)}")
    n_views = check_positive_int("n_views", n_views)
    n = min(check_positive_int("n", n), x.shape[0])
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    x = x[:n].detach().cpu()
    views = [augment(x, generator=gen).detach().cpu() for _ in range(n_views)]  # n_views × [n, 1, H, W]
    fig, axes = plt.subplots(n, 1 + n_views, figsize=(1.25 * (1 + n_views), 1.3 * n + 0.3), squeeze=False)
    fig.set_layout_engine("constrained")
    for i in range(n):
        show_image(axes[i, 0], x[i, 0].float().numpy(), "original" if i == 0 else None, frame="black")
        for v in range(n_views):
            show_image(axes[i, v + 1], views[v][i, 0].float().numpy(), f"view {v + 1}" if i == 0 else None)
    return fig
