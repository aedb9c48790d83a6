"""Tests for contrastkit.losses.pair: the contrastive pair loss against a naive loop and by hand."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contrastkit import losses as L
from contrastkit.losses import pair
from tests.losses.naive import DTYPES, FUZZ, naive_contrastive, tol, x64


def test_the_face_offers_the_module_s_functions() -> None:
    assert L.contrastive_loss is pair.contrastive_loss and L.ContrastiveLoss is pair.ContrastiveLoss
    assert L.CONTRASTIVE_VARIANTS is pair.CONTRASTIVE_VARIANTS == ("hadsell", "squared")


@FUZZ
@given(
    b=st.integers(1, 8),
    margin=st.floats(0.0, 3.0),
    variant=st.sampled_from(L.CONTRASTIVE_VARIANTS),
    dtype=DTYPES,
    seed=st.integers(0, 2**16),
)
def test_contrastive_matches_naive(b: int, margin: float, variant: str, dtype: torch.dtype, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x1, x2 = torch.randn(b, 3, generator=g, dtype=dtype), torch.randn(b, 3, generator=g, dtype=dtype)
    same = torch.randint(0, 2, (b,), generator=g)
    expected = naive_contrastive(x1, x2, same, margin, variant)
    for s in (same, same.bool(), same.to(dtype)):
        assert L.contrastive_loss(x1, x2, s, margin, variant).item() == pytest.approx(expected, **tol(dtype))


def test_contrastive_hand_computed() -> None:
    x1, x2 = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])  # d = 5
    assert L.contrastive_loss(x1, x2, torch.tensor([1])).item() == pytest.approx(25.0)
    assert L.contrastive_loss(x1, x2, torch.tensor([0]), margin=6.0).item() == pytest.approx(1.0)
    assert L.contrastive_loss(x1, x2, torch.tensor([0]), margin=6.0, variant="squared").item() == 0.0
    assert L.contrastive_loss(x1, x2, torch.tensor([0]), margin=30.0, variant="squared").item() == pytest.approx(5.0)


def test_gradcheck_contrastive() -> None:
    a, p = x64(5, 3), x64(5, 3, seed=1)
    same = torch.tensor([1, 0, 1, 0, 0])
    for variant in L.CONTRASTIVE_VARIANTS:
        assert torch.autograd.gradcheck(lambda u, v, m=variant: L.contrastive_loss(u, v, same, 3.0, m), (a, p))
