"""Maps of an embedding space: class-coloured 2-D scatter plots with thumbnails and class names.

Every function accepts torch tensors or NumPy arrays, takes ``ax=None`` (a new figure is made when
it is None) and returns the Axes it drew on, or a Figure for a grid of maps. The 2-D points come
from :func:`contrastkit.viz.project`; the colours from :mod:`contrastkit.viz.colors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from contrastkit._checks import (
    as_images,
    as_label_array,
    as_points,
    check_positive_int,
    describe,
)
from contrastkit.viz.colors import class_color

__all__ = ["plot_embedding", "plot_embedding_grid"]

#: Smallest distance between thumbnails (and from a class name), as a fraction of the map's extent.
THUMBNAIL_GAP = 0.075


# ----------------------------------------------------------------------------------------------
# Maps
# ----------------------------------------------------------------------------------------------


def _marker_size(n: int) -> float:
    return float(np.clip(20_000 / max(n, 1), 2.0, 30.0))


def _legend_handles(classes: Sequence[int], class_names: Sequence[str] | None = None) -> list[Line2D]:
    handles = []
    for c in classes:
        name = class_names[c] if class_names is not None else str(c)
        handles.append(Line2D([], [], ls="", marker="o", ms=7, mfc=class_color(c), mec="0.3", mew=0.5, label=name))
    return handles


def _spread_indices(
    points: np.ndarray, k: int, seed: int = 0, min_gap: float = 0.0, avoid: np.ndarray | None = None
) -> np.ndarray:
    """Up to k indices of points far apart (greedy farthest-point sampling).

    Distances are measured with both axes scaled to [0, 1], like the picture. Sampling stops early
    when the next point would lie closer than ``min_gap`` to a chosen one or ``min_gap / 2`` to a
    position in ``avoid`` [M, 2] (e.g. class names), so thumbnails neither overlap each other nor
    hide names.
    """
    n = len(points)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = points.min(0), points.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (points - lo) / span  # [N, 2] in the unit square
    if avoid is not None and len(avoid):
        marks = (np.asarray(avoid, dtype=np.float64) - lo) / span  # [M, 2]
        # counted double: a thumbnail may come half as close to a (small) name as to another thumbnail
        dist = 2.0 * np.linalg.norm(scaled[:, None] - marks[None], axis=2).min(1)  # [N]
        chosen: list[int] = []
    else:
        chosen = [int(np.random.default_rng(seed).integers(n))]
        dist = np.linalg.norm(scaled - scaled[chosen[0]], axis=1)  # [N] distance to the chosen set
    while len(chosen) < k:
        nxt = int(dist.argmax())
        if dist[nxt] <= min_gap:
            break
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(scaled - scaled[nxt], axis=1))
    return np.asarray(chosen, dtype=np.int64)


def _spread_labels(centres: np.ndarray, points: np.ndarray, min_gap: float = 0.06, steps: int = 100) -> np.ndarray:
    """Nudge label positions [C, 2] apart until no two are closer than ``min_gap`` of the plot's size."""
    lo, hi = points.min(0), points.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    u = (centres - lo) / span  # [C, 2] in the unit square
    offsets = np.random.default_rng(0).normal(scale=1e-3, size=u.shape)  # separates identical positions
    u = u + offsets
    for _ in range(steps):
        diff = u[:, None, :] - u[None, :, :]  # [C, C, 2]
        dist = np.linalg.norm(diff, axis=2) + np.eye(len(u))  # [C, C]
        overlap = np.clip(min_gap - dist, 0.0, None)  # [C, C]
        if not overlap.any():
            break
        u = u + 0.5 * (diff / dist[..., None] * overlap[..., None]).sum(1)
        u = u.clip(0.0, 1.0)
    return lo + u * span


