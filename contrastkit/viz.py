"""Pictures of an embedding space: class-coloured maps and diagnostic figures.

Every plotting function accepts torch tensors or NumPy arrays, takes ``ax=None`` (a new figure is
made when it is None) and returns the Axes it drew on, or a Figure for multi-panel pictures.

The 2-D projections that the maps draw (:func:`project`, cached on disk) live in
:mod:`contrastkit.projection`, and the image panels (:func:`show_neighbors`, :func:`show_triplets`,
:func:`show_pairs`, :func:`show_augmentations`) in :mod:`contrastkit.gallery`; both are re-exported
here, so ``ck.viz.project`` and ``ck.viz.show_neighbors`` work as before.

Colours: the ten digits always get the same colours, :data:`DIGIT_COLORS`, in every figure of the
kit. They are the eight colours of Okabe and Ito's palette for colour-vision deficiency
(reordered so that neighbouring digits differ in lightness as well as hue), plus wine and grey from
Paul Tol's palettes. No ten colours stay distinct for every reader, so the maps also write each
digit's name at the middle of its cluster and the legend carries the names: a reader never has to
rely on hue alone.

References:
    - [0] Okabe & Ito 2008, "Color Universal Design", https://jfly.uni-koeln.de/color/
    - [1] Tol 2021, "Colour schemes", https://personal.sron.nl/~pault/
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

from contrastkit._checks import check_nonnegative, check_positive_int, describe
from contrastkit._plotting import (
    DIFFERENT_COLOR,
    DIGIT_COLORS,
    SAME_COLOR,
    WRONG_COLOR,
    _as_bool,
    _as_images,
    _as_labels,
    _as_matrix,
    _as_points,
    _color,
    _to_numpy,
    digit_colors,
)
from contrastkit.gallery import nearest_neighbors as nearest_neighbors
from contrastkit.gallery import show_augmentations, show_neighbors, show_pairs, show_triplets
from contrastkit.projection import CACHE_ENV as CACHE_ENV
from contrastkit.projection import DEFAULT_CACHE_DIR as DEFAULT_CACHE_DIR
from contrastkit.projection import METHODS as METHODS
from contrastkit.projection import project

__all__ = [
    "DIGIT_COLORS",
    "WRONG_COLOR",
    "digit_colors",
    "plot_embedding",
    "plot_embedding_grid",
    "plot_history",
    "plot_pair_distances",
    "plot_similarity_matrix",
    "project",
    "show_augmentations",
    "show_neighbors",
    "show_pairs",
    "show_triplets",
]

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
        handles.append(Line2D([], [], ls="", marker="o", ms=7, mfc=_color(c), mec="0.3", mew=0.5, label=name))
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
    pts = _as_points("points", points)
    n = len(pts)
    lab = None if labels is None else _as_labels("labels", labels, n)
    check_positive_int("n_thumbnails", n_thumbnails, minimum=0)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    order = np.random.default_rng(seed).permutation(n)
    colors = "#0072B2" if lab is None else np.array([_color(c) for c in lab], dtype=object)[order]
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
        imgs = _as_images("images", images, n)
        picks = _spread_indices(pts, n_thumbnails, seed, min_gap=THUMBNAIL_GAP, avoid=name_xy)
        if name_xy is not None and len(picks) < min(n_thumbnails, len(name_xy)):
            # clusters so tight that every point sits on its name: names stay on top of the thumbnails
            picks = _spread_indices(pts, n_thumbnails, seed, min_gap=THUMBNAIL_GAP)
        for i in picks:
            frame = "0.3" if lab is None else _color(lab[i])
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
        ncols: panels per row (default: all in one row, at most 4).
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
    ncols = min(k, 4) if ncols is None else check_positive_int("ncols", ncols)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols + 0.8, panel_size * nrows), layout="constrained", squeeze=False
    )
    lab = None
    for ax, (name, pts) in zip(axes.flat, points_by_name.items()):
        pts = _as_points(f"points_by_name[{name!r}]", pts)
        lab = _as_labels("labels", labels, len(pts))
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


# ----------------------------------------------------------------------------------------------
# Diagnostics
# ----------------------------------------------------------------------------------------------


def plot_pair_distances(
    distances: torch.Tensor | np.ndarray,
    same: torch.Tensor | np.ndarray,
    margin: float | None = None,
    threshold: float | None = None,
    ax: Axes | None = None,
    *,
    bins: int = 40,
    title: str | None = None,
) -> Axes:
    """Overlapping histograms of same-class and different-class pair distances.

    A good embedding separates the two: same-class pairs near 0, different-class pairs beyond the
    margin. The overlap is where verification makes mistakes.

    Args:
        distances: [P] distance of each pair.
        same: [P] bool (or 0/1): True for a same-class pair.
        margin: the loss's margin, drawn as a dashed line (None: not drawn).
        threshold: a decision threshold (e.g. ``verification_roc(...).threshold``), dotted line.
        ax: Axes to draw on (None: a new one).
        bins: number of shared histogram bins.
        title: Axes title (default: "Pair distances").

    Returns:
        The Axes; ``ax.patches`` holds the bars of both histograms.
    """
    d = _to_numpy("distances", distances).astype(np.float64).reshape(-1)
    if _to_numpy("distances", distances).ndim != 1:
        raise ValueError(f"distances must have shape [P], got {describe(distances)}")
    if not np.isfinite(d).all():
        raise ValueError("distances must be finite")
    sm = _as_bool("same", same, len(d))
    check_positive_int("bins", bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    edges = np.histogram_bin_edges(d if len(d) else np.zeros(1), bins=bins)
    for mask, color, name in ((sm, SAME_COLOR, "same class"), (~sm, DIFFERENT_COLOR, "different class")):
        if mask.any():
            ax.hist(d[mask], bins=edges, density=True, alpha=0.55, color=color, label=f"{name} (n={int(mask.sum())})")
    for value, style, name in ((margin, "--", "margin"), (threshold, ":", "threshold")):
        if value is not None:
            v = check_nonnegative(name, value)
            ax.axvline(v, color="black", ls=style, lw=1.8, label=f"{name} = {v:.3g}")
    ax.set_xlabel("distance between the two embeddings")
    ax.set_ylabel("density")
    ax.set_title("Pair distances" if title is None else title)
    ax.legend(frameon=False)
    return ax


_HISTORY_PANELS = {
    "loss": "training loss",
    "knn_accuracy": "kNN accuracy",
    "embedding_std": "embedding std (0 = collapse)",
    "active_fraction": "active triplet fraction",
    "lr": "learning rate",
}
_HISTORY_SKIP = {"epoch", "wall_time", "eval_time"}


def plot_history(history: Mapping[str, Sequence[float]], *, keys: Sequence[str] | None = None) -> Figure:
    """Loss and monitors per epoch, one panel each.

    Args:
        history: the dict returned by ``contrastkit.train.train``: "epoch" plus one list per
            metric ("loss", "knn_accuracy", "embedding_std", optionally "active_fraction", "lr",
            ...). NaN entries (epochs without evaluation) are skipped.
        keys: the metrics to draw, in order (default: loss, knn_accuracy, embedding_std,
            active_fraction present in ``history``, then any other numeric series except epoch and
            timings).

    Returns:
        The Figure, one Axes per metric with at least one finite value.
    """
    if not isinstance(history, Mapping) or "loss" not in history:
        raise ValueError(f"history must be a dict with at least a 'loss' list, got {describe(history)}")
    n = len(history["loss"])
    epochs = np.asarray(history.get("epoch", range(1, n + 1)), dtype=np.float64)
    if len(epochs) != n:
        raise ValueError(f"history['epoch'] has {len(epochs)} entries but history['loss'] has {n}")
    if keys is None:
        keys = [k for k in _HISTORY_PANELS if k in history and k != "lr"]
        keys += [k for k in history if k not in _HISTORY_SKIP and k not in keys]
    panels = []
    for key in keys:
        if key not in history:
            raise ValueError(f"history has no {key!r}; it has {sorted(history)}")
        values = np.asarray(history[key], dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"history[{key!r}] must have {n} entries like 'loss', got shape {values.shape}")
        ok = np.isfinite(values)
        if ok.any():
            panels.append((key, epochs[ok], values[ok]))
    ncols = max(1, len(panels) if len(panels) <= 5 else 4)
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.9 * nrows), layout="constrained", squeeze=False)
    for ax, (key, x, y) in zip(axes.flat, panels):
        ax.plot(x, y, marker="o", ms=3.5, color="#0072B2")
        ax.set_title(_HISTORY_PANELS.get(key, key.replace("_", " ")))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if key in ("knn_accuracy", "active_fraction"):
            ax.set_ylim(-0.02, 1.02)
        if key == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        if len(x) and np.all(np.mod(x, 1) == 0):
            ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes.flat[len(panels) :]:
        ax.remove()
    if not panels:
        fig.text(0.5, 0.5, "no finite values to plot yet", ha="center", va="center")
    return fig


def _cosine_similarity(x: np.ndarray) -> np.ndarray:
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # [N, D]
    return xn @ xn.T  # [N, N]


def plot_similarity_matrix(
    embeddings: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Axes:
    """Cosine similarity of every pair, rows and columns sorted by class, class blocks outlined.

    A good embedding shows bright diagonal blocks (similar within a class) on a darker background.
    The colour scale spans [-1, 1] with 0 in the middle, so pictures of different embeddings can be
    compared.

    Args:
        embeddings: [N, D] float (a few hundred to two thousand rows is readable).
        labels: [N] integer class ids.
        ax: Axes to draw on (None: a new one).
        title: Axes title (default: "Cosine similarity, sorted by class").

    Returns:
        The Axes; ``ax.images[0]`` holds the [N, N] matrix.
    """
    x = _as_matrix("embeddings", embeddings)
    lab = _as_labels("labels", labels, len(x))
    order = np.argsort(lab, kind="stable")
    sim = _cosine_similarity(x[order].astype(np.float64))  # [N, N]
    lab = lab[order]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    im = ax.imshow(sim, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="cosine similarity", shrink=0.85)
    classes, starts, counts = np.unique(lab, return_index=True, return_counts=True)
    for b in starts[1:]:
        ax.axhline(b - 0.5, color="black", lw=0.8)
        ax.axvline(b - 0.5, color="black", lw=0.8)
    centres = starts + (counts - 1) / 2
    ax.set_xticks(centres, [str(c) for c in classes])
    ax.set_yticks(centres, [str(c) for c in classes])
    ax.tick_params(length=0)
    ax.set_xlabel("digit")
    ax.set_ylabel("digit")
    ax.set_title("Cosine similarity, sorted by class" if title is None else title)
    return ax
