"""Tests for contrastkit.evaluate.geometry: alignment and uniformity, analytic and brute force."""

from __future__ import annotations

import math

import pytest
import torch

from contrastkit import distances
from contrastkit import evaluate as ev


def test_alignment_analytic() -> None:
    z = torch.randn(20, 5)
    assert ev.alignment(z, 3 * z) == pytest.approx(0.0, abs=1e-6)
    assert ev.alignment(z, -z) == pytest.approx(4.0, abs=1e-5)
    assert ev.alignment(z, -z, alpha=1) == pytest.approx(2.0, abs=1e-5)
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.0, 2.0]])
    assert ev.alignment(a, b) == pytest.approx(2.0)  # ||e1 - e2||^2


def test_uniformity_analytic_and_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    antipodal = torch.tensor([[0.0, 3.0], [0.0, -1.0]])
    assert ev.uniformity(antipodal) == pytest.approx(-8.0)
    assert ev.uniformity(antipodal, t=0.5) == pytest.approx(-2.0)
    assert ev.uniformity(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-6)  # collapsed: log 1

    z = torch.randn(40, 3, dtype=torch.float64)
    u = torch.nn.functional.normalize(z, dim=1)
    pairs = [float(torch.exp(-2 * (u[i] - u[j]).pow(2).sum())) for i in range(40) for j in range(i + 1, 40)]
    expected = math.log(sum(pairs) / len(pairs))
    assert ev.uniformity(z) == pytest.approx(expected)
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 3 * 40)
    assert ev.uniformity(z) == pytest.approx(expected)


def test_uniformity_subsample_is_seeded() -> None:
    z = torch.randn(300, 4)
    a = ev.uniformity(z, max_points=50, seed=1)
    assert a == ev.uniformity(z, max_points=50, seed=1)
    assert a != ev.uniformity(z, max_points=50, seed=2)
    assert abs(a - ev.uniformity(z)) < 0.3
