"""Tests for contrastkit.evaluate.retrieval: P@1, R-precision, MAP@R, verification ROC, verification pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from contrastkit import distances
from contrastkit import evaluate as ev
from tests.helpers import gaussian_blobs

FUZZ = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------------------------
# re-exports
# ----------------------------------------------------------------------------------------------


def test_evaluate_re_exports_the_retrieval_and_verification_metrics() -> None:
    from contrastkit.evaluate import retrieval

    for name in ev.__all__:
        assert hasattr(ev, name), name
    for name in retrieval.__all__:
        assert getattr(ev, name) is getattr(retrieval, name), name
    assert ev.METRICS is distances.METRICS


# ----------------------------------------------------------------------------------------------
# Retrieval metrics
# ----------------------------------------------------------------------------------------------


def _retrieval_reference(x: torch.Tensor, labels: torch.Tensor, metric: str) -> tuple[float, float, float]:
    """Plain-Python leave-one-out P@1, R-precision and MAP@R."""
    pts = x.tolist()
    lab = labels.tolist()
    p1, rp, mapr = [], [], []
    for i, q in enumerate(pts):
        r = sum(1 for j, lj in enumerate(lab) if j != i and lj == lab[i])
        if r == 0:
            continue

        def dist(p: list[float], q: list[float] = q) -> float:
            if metric == "euclidean":
                return sum((a - b) ** 2 for a, b in zip(p, q))
            dot = sum(a * b for a, b in zip(p, q))
            return -dot / (math.sqrt(sum(a * a for a in p)) * math.sqrt(sum(b * b for b in q)))

        ranked = sorted((j for j in range(len(pts)) if j != i), key=lambda j: dist(pts[j]))
        rel = [1 if lab[j] == lab[i] else 0 for j in ranked[:r]]
        p1.append(rel[0])
        rp.append(sum(rel) / r)
        mapr.append(sum(sum(rel[: n + 1]) / (n + 1) * rel[n] for n in range(r)) / r)
    return sum(p1) / len(p1), sum(rp) / len(rp), sum(mapr) / len(mapr)


def test_retrieval_hand_computed_example() -> None:
    # 1-D points; labels 0 at 0, 1.5, 3.2 (R=2), labels 1 at 1, 10 (R=1), a lone label 7 (skipped).
    x = torch.tensor([[0.0], [1.0], [1.5], [3.2], [10.0], [-50.0]])
    labels = torch.tensor([0, 1, 0, 0, 1, 7])
    # rel lists: q0 [0,1], q1 [0], q2 [0,1], q3 [1,0], q4 [0]
    # P@1 = 1/5; R-precision = (1/2 + 0 + 1/2 + 1/2 + 0)/5; MAP@R = (1/4 + 0 + 1/4 + 1/2 + 0)/5
    result = ev.retrieval_metrics(x, labels, metric="euclidean")
    assert result.n_queries == 5
    assert result.precision_at_1 == pytest.approx(0.2)
    assert result.r_precision == pytest.approx(0.3)
    assert result.map_at_r == pytest.approx(0.2)
    assert ev.precision_at_1(x, labels, metric="euclidean") == pytest.approx(0.2)
    assert ev.r_precision(x, labels, metric="euclidean") == pytest.approx(0.3)
    assert ev.map_at_r(x, labels, metric="euclidean") == pytest.approx(0.2)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_retrieval_matches_brute_force(metric: str, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = gaussian_blobs(90, 4, 4, spread=2.5, seed=3)
    y = torch.cat([y[:-1], torch.tensor([11])])  # one lone label
    expected = _retrieval_reference(x, y, metric)
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 13 * 90)  # several chunks
    got = ev.retrieval_metrics(x, y, metric=metric)
    assert got.n_queries == 89
    assert (got.precision_at_1, got.r_precision, got.map_at_r) == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_retrieval_matches_pytorch_metric_learning(metric: str) -> None:
    pml = pytest.importorskip("pytorch_metric_learning.utils.accuracy_calculator")
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
    from pytorch_metric_learning.utils.inference import CustomKNN

    x, y = gaussian_blobs(200, 8, 5, spread=3.0, seed=1)
    distance = CosineSimilarity() if metric == "cosine" else LpDistance(normalize_embeddings=False)
    calc = pml.AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        k="max_bin_count",
        knn_func=CustomKNN(distance),
    )
    ref = calc.get_accuracy(x, y)
    got = ev.retrieval_metrics(x, y, metric=metric)
    assert got.precision_at_1 == pytest.approx(ref["precision_at_1"])
    assert got.r_precision == pytest.approx(ref["r_precision"])
    assert got.map_at_r == pytest.approx(ref["mean_average_precision_at_r"])


def test_retrieval_perfect_clusters_score_one() -> None:
    x, y = gaussian_blobs(60, 3, 3, spread=1e-3)
    result = ev.retrieval_metrics(x, y)
    assert (result.precision_at_1, result.r_precision, result.map_at_r) == pytest.approx((1.0, 1.0, 1.0))


@FUZZ
@given(
    func=st.sampled_from([ev.precision_at_1, ev.map_at_r, ev.r_precision]),
    emb=st.one_of(
        st.just(torch.randn(5)),
        st.just(torch.randn(0, 3)),
        st.just(torch.randn(5, 0)),
        st.just(torch.tensor([[1.0, math.nan]] * 5)),
        st.just(torch.ones(5, 2, dtype=torch.long)),
        st.just(np.ones((5, 2))),
        st.just([[1.0]] * 5),
    ),
    labels=st.sampled_from([torch.zeros(5, dtype=torch.long), torch.zeros(4, dtype=torch.long), torch.zeros(5)]),
)
def test_retrieval_fuzz_bad_embeddings(func, emb, labels) -> None:
    with pytest.raises(ValueError):
        func(emb, labels)


# ----------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------


def test_verification_matches_sklearn_and_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    same = torch.rand(400, generator=g) < 0.4
    distances = torch.rand(400, generator=g, dtype=torch.float64) + 0.6 * (~same)
    res = ev.verification_roc(distances, same)
    assert res.auc == pytest.approx(roc_auc_score(same.numpy(), -distances.numpy()))
    # best accuracy over every threshold, predicting "same" when d <= threshold
    candidates = [-math.inf, *sorted(distances.tolist())]
    accs = [float(((distances <= c) == same).double().mean()) for c in candidates]
    assert res.accuracy == pytest.approx(max(accs))
    assert float(((distances <= res.threshold) == same).double().mean()) == pytest.approx(res.accuracy)
    assert res.fpr.shape == res.tpr.shape == res.thresholds.shape
    assert np.all(np.diff(res.thresholds) >= 0)
    # EER: where the (interpolated) false-positive and false-negative rates meet
    fnr = 1 - res.tpr
    i = int(np.argmax(res.fpr >= fnr))
    assert min(res.fpr[i], fnr[i - 1]) - 1e-12 <= res.eer <= max(res.fpr[i], fnr[i - 1]) + 1e-12
    assert 0.0 < res.eer < 0.5
    with pytest.raises(Exception, match=r"frozen|cannot assign"):
        res.auc = 0.0  # type: ignore[misc]


def test_verification_perfect_and_inverted() -> None:
    same = torch.tensor([1, 1, 0, 0])
    res = ev.verification_roc(torch.tensor([0.1, 0.2, 0.8, 0.9]), same)
    assert (res.auc, res.eer, res.accuracy) == (1.0, 0.0, 1.0)
    assert 0.2 <= res.threshold < 0.8
    bad = ev.verification_roc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([True, True, False, False]))
    assert bad.auc == 0.0 and bad.eer == pytest.approx(1.0)
    assert bad.accuracy == 0.5  # predicting all "different" (or all "same")


def test_verification_eer_is_interpolated() -> None:
    # Same pairs at 0 and 2, different pairs at 1 and 3: ROC points (fpr, fnr) = (0,1) (0,.5) (.5,.5)...
    res = ev.verification_roc(torch.tensor([0.0, 2.0, 1.0, 3.0]), torch.tensor([1, 1, 0, 0]))
    assert res.eer == pytest.approx(0.5)
    assert res.auc == pytest.approx(0.75)


def test_sample_verification_pairs_balanced_and_seeded() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    i, j, same = ev.sample_verification_pairs(labels, n_pairs=501, seed=3)
    assert i.shape == j.shape == same.shape == (501,)
    assert int(same.sum()) == 251
    assert torch.equal(labels[i] == labels[j], same)
    assert bool((i != j).all())
    assert not bool((labels[i[same]] == 2).any())  # label 2 occurs once, so it has no same pair
    again = ev.sample_verification_pairs(labels, n_pairs=501, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((i, j, same), again))
    assert not torch.equal(ev.sample_verification_pairs(labels, n_pairs=501, seed=4)[0], i)


@FUZZ
@given(
    distances=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=6),
    same=st.lists(st.integers(-1, 2), min_size=0, max_size=6),
)
def test_verification_fuzz_only_value_errors(distances, same) -> None:
    d = torch.tensor(distances, dtype=torch.float32)
    s = torch.tensor(same, dtype=torch.long)
    valid = len(distances) == len(same) > 0 and all(math.isfinite(v) for v in distances) and set(same) == {0, 1}
    if valid:
        res = ev.verification_roc(d, s)
        assert 0.0 <= res.auc <= 1.0 and 0.0 <= res.eer <= 1.0 and 0.0 <= res.accuracy <= 1.0
    else:
        with pytest.raises(ValueError):
            ev.verification_roc(d, s)


@FUZZ
@given(
    labels=st.lists(st.integers(0, 3), min_size=0, max_size=8),
    n_pairs=st.one_of(st.integers(-1, 10), st.just(2.0)),
)
def test_sample_pairs_fuzz(labels, n_pairs) -> None:
    y = torch.tensor(labels, dtype=torch.long)
    counts = {v: labels.count(v) for v in set(labels)}
    valid = len(counts) >= 2 and max(counts.values()) >= 2 and isinstance(n_pairs, int) and n_pairs >= 2
    if valid:
        i, j, same = ev.sample_verification_pairs(y, n_pairs)
        assert torch.equal(y[i] == y[j], same) and bool((i != j).all())
    else:
        with pytest.raises(ValueError):
            ev.sample_verification_pairs(y, n_pairs)
