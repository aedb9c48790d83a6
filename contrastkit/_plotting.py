"""Shared helpers of the plotting modules: the digit colours and the conversion of plot inputs.

:mod:`contrastkit.viz`, :mod:`contrastkit.projection` and :mod:`contrastkit.gallery` all import
from here, so every figure of the kit uses the same colours and the same input checks. Every
converter accepts torch tensors, NumPy arrays (or lists) and raises ``ValueError`` saying what was
expected.

Colours: the ten digits always get the same colours, :data:`DIGIT_COLORS`: the eight colours of
Okabe and Ito's palette for colour-vision deficiency (reordered so that neighbouring digits differ
in lightness as well as hue), plus wine and grey from Paul Tol's palettes.

References:
    - [0] Okabe & Ito 2008, "Color Universal Design", https://jfly.uni-koeln.de/color/
    - [1] Tol 2021, "Colour schemes", https://personal.sron.nl/~pault/
"""

from __future__ import annotations

import math

import numpy as np
import torch

from contrastkit._checks import describe

__all__ = [
    "DIFFERENT_COLOR",
    "DIGIT_COLORS",
    "SAME_COLOR",
    "WRONG_COLOR",
    "_as_bool",
    "_as_images",
    "_as_labels",
    "_as_matrix",
    "_as_points",
    "_color",
    "_to_numpy",
    "digit_colors",
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