def plot_embedding(
    points: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray | None = None,
    images: torch.Tensor | np.ndarray | None = None,
    n_thumbnails: int = 25,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    class_names: Sequence[str] | None = None,
    legend: bool = True,
    annotate: bool = True,
    s: float | None = None,
    alpha: float = 0.75,
    seed: int = 0,
) -> Axes:
    """Scatter a 2-D map coloured by class, with a legend and optional digit thumbnails.

    Points are drawn in a random (seeded) order, so no class systematically hides another; each
    class's name is written at its median position (skipped when ``annotate=False``). Thumbnails
    show the images of up to ``n_thumbnails`` points picked far apart (fewer when the map has no
    room for more without overlaps or hiding a class name), framed in their class's colour.

    Args:
        points: [N, 2] 2-D positions, e.g. from :func:`project`.
        labels: [N] integer class ids, or None for a single colour.
        images: [N, 1, H, W] (or [N, H, W]) images in [0, 1] aligned with ``points``, or None.
        n_thumbnails: how many thumbnails to draw when ``images`` is given.
        ax: Axes to draw on; None makes a new 7 × 6 inch figure.
        title: Axes title.
        class_names: names for class ids 0..C-1 (default: the id, i.e. the digit).
        legend: draw the class legend (right of the axes).
        annotate: write each class's name at its median position.
        s: marker size in points²; None picks one from N.
        alpha: marker opacity.
        seed: seed of the drawing order and of the first thumbnail.

    Returns:
        The Axes. ``ax.collections[0]`` is the scatter, with N points.
    """
    pts = as_points("points", points)
    n = len(pts)
    lab = None if labels is None else as_label_array("labels", labels, n)
    check_positive_int("n_thumbnails", n_thumbnails, minimum=0)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    order = np.random.default_rng(seed).permutation(n)
    colors = "#0072B2" if lab is None else np.array([class_color(c) for c in lab], dtype=object)[order]
    ax.scatter(pts[order, 0], pts[order, 1], c=colors, s=_marker_size(n) if s is None else s, alpha=alpha, lw=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    name_xy = None  # positions of the class names, [C, 2]
    if lab is not None and n:
        classes = sorted(set(lab.tolist()))
        if annotate:
            name_xy = _spread_labels(np.array([np.median(pts[lab == c], axis=0) for c in classes]), pts)  # [C, 2]
            for c, (mx, my) in zip(classes, name_xy):
                name = class_names[c] if class_names is not None else str(c)
                txt = ax.text(mx, my, name, ha="center", va="center", fontsize=13, weight="bold", zorder=6)
                txt.set_path_effects([patheffects.withStroke(linewidth=3, foreground="white")])
        if legend:
            ax.legend(
                handles=_legend_handles(classes, class_names),
                title="digit" if class_names is None else "class",
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                frameon=False,
                handletextpad=0.2,
            )
    if images is not None and n_thumbnails and n:
        imgs = as_images("images", images, n)
        picks = _spread_indices(pts, n_thumbnails, seed, min_gap=THUMBNAIL_GAP, avoid=name_xy)
        if name_xy is not None and len(picks) < min(n_thumbnails, len(name_xy)):
            # clusters so tight that every point sits on its name: names stay on top of the thumbnails
            picks = _spread_indices(pts, n_thumbnails, seed, min_gap=THUMBNAIL_GAP)
        for i in picks:
            frame = "0.3" if lab is None else class_color(lab[i])
            box = AnnotationBbox(
                OffsetImage(imgs[i], cmap="gray_r", zoom=0.75, norm=Normalize(0.0, 1.0)),
                (pts[i, 0], pts[i, 1]),
                frameon=True,
                pad=0.1,
                bboxprops={"edgecolor": frame, "linewidth": 1.5},
            )
            ax.add_artist(box)
    return ax


def plot_embedding_grid(
    points_by_name: Mapping[str, torch.Tensor | np.ndarray],
    labels: torch.Tensor | np.ndarray,
    *,
    ncols: int | None = None,
    panel_size: float = 4.0,
    class_names: Sequence[str] | None = None,
    annotate: bool = True,
    s: float | None = None,
) -> Figure:
    """Several 2-D maps of the same points side by side (e.g. PCA, t-SNE, UMAP), same colours.

    Args:
        points_by_name: panel title -> [N, 2] points; every entry must have the N rows of ``labels``.
        labels: [N] integer class ids.
        ncols: panels per row (default: up to 4 in one row; more are split into two balanced rows,
            e.g. 5 panels as 3 + 2 rather than 4 + 1).
        panel_size: inches per panel side.
        class_names: names for class ids (default: the digit).
        annotate: write each class's name at its median position.
        s: marker size (None: chosen from N).

    Returns:
        The Figure, one Axes per entry (in order) and one shared legend on the right.
    """
    if not isinstance(points_by_name, Mapping) or not points_by_name:
        raise ValueError(
            f"points_by_name must be a non-empty dict name -> [N, 2] points, got {describe(points_by_name)}"
        )
    k = len(points_by_name)
    ncols = (k if k <= 4 else -(-k // 2)) if ncols is None else check_positive_int("ncols", ncols)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols + 0.8, panel_size * nrows), layout="constrained", squeeze=False
    )
    lab = None
    for ax, (name, pts) in zip(axes.flat, points_by_name.items()):
        pts = as_points(f"points_by_name[{name!r}]", pts)
        lab = as_label_array("labels", labels, len(pts))
        plot_embedding(pts, lab, ax=ax, title=str(name), class_names=class_names, legend=False, annotate=annotate, s=s)
    for ax in axes.flat[k:]:
        ax.remove()
    assert lab is not None
    fig.legend(
        handles=_legend_handles(sorted(set(lab.tolist())), class_names),
        title="digit" if class_names is None else "class",
        loc="outside right upper",
        frameon=False,
    )
    return fig
