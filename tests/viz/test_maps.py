"""Class-coloured maps (contrastkit.viz.maps): point counts, legends, class names, thumbnails, panels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.offsetbox import AnnotationBbox

from contrastkit import viz
from contrastkit.viz import maps
from tests.helpers import legend_texts

pytestmark = pytest.mark.usefixtures("close_figures")


def test_plot_embedding_points_legend_names_and_thumbnails(blobs):
    emb, labels, images = blobs
    points = viz.project(emb, "pca", cache_dir=False)
    ax = viz.plot_embedding(points, labels, images=images, n_thumbnails=7, title="blobs")
    assert ax.collections[0].get_offsets().shape == (120, 2)
    assert legend_texts(ax.get_legend()) == ["0", "1", "2", "3"]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3"]  # names written on the map
    boxes = [a for a in ax.get_children() if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 4  # four tight blobs: one thumbnail each, the rest would overlap
    assert {tuple(np.round(to_rgb(b.patch.get_edgecolor()), 3)) for b in boxes} == {
        tuple(np.round(to_rgb(viz.DIGIT_COLORS[c]), 3)) for c in range(4)
    }
    assert ax.get_title() == "blobs"
    # the points carry their class colours
    colors = ax.collections[0].get_facecolors()[:, :3]
    assert {tuple(np.round(c, 3)) for c in colors} == {
        tuple(np.round(to_rgb(viz.DIGIT_COLORS[c]), 3)) for c in range(4)
    }


def test_plot_embedding_without_labels_or_extras(blobs):
    emb, _, _ = blobs
    _, ax = plt.subplots()
    out = viz.plot_embedding(emb[:, :2], ax=ax)
    assert out is ax
    assert ax.collections[0].get_offsets().shape == (120, 2)
    assert ax.get_legend() is None and not ax.texts


def test_thumbnails_are_spread_out():
    points = np.random.default_rng(0).uniform(size=(500, 2))
    idx = maps._spread_indices(points, 10)
    assert len(set(idx.tolist())) == 10
    chosen = points[idx]
    gaps = np.linalg.norm(chosen[:, None] - chosen[None], axis=2) + np.eye(10)
    assert gaps.min() > 0.15  # far apart, unlike 10 random points in the unit square


def test_thumbnails_keep_clear_of_class_names():
    rng = np.random.default_rng(0)
    points = rng.uniform(size=(400, 2))
    labels = (points[:, 0] > 0.5).astype(np.int64) + 2 * (points[:, 1] > 0.5)  # four quadrants
    images = rng.uniform(size=(400, 28, 28)).astype(np.float32)
    ax = viz.plot_embedding(points, labels, images=images, n_thumbnails=12)
    boxes = [a for a in ax.get_children() if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 12
    names = np.array([t.get_position() for t in ax.texts])  # [4, 2]
    centres = np.array([b.xy for b in boxes])  # [12, 2]
    assert np.linalg.norm(centres[:, None] - names[None], axis=2).min() > maps.THUMBNAIL_GAP / 2 - 1e-9
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(12)
    assert gaps.min() > maps.THUMBNAIL_GAP * 0.9  # extent of this map is about 1 × 1


def test_class_names_are_pushed_apart():
    centres = np.array([[0.5, 0.5], [0.5, 0.5], [0.51, 0.5]])
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    spread = maps._spread_labels(centres, points)
    gaps = np.linalg.norm(spread[:, None] - spread[None], axis=2) + np.eye(3)
    assert gaps.min() > 0.04


def test_plot_embedding_grid_panels_and_shared_legend(blobs):
    emb, labels, _ = blobs
    grid = {"PCA": viz.project(emb, "pca", cache_dir=False), "first two dims": emb[:, :2], "last two": emb[:, -2:]}
    fig = viz.plot_embedding_grid(grid, labels)
    assert [ax.get_title() for ax in fig.axes] == list(grid)
    assert all(ax.collections[0].get_offsets().shape == (120, 2) for ax in fig.axes)
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1 and legend_texts(fig.legends[0]) == ["0", "1", "2", "3"]
    fig2 = viz.plot_embedding_grid(grid, labels, ncols=2)  # 2 × 2 with the empty fourth panel removed
    assert len(fig2.axes) == 3
