"""The input checks and array-like converters of contrastkit._checks that every public function relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import contrastkit as ck
from contrastkit import _checks as C
from contrastkit._checks import check_positive


def test_check_embeddings() -> None:
    x = torch.randn(3, 2)
    assert C.check_embeddings("x", x) is x
    with pytest.raises(ValueError, match="x needs at least one feature column"):
        C.check_embeddings("x", torch.zeros(3, 0))
    with pytest.raises(ValueError, match="x needs at least 1 rows"):
        C.check_embeddings("x", torch.zeros(0, 2))
    with pytest.raises(ValueError, match="x needs at least 4 rows"):
        C.check_embeddings("x", x, min_rows=4)
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        C.check_embeddings("x", torch.zeros(3))
    with pytest.raises(ValueError, match="x must be finite"):
        C.check_embeddings("x", torch.tensor([[math.nan]]))
    with pytest.raises(ValueError, match="x must be a floating tensor"):
        C.check_embeddings("x", torch.zeros(3, 2, dtype=torch.long))


def test_check_same_width() -> None:
    C.check_same_width("a", torch.zeros(3, 2), "b", torch.zeros(5, 2))
    with pytest.raises(ValueError, match="a and b must have the same embedding size"):
        C.check_same_width("a", torch.zeros(3, 2), "b", torch.zeros(3, 4))


@pytest.mark.parametrize("good", [True, False])
def test_check_bool_accepts_only_booleans(good: bool) -> None:
    assert C.check_bool("flag", good) is good
    for bad in (0, 1, "yes", None, np.bool_(True)):
        with pytest.raises(ValueError, match="flag must be True or False"):
            C.check_bool("flag", bad)


def test_check_int_and_check_nonnegative_int() -> None:
    assert C.check_int("seed", 3) == 3 and C.check_int("seed", np.int64(-2)) == -2
    assert isinstance(C.check_int("seed", np.int32(5)), int)
    for bad in (True, 1.0, "1", None):
        with pytest.raises(ValueError, match="seed must be an integer"):
            C.check_int("seed", bad)
    assert C.check_nonnegative_int("dim", 0) == 0 and C.check_nonnegative_int("dim", 7) == 7
    with pytest.raises(ValueError, match=r"dim must be an integer >= 0 \(0: no head\)"):
        C.check_nonnegative_int("dim", -1, "no head")
    for bad in (-1, True, 1.5, None):
        with pytest.raises(ValueError, match="dim must be an integer >= 0"):
            C.check_nonnegative_int("dim", bad)


def test_to_numpy() -> None:
    t = torch.arange(3.0, requires_grad=True)
    np.testing.assert_array_equal(C.to_numpy("x", t), [0.0, 1.0, 2.0])
    a = np.ones(2)
    assert C.to_numpy("x", a) is a
    np.testing.assert_array_equal(C.to_numpy("x", [1, 2]), [1, 2])
    with pytest.raises(ValueError, match=r"x must be a torch\.Tensor or numpy array"):
        C.to_numpy("x", "abc")


def test_as_matrix() -> None:
    assert C.as_matrix("x", np.ones((2, 3), dtype=np.float64)).dtype == np.float64
    assert C.as_matrix("x", np.ones((2, 3), dtype=np.int64)).dtype == np.float32
    assert C.as_matrix("x", torch.ones(2, 3, dtype=torch.float16)).dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \[N, D\]"):
        C.as_matrix("x", np.ones(3))
    with pytest.raises(ValueError, match="real numbers"):
        C.as_matrix("x", np.ones((2, 2), dtype=np.complex64))
    with pytest.raises(ValueError, match="real numbers"):
        C.as_matrix("x", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="at least 3 rows"):
        C.as_matrix("x", np.ones((2, 2)), min_rows=3)
    with pytest.raises(ValueError, match="finite"):
        C.as_matrix("x", np.array([[np.inf, 0.0]]))


def test_as_points() -> None:
    assert C.as_points("p", [[0.0, 1.0], [2.0, 3.0]]).shape == (2, 2)
    with pytest.raises(ValueError, match=r"\[N, 2\].*project\(\) first"):
        C.as_points("p", np.ones((4, 3)))


def test_as_label_array() -> None:
    assert C.as_label_array("y", torch.tensor([3, 1]), 2).tolist() == [3, 1]
    assert C.as_label_array("y", np.array([True, False]), 2).tolist() == [1, 0]
    assert C.as_label_array("y", np.array([2.0, 0.0]), 2).dtype == np.int64
    with pytest.raises(ValueError, match="integer class ids"):
        C.as_label_array("y", np.array([0.5, 1.0]), 2)
    with pytest.raises(ValueError, match=r"y must have shape \[3\]"):
        C.as_label_array("y", [0, 1], 3)


def test_as_bool_array() -> None:
    assert C.as_bool_array("same", [1, 0, 1], 3).tolist() == [True, False, True]
    assert C.as_bool_array("same", torch.tensor([True, False]), 2).dtype == bool
    with pytest.raises(ValueError, match="booleans or 0/1"):
        C.as_bool_array("same", [0, 2], 2)
    with pytest.raises(ValueError, match=r"same must have shape \[2\]"):
        C.as_bool_array("same", [0, 1, 1], 2)


def test_as_images() -> None:
    assert C.as_images("img", torch.zeros(2, 1, 28, 28)).shape == (2, 28, 28)
    assert C.as_images("img", np.zeros((2, 5, 5))).shape == (2, 5, 5)
    flat = C.as_images("img", np.zeros((3, 16), dtype=np.float64))
    assert flat.shape == (3, 4, 4) and flat.dtype == np.float32
    with pytest.raises(ValueError, match="square number of pixels"):
        C.as_images("img", np.zeros((3, 15)))
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        C.as_images("img", np.zeros((2, 3, 5, 5)))
    with pytest.raises(ValueError, match="must have 4 images"):
        C.as_images("img", np.zeros((2, 5, 5)), n=4)


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_numpy_scalars_are_accepted_and_huge_or_complex_numbers_refused() -> None:
    z = torch.randn(6, 4)
    a = ck.losses.nt_xent_loss(z, z.flip(0), temperature=np.float32(0.5))
    b = ck.losses.nt_xent_loss(z, z.flip(0), temperature=0.5)
    assert float(a) == float(b)
    with pytest.raises(ValueError, match="finite"):
        check_positive("margin", 10**400)
    with pytest.raises(ValueError, match="real number"):
        check_positive("margin", 1 + 2j)
    with pytest.raises(ValueError, match="real number"):
        check_positive("margin", np.bool_(True))
