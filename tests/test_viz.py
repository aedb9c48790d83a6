"""Plots and projections: point counts, legends, panels, the projection cache and input checks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.colors import to_rgb
from matplotlib.offsetbox import AnnotationBbox

from contrastkit import projection, viz
from contrastkit.augment import DigitAugment


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def blobs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """120 points in 16-D around 4 well-separated class centres, with 28×28 'images'."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(30)  # [120]
    centres = 6.0 * torch.randn(4, 16, generator=gen)  # [4, 16]
    emb = centres[labels] + 0.3 * torch.randn(120, 16, generator=gen)  # [120, 16]
    images = torch.rand(120, 1, 28, 28, generator=gen)  # [120, 1, 28, 28]
    return emb, labels, images


def legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


# ----------------------------------------------------------------------------------------------
# re-exports
# ----------------------------------------------------------------------------------------------


def test_viz_re_exports_the_projection_and_gallery_functions():
    from contrastkit import _plotting, gallery

    for name in viz.__all__:
        assert hasattr(viz, name), name
    for module in (projection, gallery):
        for name in module.__all__:
            assert getattr(viz, name) is getattr(module, name), name
    assert viz.DIGIT_COLORS is _plotting.DIGIT_COLORS


# ----------------------------------------------------------------------------------------------
# palette
# ----------------------------------------------------------------------------------------------


def test_digit_colors_are_ten_distinct_fixed_colours():
    colors = viz.digit_colors()
    assert len(colors) == 10
    assert len({to_rgb(c) for c in colors}) == 10
    assert colors == list(viz.DIGIT_COLORS)
    colors[0] = "red"  # a copy: the module's palette is untouched
    assert viz.digit_colors()[0] == viz.DIGIT_COLORS[0]


# ----------------------------------------------------------------------------------------------
# project
# ----------------------------------------------------------------------------------------------


class CountingFit:
    """Spy around projection._fit_projection counting the uncached projections."""

    def __init__(self):
        self.calls = 0
        self.inner = projection._fit_projection

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


def test_pca_projection_is_cached_and_matches_sklearn(blobs, tmp_path, monkeypatch):
    from sklearn.decomposition import PCA

    emb, _, _ = blobs
    spy = CountingFit()
    monkeypatch.setattr(projection, "_fit_projection", spy)
    first = viz.project(emb, "pca", cache_dir=tmp_path)
    assert first.dtype == np.float32 and first.shape == (120, 2) and np.isfinite(first).all()
    second = viz.project(emb.numpy(), "pca", cache_dir=tmp_path)  # same values as a NumPy array
    assert spy.calls == 1
    np.testing.assert_array_equal(first, second)
    assert len(list(tmp_path.glob("pca-*.npy"))) == 1
    expected = PCA(2).fit_transform(emb.double().numpy())
    np.testing.assert_allclose(np.abs(first), np.abs(expected), rtol=1e-4, atol=1e-3)


def test_cache_key_depends_on_data_method_seed_and_kwargs(blobs, tmp_path, monkeypatch):
    emb, _, _ = blobs
    spy = CountingFit()
    monkeypatch.setattr(projection, "_fit_projection", spy)
    viz.project(emb, "pca", cache_dir=tmp_path)
    viz.project(emb + 1e-3, "pca", cache_dir=tmp_path)
    viz.project(emb, "pca", seed=1, cache_dir=tmp_path)
    viz.project(emb, "pca", cache_dir=False)
    viz.project(emb, "pca", cache_dir=False)
    assert spy.calls == 5
    assert len(list(tmp_path.glob("*.npy"))) == 3
    monkeypatch.setattr(projection, "_fit_projection", lambda x, method, seed, kwargs: np.zeros((len(x), 2)))
    viz.project(emb, "tsne", cache_dir=tmp_path, perplexity=5.0)
    viz.project(emb, "tsne", cache_dir=tmp_path, perplexity=6.0)
    assert len(list(tmp_path.glob("tsne-*.npy"))) == 2


def test_default_cache_dir_comes_from_the_environment(blobs, tmp_path, monkeypatch):
    emb, _, _ = blobs
    monkeypatch.setenv(projection.CACHE_ENV, str(tmp_path / "here"))
    viz.project(emb, "pca")
    assert len(list((tmp_path / "here").glob("pca-*.npy"))) == 1


