"""2-D projections of embeddings for plotting (UMAP, t-SNE, PCA), cached on disk.

The result of :func:`project` feeds the maps (``plot_embedding``, ``plot_embedding_grid``).

Projections are cached on disk, keyed by the SHA-1 of the input array and the method and
parameters, in ``.cache/contrastkit/projections`` under the current directory (the environment
variable ``CONTRASTKIT_CACHE_DIR`` or the ``cache_dir`` argument override it; delete the folder to
clear the cache). Notebooks therefore redraw a map instantly when they re-run.

References:
    - [0] UMAP, McInnes, Healy & Melville 2018, arXiv:1802.03426
    - [1] t-SNE, van der Maaten & Hinton 2008, JMLR 9:2579-2605
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastkit._checks import as_matrix, check_choice, describe
from contrastkit.distances import topk_neighbors
from contrastkit.utils import atomic_path

__all__ = ["CACHE_ENV", "DEFAULT_CACHE_DIR", "PROJECTION_METHODS", "project"]

#: Projections understood by ``project``.
PROJECTION_METHODS = ("umap", "pca", "tsne")
CACHE_ENV = "CONTRASTKIT_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(".cache") / "contrastkit" / "projections"


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
    method = check_choice("method", method, PROJECTION_METHODS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {describe(seed)}")
    if method == "pca" and kwargs:
        raise ValueError(f"method 'pca' takes no extra arguments, got {sorted(kwargs)}")
    x = np.ascontiguousarray(as_matrix("embeddings", embeddings, min_rows=2 if method == "pca" else 4), np.float32)
    if x.shape[1] < 2:
        raise ValueError(f"embeddings must have at least 2 dimensions to project to 2-D, got shape {x.shape}")
    _check_projection_args(x, method, kwargs)

    if not (cache_dir is None or isinstance(cache_dir, (bool, str, os.PathLike))):
        raise ValueError(f"cache_dir must be a folder path, None or False, got {describe(cache_dir)}")
    path = None
    if cache_dir is not False:
        folder = (
            Path(cache_dir) if cache_dir not in (None, True) else Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE_DIR))
        )
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"cache_dir must be a folder, got the file {folder}; pass another cache_dir or False")
        path = folder / f"{method}-{_cache_key(x, method, int(seed), kwargs)}.npy"
        cached = _load_cached(path, x.shape[0])
        if cached is not None:
            return cached

    points = np.ascontiguousarray(_fit_projection(x, method, int(seed), kwargs), dtype=np.float32)  # [N, 2]
    if points.shape != (x.shape[0], 2) or not np.isfinite(points).all():
        raise RuntimeError(f"the {method} projection returned {points.shape} with non-finite values; try PCA")
    if path is not None:
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, points)
        except OSError as err:  # a read-only working directory, a full disk: the picture matters more than the cache
            warnings.warn(f"could not cache the {method} projection in {path.parent} ({err}); set {CACHE_ENV} "
                          "or cache_dir to a writable folder", stacklevel=2)  # fmt: skip
    return points


def _check_projection_args(x: np.ndarray, method: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse what would make UMAP or t-SNE fail deep inside (or crash the process)."""
    if method == "pca":
        return
    spread = float(np.abs(x - x[0]).max())
    if spread <= 1e-12 * max(1.0, float(np.abs(x).max())):
        raise ValueError(
            f"all {len(x)} embeddings are the same point (a collapsed model?): {method} cannot lay them out; "
            "use method='pca' to draw them anyway"
        )
    if method == "umap" and "n_neighbors" in kwargs:
        k = kwargs["n_neighbors"]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k < len(x):
            raise ValueError(f"n_neighbors must be an integer in [2, {len(x) - 1}] for {len(x)} points, got {k!r}")
    if method == "tsne" and "perplexity" in kwargs:
        p = kwargs["perplexity"]
        if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not 0 < p < len(x):
            raise ValueError(f"perplexity must be a number in (0, {len(x)}) for {len(x)} points, got {p!r}")


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
    n = t.shape[0]
    rows = torch.arange(n)
    idx, dist = topk_neighbors(t, t, k - 1, metric, exclude=rows)  # [N, k - 1] the others, nearest first
    indices = torch.cat([rows[:, None], idx], dim=1)  # [N, k]
    distances = torch.cat([torch.zeros(n, 1), dist.clamp_min(0.0)], dim=1)  # [N, k]
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
