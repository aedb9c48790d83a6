"""Image panels (contrastkit.viz.gallery): neighbours of a query, triplets, pairs, augmented views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb

from contrastkit import viz
from contrastkit.augment import DigitAugment

pytestmark = pytest.mark.usefixtures("close_figures")


def test_show_neighbors_marks_wrong_classes():
    emb = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.98, 0.2], [0.97, 0.3], [0.0, 1.0], [-1.0, 0.0]])  # [6, 2]
    labels = torch.tensor([0, 0, 1, 0, 1, 1])
    images = torch.rand(6, 1, 28, 28)
    fig = viz.show_neighbors(0, emb, images, labels, k=3)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "query\ndigit 0"
    assert titles[1].endswith("digit 0") and "✗" not in titles[1]
    assert "✗ digit 1" in titles[2]  # row 2 (label 1) is the second nearest
    assert to_rgb(fig.axes[2].spines["left"].get_edgecolor()) == to_rgb(viz.WRONG_COLOR)
    assert "1 of another class" in fig._suptitle.get_text()
    idx, dist = viz.query_neighbors(0, emb, k=3)
    assert idx.tolist() == [1, 2, 3] and np.all(np.diff(dist) >= 0)
    with pytest.raises(ValueError, match="k must be at most"):
        viz.show_neighbors(0, emb, images, labels, k=6)
    with pytest.raises(ValueError, match="query_index"):
        viz.show_neighbors(6, emb, images, labels, k=2)
    with pytest.raises(ValueError, match="5 images"):
        viz.show_neighbors(0, emb[:5], images, labels[:5], k=2)


def test_show_triplets_from_matrix_or_mined_tuple(blobs):
    emb, labels, images = blobs
    trip = torch.tensor([[0, 1, 40], [30, 31, 90], [60, 61, 0]])
    fig = viz.show_triplets(images, trip, labels, n=2, embeddings=emb)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_ylabel() == "anchor"
    assert "d(a, n)=" in fig.axes[4].get_title()
    fig = viz.show_triplets(images, (trip[:, 0], trip[:, 1], trip[:, 2]), n=10)
    assert len(fig.axes) == 9
    with pytest.raises(ValueError, match="indices must lie"):
        viz.show_triplets(images, torch.tensor([[0, 1, 500]]))
    with pytest.raises(ValueError, match="empty"):
        viz.show_triplets(images, torch.zeros(0, 3, dtype=torch.long))


def test_show_pairs(blobs):
    _, _, images = blobs
    pairs = torch.tensor([[0, 1], [2, 50], [3, 4]])
    fig = viz.show_pairs(images, pairs, torch.tensor([1.0, 0.0, 1.0]), n=3, distances=torch.tensor([0.1, 2.0, 0.3]))
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["same\nd=0.10", "different\nd=2.00", "same\nd=0.30"]


def test_show_augmentations_is_seeded(blobs):
    _, _, images = blobs
    fig = viz.show_augmentations(images[:3], DigitAugment(), n_views=2, n=5, seed=3)
    assert len(fig.axes) == 9
    assert fig.axes[0].get_title() == "original"
    views = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    fig2 = viz.show_augmentations(images[:3], DigitAugment(), n_views=2, n=5, seed=3)
    np.testing.assert_array_equal(views[1], np.asarray(fig2.axes[1].images[0].get_array()))
    assert not np.array_equal(views[1], views[2])  # two different views


def test_query_neighbors_matches_a_cosine_loop():
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(30, 5))
    for q in (0, 17, 29):
        idx, dist = viz.query_neighbors(q, emb, k=6)
        assert idx.dtype == np.int64 and idx.shape == dist.shape == (6,)
        unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        cos_dist = 1.0 - unit @ unit[q]
        cos_dist[q] = np.inf  # the query itself is left out
        expected = np.argsort(cos_dist)[:6]
        np.testing.assert_array_equal(idx, expected)
        np.testing.assert_allclose(dist, cos_dist[expected], atol=1e-6)
    idx, dist = viz.query_neighbors(2, torch.tensor(emb, dtype=torch.float32), k=29)
    assert sorted(idx.tolist()) == [i for i in range(30) if i != 2]
    assert dist.dtype == np.float32 and np.all(np.diff(dist) >= 0)  # float32 embeddings: float32 distances
    with pytest.raises(ValueError, match="k must be at most N - 1 = 29"):
        viz.query_neighbors(0, emb, k=30)
    with pytest.raises(ValueError, match="query_index"):
        viz.query_neighbors(True, emb)
