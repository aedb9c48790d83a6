"""Tests for contrastkit.losses.ntxent: the naive loop of SimCLR's eq. (1), pytorch-metric-learning, analytic cases."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pytorch_metric_learning import losses as pml_losses

import contrastkit as ck
from contrastkit import losses as L
from contrastkit._checks import check_temperature
from contrastkit.losses import ntxent
from tests.losses.naive import DTYPES, FUZZ, naive_nt_xent, tol, x64


def test_the_face_offers_the_module_s_functions() -> None:
    assert L.nt_xent_loss is ntxent.nt_xent_loss and L.NTXentLoss is ntxent.NTXentLoss


@FUZZ
@given(n=st.integers(1, 7), d=st.integers(1, 5), t=st.floats(0.05, 2.0), dtype=DTYPES, seed=st.integers(0, 2**16))
def test_nt_xent_matches_naive(n: int, d: int, t: float, dtype: torch.dtype, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)
    loss = L.nt_xent_loss(z1, z2, t)
    assert loss.dtype == dtype and loss.dim() == 0
    assert loss.item() == pytest.approx(naive_nt_xent(z1, z2, t), **tol(dtype))


@FUZZ
@given(n=st.integers(2, 8), t=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_nt_xent_matches_pml(n: int, t: float, seed: int) -> None:
    # pml's NTXentLoss with labels arange(N) twice: one positive (the other view), negatives = the rest
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randn(n, 5, generator=g, dtype=torch.float64)
    ref = pml_losses.NTXentLoss(temperature=t)(torch.cat([z1, z2]), torch.arange(n).repeat(2))
    assert L.nt_xent_loss(z1, z2, t).item() == pytest.approx(ref.item(), rel=1e-9)


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_nt_xent_identical_embeddings_is_log_2n_minus_1(n: int) -> None:
    z = torch.ones(n, 3)
    assert L.nt_xent_loss(z, z, 0.5).item() == pytest.approx(math.log(2 * n - 1), abs=1e-6)


def test_nt_xent_invariances() -> None:
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(7, 4, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64)
    ref = L.nt_xent_loss(z1, z2)
    perm = torch.randperm(7, generator=g)
    assert torch.allclose(L.nt_xent_loss(z2, z1), ref)
    assert torch.allclose(L.nt_xent_loss(z1[perm], z2[perm]), ref)
    assert torch.allclose(L.nt_xent_loss(3.0 * z1, 0.5 * z2), ref)  # cosine similarity ignores the scale


def test_gradcheck_nt_xent() -> None:
    z1, z2 = x64(4, 3), x64(4, 3, seed=1)
    assert torch.autograd.gradcheck(lambda a, b: L.nt_xent_loss(a, b, 0.3), (z1, z2))


def test_low_temperature_is_stable() -> None:
    g = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    loss = L.nt_xent_loss(z1, z2, 0.01)
    assert loss.item() == pytest.approx(naive_nt_xent(z1, z2, 0.01), rel=1e-4)


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


@pytest.mark.parametrize("value", [1e-45, 1e-31, 0.0])
def test_temperatures_too_small_for_float32_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        ck.losses.nt_xent_loss(torch.randn(4, 3), torch.randn(4, 3), temperature=value)
    with pytest.raises(ValueError, match="temperature"):
        ck.train.SimCLRConfig(temperature=value)
    assert check_temperature("t", 1e-30) == 1e-30
