"""Pictures of an embedding space: 2-D projections, class-coloured maps and diagnostic figures.

Every plotting function accepts torch tensors or NumPy arrays, takes ``ax=None`` (a new figure is
made when it is None) and returns the Axes it drew on, or a Figure for multi-panel pictures.

Colours: the ten digits always get the same colours, :data:`DIGIT_COLORS`, in every figure of the
kit. They are the eight colours of Okabe and Ito's palette for colour-vision deficiency
(reordered so that neighbouring digits differ in lightness as well as hue), plus wine and grey from
Paul Tol's palettes. No ten colours stay distinct for every reader, so the maps also write each
digit's name at the middle of its cluster and the legend carries the names: a reader never has to
rely on hue alone.

2-D projections (:func:`project`) are cached on disk, keyed by the SHA-1 of the input array and the
method and parameters, in ``.cache/contrastkit/projections`` under the current directory (the
environment variable ``CONTRASTKIT_CACHE_DIR`` or the ``cache_dir`` argument override it; delete
the folder to clear the cache). Notebooks therefore redraw a map instantly when they re-run.

References:
    - [0] UMAP, McInnes, Healy & Melville 2018, arXiv:1802.03426
    - [1] t-SNE, van der Maaten & Hinton 2008, JMLR 9:2579-2605
    - [2] Okabe & Ito 2008, "Color Universal Design", https://jfly.uni-koeln.de/color/
    - [3] Tol 2021, "Colour schemes", https://personal.sron.nl/~pault/
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from contrastkit._checks import check_choice, check_nonnegative, check_positive_int, describe
from contrastkit.utils import atomic_path

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

#: Colour of digit ``d`` is ``DIGIT_COLORS[d % 10]``: Okabe–Ito's eight, then Tol's wine and grey.
DIGIT_COLORS: tuple[str, ...] = (
    "#0072B2",  # 0 blue
    "#E69F00",  # 1 orange
    "#009E73",  # 2 bluish green
    "#CC79A7",  # 3 reddish purple
    "#56B4E9",  # 4 sky blue
    "#D55E00",  # 5 vermillion
    "#000000",  # 6 black
    "#F0E442",  # 7 yellow
    "#882255",  # 8 wine (Tol)
    "#999999",  # 9 grey (Tol)
)

#: Colour marking a mistake (a wrong-class neighbour): Okabe–Ito vermillion, always paired with text.
WRONG_COLOR = "#D55E00"
#: Colours of same-class and different-class pairs in distance histograms.
SAME_COLOR = "#0072B2"
DIFFERENT_COLOR = "#E69F00"

METHODS = ("umap", "pca", "tsne")
#: Smallest distance between thumbnails (and from a class name), as a fraction of the map's extent.
THUMBNAIL_GAP = 0.075
CACHE_ENV = "CONTRASTKIT_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(".cache") / "contrastkit" / "projections"


def digit_colors() -> list[str]:
    """The ten digit colours as hex strings, ``digit_colors()[d]`` for digit ``d``."""
    return list(DIGIT_COLORS)


def _color(label: int) -> str:
    return DIGIT_COLORS[int(label) % len(DIGIT_COLORS)]


# ----------------------------------------------------------------------------------------------
# Input conversion
# ----------------------------------------------------------------------------------------------


def _to_numpy(name: str, x: object) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {describe(x)}")


def _as_matrix(name: str, x: object, min_rows: int = 1) -> np.ndarray:
    """A finite float array [N, D]."""
    arr = _to_numpy(name, x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape [N, D], got an array of shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {arr.shape}")
    arr = arr.astype(np.float64 if arr.dtype == np.float64 else np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(arr)).sum())} NaN/inf value(s)")
    return arr


def _as_points(name: str, x: object) -> np.ndarray:
    arr = _as_matrix(name, x)
    if arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape [N, 2] (a 2-D projection), got {arr.shape}; use project() first")
    return arr


def _as_labels(name: str, labels: object, n: int) -> np.ndarray:
    arr = _to_numpy(name, labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}], got an array of shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            return arr.astype(np.int64)
        raise ValueError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _as_bool(name: str, same: object, n: int) -> np.ndarray:
    arr = _to_numpy(name, same)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}], got an array of shape {arr.shape}")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans or 0/1 values, got values {np.unique(arr)[:5]}")
    return arr.astype(bool)


def _as_images(name: str, images: object, n: int | None = None) -> np.ndarray:
    """Images as a float array [N, H, W] (accepts [N, 1, H, W], [N, H, W] or flat square [N, H*W])."""
    arr = _to_numpy(name, images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise ValueError(f"{name} given flat must have a square number of pixels, got shape {arr.shape}")
        arr = arr.reshape(arr.shape[0], side, side)
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape [N, 1, H, W], [N, H, W] or [N, H*W], got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} images (one per row of the embeddings), got {arr.shape[0]}")
    return arr.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------------------------
# 2-D projections
# ----------------------------------------------------------------------------------------------


def project(
    embeddings: torch.Tensor | np.ndarray,
    method: str = "umap",
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | bool | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Project embeddings to 2-D for plotting, with an on-disk cache.

    How to read the result:

    - **UMAP** [0] keeps *local neighbourhoods*: points that are neighbours in the picture are
      usually neighbours in the embedding, and a class that forms one tight island really is
      compact there. It distorts everything else: the **distances between clusters**, the
      **sizes** (spreads) of clusters and their **densities** carry no meaning; two islands far
      apart may be close in the embedding and vice versa. Use it for "which classes mix", never for
      "class A is twice as far from B as from C". Different seeds give different layouts.
    - **t-SNE** [1] behaves the same way (local structure only), and is slower.
    - **PCA** is a linear map onto the two directions of largest variance: distances and cluster
      sizes are faithful, but only for the share of the variance those two directions hold, so
      classes that differ along other directions overlap in the picture.

    The result is cached under ``cache_dir`` keyed by the SHA-1 of the float32 array bytes and
    shape, the method, the seed and ``kwargs``, and written atomically: a second call with the same
    input returns at once. For speed, UMAP gets exact nearest neighbours from one chunked matrix
    product (Euclidean or cosine metric, up to 30,000 points) instead of compiling and running
    NN-descent: a seeded UMAP of 10,000 × 64 points then costs about 20 s of CPU time cold,
    umap-learn's first-call compilation included, and milliseconds cached.

    Args:
        embeddings: [N, D] float; N >= 4 for UMAP and t-SNE, N >= 2 for PCA.
        method: "umap", "pca" or "tsne".
        seed: random seed (UMAP and t-SNE); a seeded UMAP runs single-threaded, which is what
            makes it repeatable.
        cache_dir: folder of the cache; None uses ``$CONTRASTKIT_CACHE_DIR`` or
            ``.cache/contrastkit/projections`` under the current directory; False disables caching.
        **kwargs: passed to ``umap.UMAP`` or ``sklearn.manifold.TSNE`` (e.g. ``n_neighbors``,
            ``min_dist``, ``metric="cosine"``, ``perplexity``); PCA takes none.

    Returns:
        points: float32 array [N, 2].
    """
    method = check_choice("method", method, METHODS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {describe(seed)}")
    if method == "pca" and kwargs:
        raise ValueError(f"method 'pca' takes no extra arguments, got {sorted(kwargs)}")
    x = np.ascontiguousarray(_as_matrix("embeddings", embeddings, min_rows=2 if method == "pca" else 4), np.float32)
    if x.shape[1] < 2:
        raise ValueError(f"embeddings must have at least 2 dimensions to project to 2-D, got shape {x.shape}")

    path = None
    if cache_dir is not False:
        folder = (
            Path(cache_dir) if cache_dir not in (None, True) else Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE_DIR))
        )
        path = folder / f"{method}-{_cache_key(x, method, int(seed), kwargs)}.npy"
        cached = _load_cached(path, x.shape[0])
        if cached is not None:
            return cached

    points = np.ascontiguousarray(_fit_projection(x, method, int(seed), kwargs), dtype=np.float32)  # [N, 2]
    if points.shape != (x.shape[0], 2) or not np.isfinite(points).all():
        raise RuntimeError(f"the {method} projection returned {points.shape} with non-finite values; try PCA")
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, points)
    return points


