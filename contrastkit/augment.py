"""Random augmentations for handwritten digits, applied per sample to a whole batch at once.

Contrastive methods such as SimCLR learn what the augmentations leave unchanged: two random views
of the same digit are pulled together, views of different digits pushed apart. The augmentations
therefore define the invariances the encoder learns, and they must be ones a digit really has:

- **Geometry** (random resized crop, rotation, shear, translation): a 7 written a little larger,
  tilted, slanted or off-centre is still a 7. All of it is one batched ``affine_grid`` +
  ``grid_sample`` call with a different random matrix per image, so there is no Python loop
  over samples and it runs just as well on a GPU.
- **Random erasing**: a digit with a small piece of stroke missing is still recognisable.
- **Gaussian noise and blur**: scanner noise and pen thickness do not change the digit.

Two augmentations that are standard for natural images are deliberately absent:

- **Horizontal flips** change what a digit *is*. A mirrored 2, 3, 4, 7 or 9 is mirror-writing
  or another shape (a flipped "b" is a "d"); a mirrored 5 looks like a 2 in some handwriting.
  Declaring an image and its mirror "the same" teaches the encoder an invariance that digits do
  not have, and it then merges classes it should keep apart.
- **Colour jitter** has nothing to act on. MNIST is single-channel grayscale, so hue and
  saturation do not exist, and the strokes are nearly binary: changing brightness or contrast
  only rescales ink that the network can already normalise away, so it adds cost without
  teaching a useful invariance (and brightness shifts would lift the black background).

Randomness comes from a ``torch.Generator`` so that a seeded generator gives identical views on
every run; without one, torch's global random number generator is used.

References:
    - [0] SimCLR, Chen et al. 2020, arXiv:2002.05709 (augmentations define the learned invariances)
    - [1] Random Erasing, Zhong et al. 2020, arXiv:1708.04896
    - [2] Spatial Transformer Networks, Jaderberg et al. 2015, arXiv:1506.02025 (affine_grid/grid_sample)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from contrastkit._checks import check_fraction, check_nonnegative, check_positive_int, check_tensor

__all__ = ["DigitAugment", "MultiView"]

_BLUR_RADIUS = 2  # 5-tap kernel, enough for sigma <= 1.2

#: Default strengths of :class:`DigitAugment` (what ``DigitAugment.with_strength(1)`` gives).
DEFAULTS: dict = {
    "scale": (0.6, 1.0),
    "rotation": 15.0,
    "shear": 10.0,
    "translate": 0.12,
    "erase_prob": 0.25,
    "erase_scale": (0.02, 0.12),
    "noise_std": 0.1,
    "blur_prob": 0.2,
    "blur_sigma": (0.3, 1.0),
    "stroke_prob": 0.9,
}


def _uniform(shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn from ``generator`` (or the global RNG), returned on ``device``."""
    if generator is None:
        return torch.rand(shape, device=device)
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _normal(shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal numbers drawn from ``generator`` (or the global RNG), returned on ``device``."""
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def _between(u: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * u


def _check_range(name: str, value: object, lo: float, hi: float) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    a = check_nonnegative(f"{name}[0]", value[0])
    b = check_nonnegative(f"{name}[1]", value[1])
    if not lo <= a <= b <= hi:
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
    return (a, b)


class DigitAugment:
    """Per-sample random augmentation of a batch of digit images.

    Pipeline, each step with its own random parameters per image: random resized crop + rotation +
    shear + translation (one affine warp, zero padding), a thicker or thinner pen stroke (with
    probability ``stroke_prob``), Gaussian blur (with probability ``blur_prob``), random erasing
    (with probability ``erase_prob``), Gaussian noise (standard deviation uniform in
    [0, ``noise_std``]), then clamping to [0, 1]. Setting every strength to
    0 (``scale=(1, 1)``, the rest 0) gives the identity; so does ``DigitAugment.with_strength(0)``.

    The defaults are meant for SimCLR on MNIST: a crop of 60-100% of the area, ±15° rotation,
    ±10° shear, ±12% shift, a changed stroke width in 90% of the views, then occasional blur and
    erasing and light noise. Every view stays
    recognisable as its digit, yet two views of one image differ enough that matching them needs
    more than comparing pixels. :meth:`with_strength` scales them all at once for experiments.

    Args:
        scale: range of the crop's area as a fraction of the image (the crop is then resized back to
            full size, i.e. a zoom-in by up to ``1/sqrt(scale[0])``); ``(1, 1)`` is off.
        rotation: maximum rotation in degrees (uniform in ``[-rotation, rotation]``).
        shear: maximum shear angle in degrees, horizontally and vertically.
        translate: maximum shift as a fraction of the image size (applied on top of the crop's own
            random position).
        erase_prob: probability of erasing one random rectangle (set to background, 0).
        erase_scale: range of the erased area as a fraction of the image.
        noise_std: maximum standard deviation of the additive Gaussian noise.
        blur_prob: probability of a Gaussian blur.
        blur_sigma: range of the blur's standard deviation in pixels.
        stroke_prob: probability of changing the stroke width: half of the time thicker (a 3×3 grey
            dilation), half of the time thinner (a 3×3 grey erosion), blended with the image by a
            uniform random amount. Two views of one digit otherwise share its writer's pen; without
            this, SimCLR can match views by stroke width instead of by shape.

    Example:
        >>> aug = DigitAugment()
        >>> views = aug(images, generator=torch.Generator().manual_seed(0))  # [B, 1, 28, 28]
    """

    def __init__(
        self,
        scale: tuple[float, float] = DEFAULTS["scale"],
        rotation: float = DEFAULTS["rotation"],
        shear: float = DEFAULTS["shear"],
        translate: float = DEFAULTS["translate"],
        erase_prob: float = DEFAULTS["erase_prob"],
        erase_scale: tuple[float, float] = DEFAULTS["erase_scale"],
        noise_std: float = DEFAULTS["noise_std"],
        blur_prob: float = DEFAULTS["blur_prob"],
        blur_sigma: tuple[float, float] = DEFAULTS["blur_sigma"],
        stroke_prob: float = DEFAULTS["stroke_prob"],
    ):
        self.scale = _check_range("scale", scale, 0.0, 1.0)
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be a pair with 0 < low <= high <= 1, got {scale!r}")
        self.rotation = check_nonnegative("rotation", rotation)
        if self.rotation > 180:
            raise ValueError(f"rotation must be at most 180 degrees, got {rotation!r}")
        self.shear = check_nonnegative("shear", shear)
        if self.shear >= 60:
            raise ValueError(f"shear must be below 60 degrees, got {shear!r}")
        self.translate = check_fraction("translate", translate)
        self.erase_prob = check_fraction("erase_prob", erase_prob)
        self.erase_scale = _check_range("erase_scale", erase_scale, 0.0, 1.0)
        self.noise_std = check_nonnegative("noise_std", noise_std)
        self.blur_prob = check_fraction("blur_prob", blur_prob)
        self.blur_sigma = _check_range("blur_sigma", blur_sigma, 0.0, 1.2)
        if self.blur_sigma[0] <= 0:
            raise ValueError(f"blur_sigma must be a pair with 0 < low <= high <= 1.2, got {blur_sigma!r}")
        self.stroke_prob = check_fraction("stroke_prob", stroke_prob)

    @classmethod
    def with_strength(cls, strength: float, **overrides: object) -> DigitAugment:
        """The default augmentation with every strength multiplied by ``strength``.

        ``0`` is the identity, ``1`` the defaults, ``2`` twice as strong (probabilities capped at 1,
        the crop at 5% of the area, rotation at 180°, shear at 50°, translation at 0.5).

        Args:
            strength: scale factor, >= 0.
            **overrides: any constructor argument, taking precedence over the scaled value.
        """
        s = check_nonnegative("strength", strength)
        d = DEFAULTS
        kwargs: dict[str, object] = {
            "scale": (max(0.05, 1.0 - (1.0 - d["scale"][0]) * s), 1.0),
            "rotation": min(180.0, d["rotation"] * s),
            "shear": min(50.0, d["shear"] * s),
            "translate": min(0.5, d["translate"] * s),
            "erase_prob": min(1.0, d["erase_prob"] * s),
            "noise_std": d["noise_std"] * s,
            "blur_prob": min(1.0, d["blur_prob"] * s),
            "stroke_prob": min(1.0, d["stroke_prob"] * s),
        }
        kwargs.update(overrides)
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        """True when every strength is 0, so the augmentation returns its input unchanged."""
        return not (self._geometric or self.erase_prob or self.noise_std or self.blur_prob or self.stroke_prob)

    @property
    def _geometric(self) -> bool:
        return self.scale != (1.0, 1.0) or bool(self.rotation or self.shear or self.translate)

    def __repr__(self) -> str:
        return (
            f"DigitAugment(scale={self.scale}, rotation={self.rotation:g}, shear={self.shear:g}, "
            f"translate={self.translate:g}, erase_prob={self.erase_prob:g}, erase_scale={self.erase_scale}, "
            f"noise_std={self.noise_std:g}, blur_prob={self.blur_prob:g}, blur_sigma={self.blur_sigma}, "
            f"stroke_prob={self.stroke_prob:g})"
        )

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment every image of the batch with its own random parameters.

        Args:
            x: images [B, C, H, W] with values in [0, 1], on any device, any float dtype.
            generator: source of randomness; the same seed gives the same output. A CPU generator
                works for CUDA inputs (numbers are drawn on the CPU and moved). None uses torch's
                global random number generator.

        Returns:
            Augmented images [B, C, H, W] in [0, 1], same device and dtype as ``x``.
        """
        x = check_tensor("x", x, ndim=4)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if x.numel():
            lo, hi = (float(v) for v in torch.aminmax(x))  # one device sync, not two
            if lo < 0 or hi > 1:
                raise ValueError(
                    f"x must hold values in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; augment before normalising"
                )
        if self.is_identity or x.shape[0] == 0:
            return x.clone()
        dtype = x.dtype
        out = x.float() if dtype in (torch.float16, torch.bfloat16) and x.device.type == "cpu" else x
        if self._geometric:
            out = self._affine(out, generator)
        if self.stroke_prob:
            out = self._stroke(out, generator)
        if self.blur_prob:
            out = self._blur(out, generator)
        if self.erase_prob:
            out = self._erase(out, generator)
        if self.noise_std:
            b = out.shape[0]
            std = self.noise_std * _uniform((b, 1, 1, 1), out.device, generator)  # [B, 1, 1, 1]
            out = out + std.to(out.dtype) * _normal(tuple(out.shape), out.device, generator).to(out.dtype)
        return out.clamp(0.0, 1.0).to(dtype)

    def _affine(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        b = x.shape[0]
        u = _uniform((b, 8), x.device, generator).to(x.dtype)  # [B, 8]
        side = _between(u[:, 0], *self.scale).sqrt()  # [B] crop side as a fraction of the image
        angle = torch.deg2rad(_between(u[:, 1], -self.rotation, self.rotation))  # [B]
        sx = torch.tan(torch.deg2rad(_between(u[:, 2], -self.shear, self.shear)))  # [B]
        sy = torch.tan(torch.deg2rad(_between(u[:, 3], -self.shear, self.shear)))  # [B]
        # crop centre anywhere the crop fits, plus an extra shift; normalised coordinates span [-1, 1]
        centre = (2 * u[:, 4:6] - 1) * (1 - side).unsqueeze(1)  # [B, 2]
        shift = (2 * u[:, 6:8] - 1) * (2 * self.translate)  # [B, 2]
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # [B, 2, 2]
        one = torch.ones_like(sx)
        shr = torch.stack([torch.stack([one, sx], -1), torch.stack([sy, one], -1)], -2)  # [B, 2, 2]
        linear = side.view(b, 1, 1) * (rot @ shr)  # [B, 2, 2] output -> input coordinates
        theta = torch.cat([linear, (centre + shift).unsqueeze(-1)], dim=2)  # [B, 2, 3]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # [B, H, W, 2]
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _stroke(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        b = x.shape[0]
        u = _uniform((b, 2), x.device, generator).to(x.dtype)  # [B, 2]
        thicker = (u[:, 0] < self.stroke_prob / 2).view(b, 1, 1, 1)  # [B, 1, 1, 1]
        thinner = ((u[:, 0] >= self.stroke_prob / 2) & (u[:, 0] < self.stroke_prob)).view(b, 1, 1, 1)
        amount = u[:, 1].view(b, 1, 1, 1)  # [B, 1, 1, 1] how far towards the dilated / eroded image
        dilated = F.max_pool2d(x, 3, stride=1, padding=1)  # [B, C, H, W] grey dilation
        eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)  # [B, C, H, W] grey erosion
        target = torch.where(thicker, dilated, torch.where(thinner, eroded, x))  # [B, C, H, W]
        return x + amount * (target - x)

    def _blur(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        b, c, h, w = x.shape
        u = _uniform((b, 2), x.device, generator).to(x.dtype)  # [B, 2]
        apply = u[:, 0] < self.blur_prob  # [B]
        sigma = _between(u[:, 1], *self.blur_sigma)  # [B]
        taps = torch.arange(-_BLUR_RADIUS, _BLUR_RADIUS + 1, device=x.device, dtype=x.dtype)  # [K]
        kernel = torch.exp(-0.5 * (taps / sigma.unsqueeze(1)) ** 2)  # [B, K]
        kernel = kernel / kernel.sum(1, keepdim=True)
        kernel = kernel.repeat_interleave(c, dim=0)  # [B*C, K], one kernel per (image, channel)
        flat = x.reshape(1, b * c, h, w)  # images as channels of one batch, for a grouped convolution
        flat = F.conv2d(flat, kernel.view(b * c, 1, -1, 1), padding=(_BLUR_RADIUS, 0), groups=b * c)
        flat = F.conv2d(flat, kernel.view(b * c, 1, 1, -1), padding=(0, _BLUR_RADIUS), groups=b * c)
        return torch.where(apply.view(b, 1, 1, 1), flat.view(b, c, h, w), x)

    def _erase(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        b, _, h, w = x.shape
        u = _uniform((b, 5), x.device, generator).to(torch.float32)  # [B, 5]
        apply = u[:, 0] < self.erase_prob  # [B]
        area = _between(u[:, 1], *self.erase_scale) * (h * w)  # [B] pixels
        ratio = torch.exp(_between(u[:, 2], math.log(0.3), math.log(1 / 0.3)))  # [B] height / width
        eh = (area * ratio).sqrt().round().clamp(1, h)  # [B]
        ew = (area / ratio).sqrt().round().clamp(1, w)  # [B]
        top = (u[:, 3] * (h - eh + 1)).floor()  # [B]
        left = (u[:, 4] * (w - ew + 1)).floor()  # [B]
        rows = torch.arange(h, device=x.device, dtype=torch.float32)  # [H]
        cols = torch.arange(w, device=x.device, dtype=torch.float32)  # [W]
        in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])  # [B, H]
        in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])  # [B, W]
        mask = in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None]  # [B, H, W]
        return x.masked_fill(mask.unsqueeze(1), 0.0)


