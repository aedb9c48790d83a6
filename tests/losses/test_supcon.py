"""Tests for contrastkit.losses.supcon: a naive loop of L_out, pytorch-metric-learning, analytic cases."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from pytorch_metric_learning import losses as pml_losses

from contrastkit import losses as L
from contrastkit.losses import supcon
from tests.losses.naive import DTYPES, FUZZ, naive_supcon, tol, x64, zero_with_zero_grad


def test_the_face_offers_the_module_s_functions() -> None:
    assert L.supcon_loss is supcon.supcon_loss and L.SupConLoss is supcon.SupConLoss


@FUZZ
@given(
    b=st.integers(1, 6),
    v=st.integers(1, 3),
    n_classes=st.integers(1, 4),
    use_labels=st.booleans(),
    t=st.floats(0.05, 2.0),
    dtype=DTYPES,
    seed=st.integers(0, 2**16),
)
def test_supcon_matches_naive(
    b: int, v: int, n_classes: int, use_labels: bool, t: float, dtype: torch.dtype, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(b, v, 3, generator=g, dtype=dtype)
    y = torch.randint(0, n_classes, (b,), generator=g) if use_labels else None
    loss = L.supcon_loss(f, y, t)
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(naive_supcon(f, y, t), **tol(dtype))


@FUZZ
@given(b=st.integers(2, 8), v=st.integers(1, 3), t=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_supcon_matches_pml(b: int, v: int, t: float, seed: int) -> None:
    # pml averages over anchors with a nonzero loss (= anchors with a positive) and needs some negative
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(b, v, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (b,), generator=g)
    assume(len(set(y.tolist())) > 1)
    ref = pml_losses.SupConLoss(temperature=t)(f.transpose(0, 1).reshape(b * v, 4), y.repeat(v))
    assert L.supcon_loss(f, y, t).item() == pytest.approx(ref.item(), rel=1e-9, abs=1e-12)


def test_supcon_identical_embeddings_is_log_bv_minus_1() -> None:
    f = torch.ones(4, 3, 2)
    assert L.supcon_loss(f, torch.tensor([0, 1, 0, 2]), 0.3).item() == pytest.approx(math.log(11), abs=1e-6)


@pytest.mark.parametrize("t", [0.01, 0.1, 0.5])
def test_supcon_two_views_without_labels_is_nt_xent(t: float) -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert torch.allclose(L.supcon_loss(torch.stack([z1, z2], 1), None, t), L.nt_xent_loss(z1, z2, t), rtol=1e-6)
    # distinct labels are the same as no labels
    assert torch.allclose(L.supcon_loss(torch.stack([z1, z2], 1), torch.arange(6) * 3, t), L.nt_xent_loss(z1, z2, t))


def test_gradcheck_supcon() -> None:
    f = x64(4, 2, 3, seed=2)
    y = torch.tensor([0, 1, 0, 2])
    assert torch.autograd.gradcheck(lambda t: L.supcon_loss(t, y, 0.2), (f,))
    assert torch.autograd.gradcheck(lambda t: L.supcon_loss(t, None, 0.2), (f,))


def test_supcon_without_positives_is_zero() -> None:
    f = torch.randn(5, 1, 3, requires_grad=True)
    zero_with_zero_grad(L.supcon_loss(f, torch.arange(5)), f)
    zero_with_zero_grad(L.supcon_loss(f), f)
    g = torch.randn(1, 1, 3, requires_grad=True)
    zero_with_zero_grad(L.supcon_loss(g), g)


def test_supcon_skips_anchors_without_positive() -> None:
    g = torch.Generator().manual_seed(5)
    f = torch.randn(5, 1, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 2, 3])  # only rows 0 and 1 have a positive
    assert L.supcon_loss(f, y).item() == pytest.approx(naive_supcon(f, y, 0.1), rel=1e-9)


def test_low_temperature_is_stable() -> None:
    g = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    f = torch.stack([z1, z2], 1).requires_grad_(True)
    loss = L.supcon_loss(f, torch.tensor([0, 1, 0, 1, 2, 2]), 0.01)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(f.grad).all()
