"""Tests for contrastkit.evaluate: references from scikit-learn, brute force and hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from contrastkit import _similarity
from contrastkit import evaluate as ev

FUZZ = settings(max_examples=40, deadline=None)


def _blobs(n: int, d: int, n_classes: int, spread: float = 1.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs [n, d] float64 with labels [n]."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, d, generator=g, dtype=torch.float64) * 3
    labels = torch.arange(n) % n_classes
    x = centres[labels] + spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, labels


# ----------------------------------------------------------------------------------------------
# re-exports
# ----------------------------------------------------------------------------------------------


def test_evaluate_re_exports_the_retrieval_and_verification_metrics() -> None:
    from contrastkit import retrieval

    for name in ev.__all__:
        assert hasattr(ev, name), name
    for name in retrieval.__all__:
        assert getattr(ev, name) is getattr(retrieval, name), name
    assert ev.METRICS is _similarity.METRICS


# ----------------------------------------------------------------------------------------------
# embed
# ----------------------------------------------------------------------------------------------


class _BNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))  # [B, 3, H-2, W-2], flattened by embed


def test_embed_shape_dtype_and_batches() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).double()
    x = torch.randn(23, 1, 4, 4, dtype=torch.float64)
    out = ev.embed(model, x, batch_size=4)
    assert out.shape == (23, 5) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert not out.requires_grad
    torch.testing.assert_close(out, model(x).float().detach())
    torch.testing.assert_close(ev.embed(model, x, batch_size=100), out)


@pytest.mark.parametrize("training", [True, False])
def test_embed_uses_eval_mode_and_restores_mode(training: bool) -> None:
    torch.manual_seed(0)
    model = _BNNet()
    model.train(training)
    stats = model.bn.running_mean.clone()
    out = ev.embed(model, torch.rand(10, 1, 6, 6), batch_size=3)
    assert out.shape == (10, 3 * 4 * 4)
    assert model.training is training and model.bn.training is training
    torch.testing.assert_close(model.bn.running_mean, stats, rtol=0, atol=0)


def test_embed_model_without_parameters_gives_raw_pixels() -> None:
    x = torch.rand(7, 1, 28, 28)
    torch.testing.assert_close(ev.embed(nn.Flatten(), x), x.flatten(1))


def test_embed_restores_mode_on_error() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise KeyError("boom")

    model = Broken().train()
    with pytest.raises(KeyError):
        ev.embed(model, torch.rand(2, 3))
    assert model.training


# ----------------------------------------------------------------------------------------------
# kNN
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize(("k", "n_classes"), [(1, 4), (3, 2), (5, 2), (7, 2)])
def test_knn_matches_sklearn(metric: str, k: int, n_classes: int) -> None:
    # k = 1, or two classes with odd k: no vote ties, so any tie rule gives the same answer.
    x, y = _blobs(260, 6, n_classes, spread=6.0, seed=k)
    x_tr, y_tr, x_te, y_te = x[:200], y[:200], x[200:], y[200:]
    ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(x_tr.numpy(), y_tr.numpy())
    expected = ref.score(x_te.numpy(), y_te.numpy())
    assert 0.3 < expected < 1.0  # a non-trivial case
    assert ev.knn_accuracy(x_tr, y_tr, x_te, y_te, k=k, metric=metric) == pytest.approx(expected)


def test_knn_vote_tie_goes_to_nearest_class() -> None:
    train = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    query = torch.tensor([[0.0]])
    # Two votes each for labels 9 and 2; label 2 owns the nearest neighbour (at 1.0).
    labels = torch.tensor([2, 9, 9, 2])
    assert ev.knn_accuracy(train, labels, query, torch.tensor([2]), k=4, metric="euclidean") == 1.0
    labels = torch.tensor([9, 2, 2, 9])
    assert ev.knn_accuracy(train, labels, query, torch.tensor([9]), k=4, metric="euclidean") == 1.0
    # k=2 with different labels: the nearest wins.
    assert ev.knn_accuracy(train, torch.tensor([5, 3, 3, 3]), query, torch.tensor([5]), k=2, metric="euclidean") == 1.0
    # A clear majority beats a nearer single vote.
    assert ev.knn_accuracy(train, torch.tensor([5, 3, 3, 1]), query, torch.tensor([3]), k=3, metric="euclidean") == 1.0


def test_knn_cosine_ignores_scale_and_handles_arbitrary_labels() -> None:
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([-3, 100, 7])
    test = torch.tensor([[50.0, 1.0], [0.1, 9.0], [-0.01, 0.0], [0.0, -1.0]])
    # the last query is equidistant from -3 and 7 but its label 42 never occurs in training
    acc = ev.knn_accuracy(train, labels, test, torch.tensor([-3, 100, 7, 42]), k=1)
    assert acc == pytest.approx(0.75)


def test_knn_chunking_gives_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _blobs(300, 5, 3, spread=3.0)
    full = ev.knn_accuracy(x[:200], y[:200], x[200:], y[200:], k=5)
    monkeypatch.setattr(_similarity, "_BLOCK_ELEMENTS", 7 * 200)  # 7 queries per chunk
    assert ev.knn_accuracy(x[:200], y[:200], x[200:], y[200:], k=5) == full


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
    x, y = _blobs(90, 4, 4, spread=2.5, seed=3)
    y = torch.cat([y[:-1], torch.tensor([11])])  # one lone label
    expected = _retrieval_reference(x, y, metric)
    monkeypatch.setattr(_similarity, "_BLOCK_ELEMENTS", 13 * 90)  # several chunks
    got = ev.retrieval_metrics(x, y, metric=metric)
    assert got.n_queries == 89
    assert (got.precision_at_1, got.r_precision, got.map_at_r) == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_retrieval_matches_pytorch_metric_learning(metric: str) -> None:
    pml = pytest.importorskip("pytorch_metric_learning.utils.accuracy_calculator")
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
    from pytorch_metric_learning.utils.inference import CustomKNN

    x, y = _blobs(200, 8, 5, spread=3.0, seed=1)
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
    x, y = _blobs(60, 3, 3, spread=1e-3)
    result = ev.retrieval_metrics(x, y)
    assert (result.precision_at_1, result.r_precision, result.map_at_r) == pytest.approx((1.0, 1.0, 1.0))


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


# ----------------------------------------------------------------------------------------------
# Alignment and uniformity
# ----------------------------------------------------------------------------------------------


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
    monkeypatch.setattr(_similarity, "_BLOCK_ELEMENTS", 3 * 40)
    assert ev.uniformity(z) == pytest.approx(expected)


def test_uniformity_subsample_is_seeded() -> None:
    z = torch.randn(300, 4)
    a = ev.uniformity(z, max_points=50, seed=1)
    assert a == ev.uniformity(z, max_points=50, seed=1)
    assert a != ev.uniformity(z, max_points=50, seed=2)
    assert abs(a - ev.uniformity(z)) < 0.3


# ----------------------------------------------------------------------------------------------
# Linear probe
# ----------------------------------------------------------------------------------------------


def test_linear_probe_separable_features() -> None:
    x, y = _blobs(400, 10, 4, spread=0.3)
    acc = ev.linear_probe_accuracy(None, x[:300], y[:300] + 10, x[300:], y[300:] + 10)
    assert acc >= 0.99


def test_linear_probe_is_deterministic_and_scale_invariant() -> None:
    x, y = _blobs(300, 6, 3, spread=3.0, seed=2)
    kwargs = {"epochs": 5, "seed": 1}
    a = ev.linear_probe_accuracy(None, x[:200], y[:200], x[200:], y[200:], **kwargs)
    assert a == ev.linear_probe_accuracy(None, x[:200], y[:200], x[200:], y[200:], **kwargs)
    # standardisation makes a large shift and scale irrelevant
    b = ev.linear_probe_accuracy(None, 1e3 * x[:200] + 50, y[:200], 1e3 * x[200:] + 50, y[200:], **kwargs)
    assert abs(a - b) <= 0.02


def test_linear_probe_with_model_keeps_it_frozen_and_in_its_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.BatchNorm1d(8)).train()
    x, y = _blobs(120, 4, 2, spread=0.5)
    x = x.float().reshape(120, 1, 2, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    acc = ev.linear_probe_accuracy(model, x[:80], y[:80], x[80:], y[80:], epochs=10, batch_size=16)
    assert acc >= 0.9
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


class _MutatingWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.lin.weight.add_(0.01)  # a forward that edits its own weights
        return self.lin(x)


class _ForcesTrainMode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.bn.train()  # BatchNorm updates its running statistics even under no_grad
        return self.bn(self.lin(x))


class _CountsCalls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("calls", torch.zeros(()), persistent=False)  # not in state_dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.lin(x)


@pytest.mark.parametrize(
    ("model_cls", "changed"), [(_MutatingWeights, "lin.weight"), (_ForcesTrainMode, "bn."), (_CountsCalls, "calls")]
)
def test_linear_probe_detects_encoder_changes(model_cls: type[nn.Module], changed: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    y = torch.arange(40) % 2
    with pytest.raises(RuntimeError, match=f"encoder changed.*{changed}"):
        ev.linear_probe_accuracy(model_cls(), x[:30], y[:30], x[30:], y[30:], epochs=1)


# ----------------------------------------------------------------------------------------------
# evaluate_embeddings
# ----------------------------------------------------------------------------------------------


def test_evaluate_embeddings_keys_ranges_and_determinism() -> None:
    x, y = _blobs(500, 8, 5, spread=1.5, seed=4)
    x = x.float()
    res = ev.evaluate_embeddings(x[:400], y[:400], x[400:], y[400:], k=3, seed=1)
    assert set(res) == {
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
@given(
    n_train=st.integers(0, 6),
    n_test=st.integers(0, 6),
    d_train=st.integers(0, 3),
    d_test=st.integers(0, 3),
    label_shift=st.integers(-1, 1),
    k=st.one_of(st.integers(-2, 8), st.just(True), st.floats(0.5, 3.0)),
    metric=st.sampled_from(["cosine", "euclidean", "l1", "Cosine", ""]),
    poison=st.sampled_from([None, math.nan, math.inf, "int", "labels_float"]),
)
def test_knn_fuzz_only_value_errors(n_train, n_test, d_train, d_test, label_shift, k, metric, poison) -> None:
    train = torch.randn(n_train, d_train)
    test = torch.randn(n_test, d_test)
    train_labels = torch.zeros(max(n_train + label_shift, 0), dtype=torch.long)
    test_labels = torch.zeros(n_test, dtype=torch.long)
    if poison in (math.nan, math.inf) and train.numel():
        train[0, 0] = poison
    elif poison == "int":
        test = test.long()
    elif poison == "labels_float":
        test_labels = test_labels.float()
    valid = (
        n_train > 0
        and n_test > 0
        and d_train > 0
        and d_train == d_test
        and label_shift == 0
        and isinstance(k, int)
        and not isinstance(k, bool)
        and 1 <= k <= n_train
        and metric in ev.METRICS
        and (poison is None or (poison in (math.nan, math.inf) and train.numel() == 0))
    )
    if valid:
        assert 0.0 <= ev.knn_accuracy(train, train_labels, test, test_labels, k=k, metric=metric) <= 1.0
    else:
        with pytest.raises(ValueError):
            ev.knn_accuracy(train, train_labels, test, test_labels, k=k, metric=metric)


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
