"""Input validation shared by every public function.

Each check raises ``ValueError`` with a message that says what was expected and what came, so
that a learner who passes the wrong thing is told how to fix it rather than handed a stack trace
from deep inside torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

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


def check_positive(name: str, value: object) -> float:
    """Check that ``value`` is a finite real number > 0."""
    v = _as_real(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def check_nonnegative(name: str, value: object) -> float:
    """Check that ``value`` is a finite real number >= 0."""
    v = _as_real(name, value)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Check that ``value`` is an int >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


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
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise ValueError(f"{name} must be a real number, got {describe(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v
