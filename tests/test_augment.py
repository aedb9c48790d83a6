"""Digit augmentations: determinism under a seed, value range, identity at strength 0, variety."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.augment import DEFAULTS, DigitAugment, MultiView

OFF = {
    "scale": (1.0, 1.0),
    "rotation": 0.0,
    "shear": 0.0,
    "translate": 0.0,
    "erase_prob": 0.0,
    "noise_std": 0.0,
    "blur_prob": 0.0,
    "stroke_prob": 0.0,
}


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """Synthetic digit-like images: a bright bar on black, at a different place in each image."""
    x = torch.zeros(8, 1, 28, 28)
    for i in range(8):
        x[i, 0, 6 + i : 20 + i // 2, 10 + i : 14 + i] = 1.0
    return x


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_same_seed_same_output(digits):
    aug = DigitAugment()
    torch.testing.assert_close(aug(digits, gen(3)), aug(digits, gen(3)), rtol=0, atol=0)


def test_different_seeds_differ(digits):
    aug = DigitAugment()
    assert not torch.equal(aug(digits, gen(0)), aug(digits, gen(1)))


def test_global_rng_used_without_generator(digits):
    aug = DigitAugment()
    torch.manual_seed(5)
    a = aug(digits)
    torch.manual_seed(5)
    b = aug(digits)
    assert torch.equal(a, b)
    assert not torch.equal(a, aug(digits))


@pytest.mark.parametrize("strength", [0.5, 1.0, 2.0, 3.0])
def test_values_in_unit_range(digits, strength):
    out = DigitAugment.with_strength(strength)(digits, gen(0))
    assert out.shape == digits.shape
    assert out.min() >= 0 and out.max() <= 1
    assert torch.isfinite(out).all()


def test_identity_when_every_strength_is_zero(digits):
    aug = DigitAugment(**OFF)
    assert aug.is_identity
    out = aug(digits, gen(0))
    assert torch.equal(out, digits)
    assert out is not digits
    assert torch.equal(DigitAugment.with_strength(0)(digits, gen(0)), digits)
    assert DigitAugment.with_strength(0).is_identity


def test_identity_affine_warp_is_exact(digits):
    """A warp whose random ranges are all degenerate reproduces the image (the grid hits pixel centres)."""
    aug = DigitAugment(**{**OFF, "scale": (1.0, 1.0)})
    aug.scale = (1.0, 1.0)
    out = aug._affine(digits, gen(0))
    torch.testing.assert_close(out, digits, atol=1e-5, rtol=0)


def test_with_strength_scales_defaults():
    one = DigitAugment.with_strength(1.0)
    default = DigitAugment()
    assert repr(one) == repr(default)
    half = DigitAugment.with_strength(0.5)
    assert half.rotation == pytest.approx(DEFAULTS["rotation"] / 2)
    assert half.scale[0] == pytest.approx(1 - (1 - DEFAULTS["scale"][0]) / 2)
    big = DigitAugment.with_strength(10.0)
    assert big.erase_prob == 1.0 and big.blur_prob == 1.0 and big.scale[0] == pytest.approx(0.05)
    assert DigitAugment.with_strength(1.0, rotation=0.0).rotation == 0.0
    with pytest.raises(ValueError, match="strength"):
        DigitAugment.with_strength(-1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_preserved(digits, dtype):
    x = digits.to(dtype)
    out = DigitAugment()(x, gen(0))
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_input_with_cpu_generator(digits):
    x = digits.cuda()
    aug = DigitAugment()
    out = aug(x, gen(0))
    assert out.device == x.device
    torch.testing.assert_close(out, aug(x, gen(0)))
    assert aug(x).device == x.device


def test_per_sample_variety():
    """The same image repeated gets a different random transform in every row of the batch."""
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 8:20, 12:16] = 1.0
    out = DigitAugment(noise_std=0.0)(x.expand(16, -1, -1, -1), gen(0))  # [16, 1, 28, 28]
    flat = out.flatten(1)
    distinct = {tuple(row.tolist()) for row in flat}
    assert len(distinct) == 16


@pytest.mark.parametrize(
    "only",
    [
        {"rotation": 30.0},
        {"shear": 20.0},
        {"translate": 0.2},
        {"scale": (0.5, 0.6)},
        {"erase_prob": 1.0},
        {"noise_std": 0.2},
        {"blur_prob": 1.0},
        {"stroke_prob": 1.0},
    ],
)
def test_each_component_changes_images(digits, only):
    x = digits * 0.5 + 0.25  # grey background, so erasing shows everywhere
    aug = DigitAugment(**{**OFF, **only})
    assert not aug.is_identity
    out = aug(x, gen(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    changed = (out - x).abs().flatten(1).amax(1) > 1e-4  # [B]
    assert changed.float().mean() >= 0.5


def test_erasing_only_removes_ink(digits):
    out = DigitAugment(**{**OFF, "erase_prob": 1.0, "erase_scale": (0.1, 0.2)})(digits, gen(0))
    assert (out <= digits).all()
    assert (out < digits).any()


def test_blur_keeps_mass_of_centred_image(digits):
    out = DigitAugment(**{**OFF, "blur_prob": 1.0})(digits, gen(0))
    torch.testing.assert_close(out.sum((1, 2, 3)), digits.sum((1, 2, 3)), rtol=1e-4, atol=1e-4)


def test_multichannel_and_other_sizes():
    x = torch.rand(3, 3, 32, 20, generator=gen(0))
    out = DigitAugment()(x, gen(1))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_empty_batch():
    x = torch.zeros(0, 1, 28, 28)
    assert DigitAugment()(x).shape == (0, 1, 28, 28)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (torch.rand(1, 28, 28), "4 dimensions"),
        (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "floating"),
        (torch.rand(2, 1, 28, 28) * 2 - 0.5, r"\[0, 1\]"),
        (torch.full((2, 1, 28, 28), float("nan")), "finite"),
    ],
)
def test_rejects_bad_images(bad, match):
    with pytest.raises(ValueError, match=match):
        DigitAugment()(bad)


def test_rejects_bad_generator(digits):
    with pytest.raises(ValueError, match="generator"):
        DigitAugment()(digits, generator=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": (0.0, 1.0)},
        {"scale": (0.9, 0.8)},
        {"scale": (0.5, 1.5)},
        {"scale": 0.5},
        {"rotation": -1.0},
        {"rotation": 270.0},
        {"shear": 80.0},
        {"translate": 1.5},
        {"erase_prob": 1.1},
        {"erase_scale": (0.2, 0.1)},
        {"noise_std": -0.1},
        {"blur_prob": -0.5},
        {"blur_sigma": (0.0, 1.0)},
        {"blur_sigma": (0.5, 3.0)},
    ],
)
def test_rejects_bad_strengths(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DigitAugment(**kwargs)


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.text(max_size=3), st.none(), st.floats(allow_nan=True).filter(lambda v: not 0 <= v <= 1)))
def test_rejects_bad_probabilities(value):
    with pytest.raises(ValueError, match="erase_prob"):
        DigitAugment(erase_prob=value)


def test_multiview_shapes_and_independent_views(digits):
    mv = MultiView(DigitAugment(), n_views=3)
    out = mv(digits, gen(0))
    assert out.shape == (8, 3, 1, 28, 28)
    assert not torch.equal(out[:, 0], out[:, 1])
    torch.testing.assert_close(out, mv(digits, gen(0)), rtol=0, atol=0)


def test_multiview_identity_repeats_images(digits):
    out = MultiView(DigitAugment(**OFF), n_views=2)(digits)
    assert torch.equal(out[:, 0], digits) and torch.equal(out[:, 1], digits)


def test_multiview_accepts_plain_callables(digits):
    out = MultiView(lambda x: x * 0.5, n_views=2)(digits)
    assert out.shape == (8, 2, 1, 28, 28)
    with pytest.raises(ValueError, match="n_views"):
        MultiView(DigitAugment(), n_views=0)
    with pytest.raises(ValueError, match="callable"):
        MultiView("flip")


def test_stroke_width_change_is_a_dilation_or_an_erosion(digits):
    """Every view with stroke_prob=1 lies between the image and its 3x3 grey dilation or erosion."""
    aug = DigitAugment(**{**OFF, "stroke_prob": 1.0})
    out = aug(digits, gen(1))  # seed 1 draws both kinds among the 8 images
    dilated = torch.nn.functional.max_pool2d(digits, 3, stride=1, padding=1)
    eroded = -torch.nn.functional.max_pool2d(-digits, 3, stride=1, padding=1)
    tol = 1e-6
    thicker = ((out >= digits - tol) & (out <= dilated + tol)).flatten(1).all(1)  # [B]
    thinner = ((out <= digits + tol) & (out >= eroded - tol)).flatten(1).all(1)  # [B]
    assert (thicker | thinner).all()
    assert thicker.any() and thinner.any()
    assert not torch.equal(out, digits)