class MultiView:
    """Several independent random views of each image, for SimCLR (V=2) and SupCon (V>=2).

    All ``B * V`` views are produced by one call of the underlying augmentation, so the batched
    warp runs once.

    Args:
        augment: a callable ``augment(x [N, C, H, W], generator=...) -> [N, C, H, W]``, typically
            :class:`DigitAugment`.
        n_views: number of views V per image.
    """

    def __init__(self, augment: Callable[..., torch.Tensor], n_views: int = 2):
        if not callable(augment):
            raise ValueError(f"augment must be callable, got {type(augment).__name__}")
        self.augment = augment
        self.n_views = check_positive_int("n_views", n_views)

    def __repr__(self) -> str:
        return f"MultiView({self.augment!r}, n_views={self.n_views})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Make V views of every image.

        Args:
            x: images [B, C, H, W] in [0, 1].
            generator: passed to the augmentation.

        Returns:
            Views [B, V, C, H, W]; ``out[:, v]`` is the v-th view of each image.
        """
        x = check_tensor("x", x, ndim=4)
        b, v = x.shape[0], self.n_views
        rep = x.unsqueeze(1).expand(b, v, *x.shape[1:]).reshape(b * v, *x.shape[1:])  # [B*V, C, H, W]
        out = self.augment(rep, generator=generator) if generator is not None else self.augment(rep)
        return out.reshape(b, v, *x.shape[1:])  # [B, V, C, H, W]
