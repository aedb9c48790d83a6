"""Explorers (contrastkit.widgets.explorers): built headless, controls changed programmatically, figures update."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest
import torch

from contrastkit import losses, mining, viz, widgets
from contrastkit.widgets import explorers

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_redrawn(explorer, before_png: bytes, before_draws: int) -> None:
    assert explorer.n_draws == before_draws + 1
    assert explorer.png.startswith(PNG_MAGIC)
    assert explorer.png != before_png
    assert explorer.image.value == explorer.png


# ----------------------------------------------------------------------------------------------
# loss explorer
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loss_widget():
    return widgets.loss_explorer()


def test_loss_explorer_initial_state_is_a_static_figure(loss_widget):
    w = loss_widget
    assert isinstance(w, ipywidgets.VBox)
    assert set(w.controls) == {"temperature", "margin"}
    assert w.n_draws >= 1 and w.png.startswith(PNG_MAGIC)
    assert len(w.figure.axes) == 2
    assert set(w.loss_values) == {"nt_xent", "supcon", "contrastive", "triplet"}
    bundle = w._repr_mimebundle_()
    assert "image/png" in bundle and "text/plain" in bundle  # what a notebook without a kernel shows


def test_low_temperature_concentrates_weight_on_hard_negatives(loss_widget):
    w = loss_widget
    z1, z2, _ = explorers._toy_batch(4, 3, 8, 0)
    shares = {}
    for t in (1.0, 0.05):
        png, draws, before = w.png, w.n_draws, dict(w.loss_values)
        w.controls["temperature"].value = t
        if before:
            assert_redrawn(w, png, draws)
        assert w.loss_values["nt_xent"] == pytest.approx(float(losses.nt_xent_loss(z1, z2, temperature=t)), rel=1e-5)
        neg = w.weights[1:] / w.weights[1:].sum()
        shares[t] = np.sort(neg)[::-1][:3].sum()  # the three hardest negatives' share
        assert w.weights.sum() == pytest.approx(1.0)
        assert str(t) in w.figure.axes[0].get_title() or f"{t:.3g}" in w.figure.axes[0].get_title()
    assert shares[0.05] > 0.7 > shares[1.0]


def test_margin_changes_margin_losses_only(loss_widget):
    w = loss_widget
    w.controls["margin"].value = 0.2
    before = dict(w.loss_values)
    png, draws = w.png, w.n_draws
    w.controls["margin"].value = 1.5
    assert_redrawn(w, png, draws)
    assert w.loss_values["nt_xent"] == before["nt_xent"]
    assert w.loss_values["contrastive"] > before["contrastive"]
    assert w.loss_values["triplet"] > before["triplet"]
    assert "margin = 1.50" in w.figure.axes[1].get_title()


def test_loss_explorer_rejects_bad_sizes():
    with pytest.raises(ValueError, match="per_class"):
        widgets.loss_explorer(per_class=1)


# ----------------------------------------------------------------------------------------------
# mining explorer
# ----------------------------------------------------------------------------------------------


def test_mining_explorer_draws_the_mined_triplets():
    w = widgets.mining_explorer(n_classes=3, per_class=4)
    assert set(w.controls) == {"strategy", "margin", "anchor"}
    w.set(anchor=-1, strategy="semihard")  # every anchor
    counts = {}
    for strategy in ("all", "hard", "semihard"):
        png, draws = w.png, w.n_draws
        w.controls["strategy"].value = strategy  # starts at "semihard": every step is a change
        assert_redrawn(w, png, draws)
        counts[strategy] = len(w.triplets)
        # two lines per triplet drawn (positive solid, negative dashed)
        ax = w.figure.axes[0]
        drawn = [line for line in ax.lines if len(line.get_xdata()) == 2]
        assert len(drawn) == 2 * len(w.triplets)
        assert f"{len(w.triplets)} triplets mined" in ax.get_title()
    assert counts["hard"] == 12  # one per anchor
    # the widget's triplets are exactly what the miner returns
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(4)
    angles = torch.arange(3) * (2 * np.pi / 3)
    points = 1.2 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)[labels] + 0.7 * torch.randn(
        12, 2, generator=gen
    )
    a, p, n = mining.mine_triplets(points, labels, strategy="semihard", margin=w.controls["margin"].value)
    np.testing.assert_array_equal(w.triplets, torch.stack([a, p, n], 1).numpy())
    # a larger margin activates more batch-all triplets
    w.controls["strategy"].value = "all"
    few = len(w.triplets)
    w.controls["margin"].value = 2.5
    assert len(w.triplets) > few
    # a single anchor: only its triplets, with its two circles per positive
    w.controls["anchor"].value = 3
    ax = w.figure.axes[0]
    assert all(t[0] == 3 for t in w.triplets[w.triplets[:, 0] == 3])
    assert "anchor 3" in ax.get_title()
    assert len(ax.patches) == 2 * len(np.unique(w.triplets[w.triplets[:, 0] == 3][:, 1]))


def test_mining_explorer_rejects_too_many_classes():
    with pytest.raises(ValueError, match="at most 10"):
        widgets.mining_explorer(n_classes=11)


# ----------------------------------------------------------------------------------------------
# embedding explorer
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_embedding():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(20)  # [60]
    emb = 3.0 * torch.randn(3, 6, generator=gen)[labels] + torch.randn(60, 6, generator=gen)  # [60, 6]
    images = torch.rand(60, 1, 28, 28, generator=gen)
    points = viz.project(emb, "pca", cache_dir=False)
    return points, emb, images, labels


def test_embedding_explorer_follows_the_query(small_embedding):
    points, emb, images, labels = small_embedding
    w = widgets.embedding_explorer(points, emb, images, labels, k=5, index=0)
    assert set(w.controls) == {"index", "k"}
    np.testing.assert_array_equal(w.neighbors, viz.query_neighbors(0, emb, 5)[0])
    assert len(w.figure.axes) == 1 + 3 * 2  # map + a 3 × 2 image grid
    png, draws = w.png, w.n_draws
    w.controls["index"].value = 41
    assert_redrawn(w, png, draws)
    np.testing.assert_array_equal(w.neighbors, viz.query_neighbors(41, emb, 5)[0])
    assert "query 41 (digit 2)" in w.figure.axes[0].get_title()
    assert w.figure.axes[1].get_title() == "query\ndigit 2"
    png, draws = w.png, w.n_draws
    w.controls["k"].value = 8
    assert_redrawn(w, png, draws)
    assert len(w.neighbors) == 8


def test_embedding_explorer_checks_inputs(small_embedding):
    points, emb, images, labels = small_embedding
    with pytest.raises(ValueError, match="same number of rows"):
        widgets.embedding_explorer(points[:10], emb, images, labels)
    with pytest.raises(ValueError, match="k must be at most"):
        widgets.embedding_explorer(points, emb, images, labels, k=30)
    with pytest.raises(ValueError, match="index"):
        widgets.embedding_explorer(points, emb, images, labels, index=60)


# ----------------------------------------------------------------------------------------------
# augmentation explorer
# ----------------------------------------------------------------------------------------------


def test_augmentation_explorer_sliders_change_the_views():
    images = torch.zeros(4, 1, 28, 28)
    images[:, :, 8:20, 12:16] = 1.0
    w = widgets.augmentation_explorer(images, n_images=2, n_views=3)
    assert w.views.shape == (2, 3, 1, 28, 28)
    assert len(w.figure.axes) == 2 * 4
    draws = w.n_draws
    w.set(min_scale=1.0, rotation=0, shear=0, translate=0, erase_prob=0, noise_std=0, blur_prob=0, stroke_prob=0)
    assert w.n_draws == draws + 1  # one redraw for the seven changes
    assert w.augment.is_identity
    torch.testing.assert_close(w.views, images[:2, None].expand(2, 3, 1, 28, 28))  # strength 0: the originals
    png, draws = w.png, w.n_draws
    w.controls["rotation"].value = 45.0
    assert_redrawn(w, png, draws)
    assert w.augment.rotation == 45.0
    assert not torch.equal(w.views[:, 0], images[:2])
    with pytest.raises(ValueError, match="unknown control"):
        w.set(zoom=2)