def test_corrupt_cache_file_is_recomputed(blobs, tmp_path, monkeypatch):
    emb, _, _ = blobs
    good = viz.project(emb, "pca", cache_dir=tmp_path)
    (path,) = tmp_path.glob("pca-*.npy")
    path.write_bytes(b"not an npy file")
    spy = CountingFit()
    monkeypatch.setattr(projection, "_fit_projection", spy)
    np.testing.assert_array_equal(viz.project(emb, "pca", cache_dir=tmp_path), good)
    assert spy.calls == 1
    np.testing.assert_array_equal(np.load(path), good)  # rewritten


def test_tiny_umap_is_finite_and_cached(tmp_path, monkeypatch):
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(3).repeat_interleave(100)  # [300]
    emb = 5.0 * torch.randn(3, 8, generator=gen)[labels] + torch.randn(300, 8, generator=gen)  # [300, 8]
    spy = CountingFit()
    monkeypatch.setattr(projection, "_fit_projection", spy)
    points = viz.project(emb, "umap", seed=0, cache_dir=tmp_path, n_epochs=50)
    assert points.shape == (300, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    again = viz.project(emb, "umap", seed=0, cache_dir=tmp_path, n_epochs=50)
    assert spy.calls == 1
    np.testing.assert_array_equal(points, again)
    # the classes stay apart: every point's nearest 2-D neighbour shares its class
    d = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(300) * 1e9  # [300, 300]
    assert (labels.numpy()[d.argmin(1)] == labels.numpy()).mean() > 0.95


def test_tiny_tsne(blobs, tmp_path):
    emb, _, _ = blobs
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP threads of Barnes-Hut t-SNE spin for seconds on a busy machine
        points = viz.project(emb[:60], "tsne", cache_dir=tmp_path, max_iter=250)
    assert points.shape == (60, 2) and np.isfinite(points).all()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_exact_knn_matches_sklearn(metric):
    from sklearn.neighbors import NearestNeighbors

    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    idx, dist = projection._exact_knn(x, 6, metric)
    assert idx.shape == dist.shape == (200, 6)
    np.testing.assert_array_equal(idx[:, 0], np.arange(200))  # each point first, at distance 0
    np.testing.assert_allclose(dist[:, 0], 0.0, atol=1e-6)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=6, metric=metric, algorithm="brute").fit(x).kneighbors(x)
    np.testing.assert_allclose(dist[:, 1:], ref_dist[:, 1:], atol=1e-4)
    assert (idx[:, 1:] == ref_idx[:, 1:]).mean() > 0.99  # ties aside


@pytest.mark.parametrize(
    ("embeddings", "kwargs", "message"),
    [
        (np.zeros((10, 3)), {"method": "mds"}, "method must be one of"),
        (np.zeros(10), {}, r"shape \[N, D\]"),
        (np.full((10, 3), np.nan), {"method": "pca"}, "finite"),
        (np.zeros((3, 3)), {"method": "umap"}, "at least 4 rows"),
        (np.zeros((10, 1)), {"method": "pca"}, "at least 2 dimensions"),
        (np.zeros((10, 3)), {"method": "pca", "n_neighbors": 5}, "takes no extra arguments"),
        (np.zeros((10, 3)), {"method": "pca", "seed": -1}, "seed"),
        ("abc", {}, "torch.Tensor or numpy array"),
    ],
)
def test_project_rejects_bad_input(embeddings, kwargs, message):
    with pytest.raises(ValueError, match=message):
        viz.project(embeddings, cache_dir=False, **kwargs)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=3),
    st.sampled_from([np.float32, np.int64, np.bool_]),
)
def test_project_fuzz_shapes(shape, dtype):
    x = np.ones(shape, dtype=dtype)
    try:
        points = viz.project(x, "pca", cache_dir=False)
    except ValueError:
        return
    assert points.shape == (shape[0], 2) and np.isfinite(points).all()


# ----------------------------------------------------------------------------------------------
# maps
# ----------------------------------------------------------------------------------------------


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
    idx = viz._spread_indices(points, 10)
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
    assert np.linalg.norm(centres[:, None] - names[None], axis=2).min() > viz.THUMBNAIL_GAP / 2 - 1e-9
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(12)
    assert gaps.min() > viz.THUMBNAIL_GAP * 0.9  # extent of this map is about 1 × 1


def test_class_names_are_pushed_apart():
    centres = np.array([[0.5, 0.5], [0.5, 0.5], [0.51, 0.5]])
    points = np.array([[0.0, 0.0], [1.0, 1.0]])
    spread = viz._spread_labels(centres, points)
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


# ----------------------------------------------------------------------------------------------
# galleries
# ----------------------------------------------------------------------------------------------


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
    idx, dist = viz.nearest_neighbors(0, emb, k=3)
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
