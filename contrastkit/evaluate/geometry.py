"""The geometry of an embedding on the sphere: alignment and uniformity.

References:
    - [1] Understanding Contrastive Representation Learning through Alignment and Uniformity on the
      Hypersphere, Wang and Isola 2020, arXiv:2005.10242
"""

from __future__ import annotations

import torch

from contrastkit._checks import check_embeddings, check_int, check_positive, check_positive_int, describe
from contrastkit.evaluate._kernels import log_mean_potential, mean_alignment

__all__ = ["MAX_ALPHA", "MAX_T", "alignment", "uniformity"]

#: Largest alignment exponent: unit vectors are at most 2 apart, and 2**100 is still finite in float32.
MAX_ALPHA = 100.0
#: Largest uniformity temperature: the log-mean potential is at least -4 t and must stay finite.
MAX_T = 1e30


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2) -> float:
    """Alignment E ||f(x) - f(y)||^alpha over positive pairs of L2-normalised embeddings (lower is better).

    Row i of ``z1`` and row i of ``z2`` form a positive pair (two views of one image, or, for
    labelled data, two samples of one class). Rows are L2-normalised first, so the value lies in
    [0, 2^alpha].

    - [1] Wang and Isola 2020, arXiv:2005.10242

    Args:
        z1: embeddings [N, D].
        z2: embeddings [N, D] of the positives.
        alpha: exponent, in (0, ``MAX_ALPHA``].

    Returns:
        The mean distance to the power ``alpha``.
    """
    check_embeddings("z1", z1)
    check_embeddings("z2", z2)
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    alpha = check_positive("alpha", alpha)
    if alpha > MAX_ALPHA:
        raise ValueError(
            f"alpha must be at most {MAX_ALPHA:g} (distances reach 2, and 2**alpha must stay finite), got {alpha!r}"
        )
    return mean_alignment(z1, z2, alpha)


def uniformity(z: torch.Tensor, t: float = 2, *, max_points: int = 5000, seed: int = 0) -> float:
    """Uniformity log E exp(-t ||f(x) - f(y)||²) over distinct pairs of L2-normalised embeddings.

    Lower (more negative) means the embeddings spread more evenly over the sphere; the minimum
    for 2 points is -4t (antipodal). Pairs are all i < j, computed in row chunks with a stable
    log-sum-exp. With more than ``max_points`` rows, a fixed random subset of that size (drawn
    with ``seed``) is used, which keeps the cost bounded and the value reproducible.

    - [1] Wang and Isola 2020, arXiv:2005.10242

    Args:
        z: embeddings [N, D], N >= 2.
        t: temperature of the Gaussian potential, > 0.
        max_points: largest number of rows used, >= 2.
        seed: seed of the subsample.

    Returns:
        The log of the mean Gaussian potential.
    """
    check_embeddings("z", z)
    if z.shape[0] < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {describe(z)}")
    t = check_positive("t", t)
    if t > MAX_T:
        raise ValueError(f"t must be at most {MAX_T:g} (exp(-4 t) must not underflow to a log of -inf), got {t!r}")
    check_positive_int("max_points", max_points, minimum=2)
    check_int("seed", seed)
    return log_mean_potential(z, t, max_points, seed)