def _cache_key(x: np.ndarray, method: str, seed: int, kwargs: Mapping[str, Any]) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    h.update(str(x.shape).encode())
    h.update(x.tobytes())
    params = {"method": method, "seed": seed, "kwargs": {k: repr(v) for k, v in sorted(kwargs.items())}}
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()


def _load_cached(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        points = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # unreadable: recompute and overwrite
    if points.shape != (n, 2) or points.dtype != np.float32:
        return None
    return points


def _fit_projection(x: np.ndarray, method: str, seed: int, kwargs: dict[str, Any]) -> np.ndarray:
    """The uncached projection of x [N, D] to [N, 2]."""
    if method == "pca":
        return _pca(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        params: dict[str, Any] = {"init": "pca", "learning_rate": "auto", "perplexity": min(30.0, (len(x) - 1) / 3)}
        params.update(kwargs)
        return TSNE(n_components=2, random_state=seed, **params).fit_transform(x)
    import warnings

    import umap

    params = {"n_neighbors": min(15, len(x) - 1), "low_memory": True, "n_jobs": 1}
    if len(x) >= 10_000:
        params["n_epochs"] = 200  # umap-learn's own choice above 10,000 points; 500 at 10,000 is slower for no gain
    params.update(kwargs)
    metric = params.get("metric", "euclidean")
    if "precomputed_knn" not in params and metric in ("euclidean", "cosine") and len(x) <= _EXACT_KNN_MAX:
        # exact neighbours by one chunked matrix product: far faster than compiling and running NN-descent
        params["precomputed_knn"] = (*_exact_knn(x, int(params["n_neighbors"]), metric), None)
    with warnings.catch_warnings():
        # a seeded UMAP is single-threaded on purpose; disconnected graphs only affect the initial layout;
        # without a search index only transform() of new points is unavailable, which is never used here
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*Graph is not fully connected.*")
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        reducer = umap.UMAP(n_components=2, random_state=seed, **params)
        return reducer.fit_transform(x)


_EXACT_KNN_MAX = 30_000


def _exact_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of x [N, D], each row's own index first (distance 0).

    Returns:
        ``(indices int64 [N, k], distances float32 [N, k])``; cosine distance is ``1 - cos``.
    """
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # [N, D]
    if metric == "cosine":
        t = torch.nn.functional.normalize(t, dim=1)
    sq = (t * t).sum(1)  # [N]
    n = t.shape[0]
    indices = torch.empty(n, k, dtype=torch.int64)
    distances = torch.empty(n, k, dtype=torch.float32)
    step = max(1, min(n, 2**24 // max(n, 1)))  # rows per chunk, about 64 MB of distances
    for start in range(0, n, step):
        rows = torch.arange(start, min(start + step, n))
        if metric == "cosine":
            d = 1.0 - t[rows] @ t.T  # [R, N]
        else:
            d = sq[rows, None] + sq[None, :] - 2.0 * (t[rows] @ t.T)  # [R, N] squared distances
        d[torch.arange(len(rows)), rows] = -1.0  # each point is its own first neighbour
        vals, idx = torch.topk(d, k, dim=1, largest=False)  # [R, k]
        vals = vals.clamp_min(0.0)
        distances[rows] = vals if metric == "cosine" else vals.sqrt()
        indices[rows] = idx
    return indices.numpy(), distances.numpy()


def _pca(x: np.ndarray) -> np.ndarray:
    """First two principal components of x [N, D] via SVD, signs fixed for repeatability."""
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)  # [N, D]
    u, s, _ = np.linalg.svd(xc, full_matrices=False)  # u [N, r]
    scores = u[:, :2] * s[:2]  # [N, 2]
    if scores.shape[1] < 2:  # a single point direction: pad with zeros
        scores = np.pad(scores, ((0, 0), (0, 2 - scores.shape[1])))
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), [0, 1]])  # largest score of each component > 0
    signs[signs == 0] = 1
    return scores * signs


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


# ----------------------------------------------------------------------------------------------
# Image galleries
# ----------------------------------------------------------------------------------------------


def _show_image(ax: Axes, img: np.ndarray, title: str | None = None, *, color: str = "black", frame: str | None = None):
    ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=10, color=color)
    for spine in ax.spines.values():
        spine.set_edgecolor("0.75" if frame is None else frame)
        spine.set_linewidth(0.8 if frame is None else 3)


def nearest_neighbors(
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
    x = _as_matrix("embeddings", embeddings, min_rows=2)
    n = len(x)
    if isinstance(query_index, bool) or not isinstance(query_index, (int, np.integer)) or not 0 <= query_index < n:
        raise ValueError(f"query_index must be an integer in [0, {n}), got {describe(query_index)}")
    k = check_positive_int("k", k)
    if k > n - 1:
        raise ValueError(f"k must be at most N - 1 = {n - 1}, got {k}")
    xn = x.astype(np.float64) / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # [N, D]
    dist = 1.0 - xn @ xn[int(query_index)]  # [N]
    dist[int(query_index)] = np.inf
    idx = np.argsort(dist, kind="stable")[:k]
    return idx, dist[idx]


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
    x = _as_matrix("embeddings", embeddings, min_rows=2)
    imgs = _as_images("images", images, len(x))
    lab = _as_labels("labels", labels, len(x))
    idx, dist = nearest_neighbors(query_index, x, k)
    q = int(query_index)
    fig, axes = plt.subplots(1, k + 1, figsize=(1.35 * (k + 1), 2.1), layout="constrained")
    _show_image(axes[0], imgs[q], f"query\ndigit {lab[q]}", frame="black")
    wrong = 0
    for ax, i, d in zip(axes[1:], idx, dist):
        if lab[i] == lab[q]:
            _show_image(ax, imgs[i], f"d={d:.3f}\ndigit {lab[i]}")
        else:
            wrong += 1
            _show_image(ax, imgs[i], f"d={d:.3f}\n✗ digit {lab[i]}", color=WRONG_COLOR, frame=WRONG_COLOR)
    fig.suptitle(f"{k} nearest neighbours by cosine distance d; {wrong} of another class (✗, red)", fontsize=10)
    return fig


def _as_index_matrix(name: str, idx: object, width: int, n_images: int) -> np.ndarray:
    if (
        isinstance(idx, (tuple, list))
        and len(idx) == width
        and all(isinstance(t, (torch.Tensor, np.ndarray)) for t in idx)
    ):
        cols = [_to_numpy(f"{name}[{j}]", t).reshape(-1) for j, t in enumerate(idx)]
        if len({len(c) for c in cols}) != 1:
            raise ValueError(f"{name} index tensors must have equal lengths, got {[len(c) for c in cols]}")
        arr = np.stack(cols, axis=1)
    else:
        arr = _to_numpy(name, idx)
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
    imgs = _as_images("images", images)
    trip = _as_index_matrix("triplets", triplets, 3, len(imgs))
    lab = None if labels is None else _as_labels("labels", labels, len(imgs))
    emb = None if embeddings is None else _as_matrix("embeddings", embeddings)
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
            _show_image(axes[row, j], imgs[i], "\n".join(parts) if parts else None)
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
    imgs = _as_images("images", images)
    pr = _as_index_matrix("pairs", pairs, 2, len(imgs))
    sm = _as_bool("same", same, len(pr))
    dist = None if distances is None else _to_numpy("distances", distances).astype(np.float64).reshape(-1)
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
        _show_image(axes[0, j], imgs[pr[j, 0]], title, color=SAME_COLOR if sm[j] else "black")
        _show_image(axes[1, j], imgs[pr[j, 1]])
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
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(_to_numpy("images", images))
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
        _show_image(axes[i, 0], x[i, 0].float().numpy(), "original" if i == 0 else None, frame="black")
        for v in range(n_views):
            _show_image(axes[i, v + 1], views[v][i, 0].float().numpy(), f"view {v + 1}" if i == 0 else None)
    return fig
