"""Input validation shared by every public function: tensors, numbers, and array-likes for plots.

Each check raises ``ValueError`` with a message that says what was expected and what came, so
that a learner who passes the wrong thing is told how to fix it rather than handed a stack trace
from deep inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def describe(x: object) -> str:
    """One-line description of ``x`` for error messages."""
    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return f"{type(x).__name__} {x!r}"[:120]


def check_tensor(
    name: str,
    x: object,
    *,
    ndim: int | None = None,
    floating: bool = True,
    finite: bool = True,
    min_rows: int = 0,
) -> torch.Tensor:
    """Check that ``x`` is a tensor with the given number of dimensions and a float dtype.

    Args:
        name: argument name used in the message.
        x: the value to check.
        ndim: required number of dimensions, or None for any.
        floating: require a floating dtype (float16, bfloat16, float32 or float64).
        finite: require every value to be finite (no NaN or inf).
        min_rows: required minimum size of the first dimension.

    Returns:
        ``x`` unchanged.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {describe(x)}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {describe(x)}")
    if floating and x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be a floating tensor (float16/bfloat16/float32/float64), got {describe(x)}")
    if x.dim() > 0 and x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {describe(x)}")
    if finite and floating and x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s) in {describe(x)}")
    return x


def check_embeddings(name: str, x: object, *, min_rows: int = 1) -> torch.Tensor:
    """Check that ``x`` is a finite floating [N, D] tensor with N >= ``min_rows`` and D >= 1; return it."""
    x = check_tensor(name, x, ndim=2, min_rows=min_rows)
    if x.shape[1] < 1:
        raise ValueError(f"{name} needs at least one feature column, got {describe(x)}")
    return x


def check_labels(name: str, labels: object, n: int) -> torch.Tensor:
    """Check that ``labels`` is an integer (or bool) tensor of shape [n]; return it as int64."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{name} must be a 1-D integer torch.Tensor of length {n}, got {describe(labels)}")
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}], got {describe(labels)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex:
        raise ValueError(f"{name} must hold integer class ids, got {describe(labels)}")
    return labels.long()


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Check that two tensors have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_same_width(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Check that two [N, D] tensors have the same number of columns D."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same embedding size, got {describe(a)} and {describe(b)}"
        )


def check_positive(name: str, value: object) -> float:
    """Check that ``value`` is a finite real number > 0."""
    v = _as_real(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


#: Largest margin accepted: the pair loss squares it, and the square must stay finite in float32.
MAX_MARGIN = 1e15


def check_margin(name: str, value: object) -> float:
    """Check that a loss margin is a finite real number in [0, :data:`MAX_MARGIN`]."""
    v = check_nonnegative(name, value)
    if v > MAX_MARGIN:
        raise ValueError(f"{name} must be at most {MAX_MARGIN:g} (the losses square it in float32), got {value!r}")
    return v


def check_squared_range(name: str, x: torch.Tensor, squared: bool, dtype: torch.dtype) -> None:
    """Refuse embeddings whose squared distances cannot be represented in ``dtype``.

    A squared distance is at most 4·D·max|x|²; the distances themselves are computed at any scale.
    """
    if not squared or x.numel() == 0:
        return
    biggest = float(x.detach().abs().max())
    limit = (torch.finfo(dtype).max / (4 * x.shape[-1])) ** 0.5
    if biggest > limit:
        raise ValueError(
            f"{name} has entries up to {biggest:.3g}: its squared distances overflow {dtype} above {limit:.3g}; "
            "scale the embeddings down or use plain (not squared) distances"
        )


#: Smallest temperature accepted: 1 / temperature must stay finite in float32 (about 3.4e38).
MIN_TEMPERATURE = 1e-30


def check_temperature(name: str, value: object) -> float:
    """Check that a softmax temperature is a finite real number >= :data:`MIN_TEMPERATURE`."""
    v = check_positive(name, value)
    if v < MIN_TEMPERATURE:
        raise ValueError(
            f"{name} must be at least {MIN_TEMPERATURE:g} (similarities / {name} must stay finite in float32), "
            f"got {value!r}"
        )
    return v


def check_nonnegative(name: str, value: object) -> float:
    """Check that ``value`` is a finite real number >= 0."""
    v = _as_real(name, value)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


#: Largest count any argument may ask for (torch's sizes are 64-bit; nothing here needs more than 2**31).
MAX_COUNT = 2**31


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Check that ``value`` is an int in [``minimum``, :data:`MAX_COUNT`] (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be at most {MAX_COUNT}, got an integer of {len(str(value))} digits")
    return value


def check_nonnegative_int(name: str, value: object, meaning_of_zero: str = "") -> int:
    """Check that ``value`` is an int >= 0 (bools are refused); ``meaning_of_zero`` goes into the message."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        zero = f" (0: {meaning_of_zero})" if meaning_of_zero else ""
        raise ValueError(f"{name} must be an integer >= 0{zero}, got {describe(value)}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Check that ``value`` is True or False (not 0/1 or another truthy object)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {describe(value)}")
    return value


