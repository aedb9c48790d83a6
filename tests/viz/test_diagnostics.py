"""Diagnostic plots (contrastkit.viz.diagnostics): pair distances, training history, similarity matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastkit import viz
from tests.helpers import legend_texts

pytestmark = pytest.mark.usefixtures("close_figures")


def test_plot_pair_distances_histograms_and_lines():
    d = torch.cat([torch.rand(50), 1 + torch.rand(70)])  # [120]
    same = torch.cat([torch.ones(50), torch.zeros(70)]).bool()
    ax = viz.plot_pair_distances(d, same, margin=1.0, threshold=0.9, bins=20)
    assert len(ax.patches) == 40  # 20 bars per histogram
    texts = legend_texts(ax.get_legend())
    assert "margin = 1" in texts and "threshold = 0.9" in texts
    assert "same class (n=50)" in texts and "different class (n=70)" in texts
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="same must have shape"):
        viz.plot_pair_distances(d, same[:3])


def test_plot_history_panels_skip_nan_and_timings():
    nan = float("nan")
    history = {
        "epoch": [1, 2, 3],
        "loss": [1.0, 0.8, 0.7],
        "lr": [1e-3, 5e-4, 1e-4],
        "wall_time": [2.0, 2.0, 2.0],
        "eval_time": [0.1, 0.1, 0.1],
        "knn_accuracy": [nan, 0.8, 0.9],
        "embedding_std": [0.1, 0.11, 0.12],
        "active_fraction": [0.5, 0.3, 0.2],
    }
    fig = viz.plot_history(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "training loss",
        "kNN accuracy",
        "embedding std (0 = collapse)",
        "active triplet fraction",
        "learning rate",
    ]
    assert len(fig.axes[1].lines[0].get_xdata()) == 2  # the NaN epoch is skipped
    fig = viz.plot_history({"epoch": [1], "loss": [0.5], "knn_accuracy": [nan]}, keys=["loss", "knn_accuracy"])
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="'loss'"):
        viz.plot_history({"epoch": [1]})
    with pytest.raises(ValueError, match="entries"):
        viz.plot_history({"epoch": [1, 2], "loss": [0.5, 0.4], "knn_accuracy": [0.1]})


def test_plot_similarity_matrix_sorted_with_boundaries(blobs):
    emb, labels, _ = blobs
    perm = torch.randperm(120, generator=torch.Generator().manual_seed(0))
    ax = viz.plot_similarity_matrix(emb[perm], labels[perm])
    sim = np.asarray(ax.images[0].get_array())
    assert sim.shape == (120, 120)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-6)
    # sorted by class: each 30 × 30 diagonal block is one class, more similar inside than outside
    inside = np.mean([sim[i * 30 : (i + 1) * 30, i * 30 : (i + 1) * 30].mean() for i in range(4)])
    assert inside > sim.mean() + 0.2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3"]
    assert len(ax.lines) == 6  # 3 horizontal + 3 vertical class boundaries
