"""2-D projections (contrastkit.viz.projection): the cache, UMAP, t-SNE, PCA, exact kNN, input checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import contrastkit as ck
from contrastkit import viz
from contrastkit.viz import projection

pytestmark = pytest.mark.usefixtures("close_figures")


# ----------------------------------------------------------------------------------------------
# re-exports
# ----------------------------------------------------------------------------------------------


def test_viz_re_exports_the_projection_and_gallery_functions():
    from contrastkit.viz import colors, gallery

    for name in viz.__all__:
        assert hasattr(viz, name), name
    for module in (projection, gallery):
        for name in module.__all__:
            assert getattr(viz, name) is getattr(module, name), name
    assert viz.DIGIT_COLORS is colors.DIGIT_COLORS


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


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_projection_refuses_a_collapsed_embedding_instead_of_crashing(tmp_path) -> None:
    with pytest.raises(ValueError, match="same point"):
        ck.viz.project(np.ones((10, 3)), "tsne", cache_dir=False)
    with pytest.raises(ValueError, match="same point"):
        ck.viz.project(np.ones((10, 3)), "umap", cache_dir=False)
    assert ck.viz.project(np.ones((10, 3)), "pca", cache_dir=False).shape == (10, 2)


def test_projection_takes_bfloat16_and_checks_its_arguments(tmp_path) -> None:
    x = torch.randn(30, 4).bfloat16()
    assert ck.viz.project(x, "pca", cache_dir=False).shape == (30, 2)
    with pytest.raises(ValueError, match="n_neighbors"):
        ck.viz.project(torch.randn(30, 4), "umap", n_neighbors=30, cache_dir=False)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="cache_dir must be a folder"):
        ck.viz.project(torch.randn(30, 4), "pca", cache_dir=afile)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_projection_from_a_read_only_folder_warns_and_still_draws(tmp_path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="could not cache"):
            points = ck.viz.project(torch.randn(30, 4), "pca", cache_dir=folder / "cache")
        assert points.shape == (30, 2)
    finally:
        folder.chmod(0o755)


def test_projection_cache_write_failure_warns_and_still_draws(tmp_path, monkeypatch) -> None:
    import contrastkit.viz.projection as projection

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(projection, "atomic_path", refuse)
    with pytest.warns(UserWarning, match="could not cache"):
        points = ck.viz.project(torch.randn(30, 4), "pca", cache_dir=tmp_path / "cache")
    assert points.shape == (30, 2)