def check_int(name: str, value: object) -> int:
    """Check that ``value`` is a Python or NumPy integer (bools are refused); return it as int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {describe(value)}")
    return int(value)


def check_fraction(name: str, value: object, *, open_low: bool = False, open_high: bool = False) -> float:
    """Check that ``value`` lies in [0, 1] (ends excluded on request)."""
    v = _as_real(name, value)
    lo_ok = v > 0 if open_low else v >= 0
    hi_ok = v < 1 if open_high else v <= 1
    if not (lo_ok and hi_ok):
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        raise ValueError(f"{name} must lie in {lo}, {hi}, got {value!r}")
    return v


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    options: Sequence[str] = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in options)}, got {value!r}")
    return value  # type: ignore[return-value]


def _as_real(name: str, value: object) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a real number, got {describe(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float's range, e.g. 10**400
        raise ValueError(f"{name} must be finite, got an integer of {len(str(abs(int(value))))} digits") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


# ----------------------------------------------------------------------------------------------
# Array-likes (tensors, NumPy arrays, lists) for the plotting and widget functions
# ----------------------------------------------------------------------------------------------


def to_numpy(name: str, x: object) -> np.ndarray:
    """A tensor, array or list as a NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype in (torch.bfloat16, torch.float16) else x).numpy()  # NumPy has no bfloat16
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except ValueError as err:  # ragged nesting
            raise ValueError(f"{name} must be a rectangular array, got a ragged {type(x).__name__}") from err
    raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {describe(x)}")


def as_matrix(name: str, x: object, min_rows: int = 1) -> np.ndarray:
    """A finite float array [N, D]."""
    arr = to_numpy(name, x)
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


def as_points(name: str, x: object) -> np.ndarray:
    """A finite 2-D map [N, 2]."""
    arr = as_matrix(name, x)
    if arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape [N, 2] (a 2-D projection), got {arr.shape}; use project() first")
    return arr


def as_label_array(name: str, labels: object, n: int) -> np.ndarray:
    """Integer class ids [n] (bools and integral floats accepted) as an int64 array."""
    arr = to_numpy(name, labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}], got an array of shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            return arr.astype(np.int64)
        raise ValueError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def as_bool_array(name: str, same: object, n: int) -> np.ndarray:
    """Booleans or 0/1 values [n] as a bool array."""
    arr = to_numpy(name, same)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}], got an array of shape {arr.shape}")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans or 0/1 values, got values {np.unique(arr)[:5]}")
    return arr.astype(bool)


def as_images(name: str, images: object, n: int | None = None) -> np.ndarray:
    """Images as a float array [N, H, W] (accepts [N, 1, H, W], [N, H, W] or flat square [N, H*W])."""
    arr = to_numpy(name, images)
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
