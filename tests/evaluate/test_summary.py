"""Tests for contrastkit.evaluate.summary: evaluate_embeddings, every metric at once; bad input to any metric."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from contrastkit import evaluate as ev
from tests.helpers import gaussian_blobs

FUZZ = settings(max_examples=40, deadline=None)


def test_evaluate_embeddings_keys_ranges_and_determinism() -> None:
    x, y = gaussian_blobs(500, 8, 5, spread=1.5, seed=4)
    x = x.float()
    res = ev.evaluate_embeddings(x[:400], y[:400], x[400:], y[400:], k=3, seed=1)
    assert (
        set(res)
        == {
            "knn_accuracy",
            "linear_probe_accuracy",
            "precision_at_1",
            "map_at_r",
            "r_precision",
            "verification_auc",
            "verification_eer",
            "alignment",
            "uniformity",
        }
        == set(ev.METRIC_KEYS)
    )
    assert all(isinstance(v, float) and math.isfinite(v) for v in res.values())
    for key in ("knn_accuracy", "linear_probe_accuracy", "precision_at_1", "map_at_r", "r_precision"):
        assert 0.8 <= res[key] <= 1.0, key
    assert res["verification_auc"] > 0.9 and res["verification_eer"] < 0.2
    assert 0.0 <= res["alignment"] <= 4.0
    assert -4.0 <= res["uniformity"] <= 0.0
    assert res["knn_accuracy"] == ev.knn_accuracy(x[:400], y[:400], x[400:], y[400:], k=3)
    again = ev.evaluate_embeddings(x[:400], y[:400], x[400:], y[400:], k=3, seed=1)
    assert again == res
    fast = ev.evaluate_embeddings(x[:400], y[:400], x[400:], y[400:], k=3, seed=1, linear_probe=False)
    assert "linear_probe_accuracy" not in fast
    assert fast == {k: v for k, v in res.items() if k != "linear_probe_accuracy"}


# ----------------------------------------------------------------------------------------------
# Bad input -> ValueError
# ----------------------------------------------------------------------------------------------


def test_clear_messages() -> None:
    x = torch.randn(10, 4)
    y = torch.arange(10) % 2
    with pytest.raises(ValueError, match="k must be at most the number of training samples"):
        ev.knn_accuracy(x, y, x, y, k=11)
    with pytest.raises(ValueError, match="metric must be one of"):
        ev.knn_accuracy(x, y, x, y, metric="manhattan")
    with pytest.raises(ValueError, match="same embedding size"):
        ev.knn_accuracy(x, y, torch.randn(10, 3), y)
    with pytest.raises(ValueError, match=r"test_labels must have shape \[10\]"):
        ev.knn_accuracy(x, y, x, y[:9])
    with pytest.raises(ValueError, match="must be finite"):
        ev.map_at_r(torch.full((10, 4), math.nan), y)
    with pytest.raises(ValueError, match="label that occurs twice"):
        ev.precision_at_1(x, torch.arange(10))
    with pytest.raises(ValueError, match="both same"):
        ev.verification_roc(torch.rand(5), torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="same shape"):
        ev.alignment(x, x[:5])
    with pytest.raises(ValueError, match="at least 2"):
        ev.uniformity(x[:1])
    with pytest.raises(ValueError, match=r"torch\.nn\.Module"):
        ev.embed(lambda t: t, x)  # type: ignore[arg-type]


_bad_numbers = st.one_of(
    st.integers(max_value=0),
    st.floats(max_value=0.0, allow_nan=False),
    st.just(math.nan),
    st.just(math.inf),
    st.just(True),
    st.text(max_size=3),
    st.none(),
)


@FUZZ
@given(value=_bad_numbers, which=st.sampled_from(["alpha", "t", "max_points", "lr", "epochs", "batch", "k"]))
def test_bad_hyperparameters_fuzz(value, which) -> None:
    z = torch.randn(6, 3)
    y = torch.arange(6) % 2
    with pytest.raises(ValueError):
        if which == "alpha":
            ev.alignment(z, z, alpha=value)
        elif which == "t":
            ev.uniformity(z, t=value)
        elif which == "max_points":
            ev.uniformity(z, max_points=value)
        elif which == "lr":
            ev.linear_probe_accuracy(None, z, y, z, y, lr=value)
        elif which == "epochs":
            ev.linear_probe_accuracy(None, z, y, z, y, epochs=value)
        elif which == "batch":
            ev.embed(nn.Identity(), z, batch_size=value)
        else:
            ev.evaluate_embeddings(z, y, z, y, k=value)


def test_evaluate_embeddings_checks_its_inputs_up_front() -> None:
    x, y = gaussian_blobs(40, 4, 2, seed=5)
    with pytest.raises(ValueError, match="train_emb and test_emb must have the same embedding size"):
        ev.evaluate_embeddings(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="linear_probe must be True or False"):
        ev.evaluate_embeddings(x, y, x, y, linear_probe=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be an integer"):
        ev.evaluate_embeddings(x, y, x, y, seed=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be at most the number of training samples"):
        ev.evaluate_embeddings(x[:3], y[:3], x, y, k=5)
    with pytest.raises(ValueError, match=r"test_labels must have shape \[40\]"):
        ev.evaluate_embeddings(x, y, x, y[:10])
    with pytest.raises(ValueError, match="test_emb needs at least one feature column"):
        ev.evaluate_embeddings(x, y, x[:, :0], y)
