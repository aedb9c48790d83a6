"""Tests for contrastkit.evaluate.classification: kNN against scikit-learn and by hand; the linear probe."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from contrastkit import distances
from contrastkit import evaluate as ev
from tests.helpers import gaussian_blobs

FUZZ = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------------------------
# kNN
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize(("k", "n_classes"), [(1, 4), (3, 2), (5, 2), (7, 2)])
def test_knn_matches_sklearn(metric: str, k: int, n_classes: int) -> None:
    # k = 1, or two classes with odd k: no vote ties, so any tie rule gives the same answer.
    x, y = gaussian_blobs(260, 6, n_classes, spread=6.0, seed=k)
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
    x, y = gaussian_blobs(300, 5, 3, spread=3.0)
    full = ev.knn_accuracy(x[:200], y[:200], x[200:], y[200:], k=5)
    monkeypatch.setattr(distances, "CHUNK_ELEMENTS", 7 * 200)  # 7 queries per chunk
    assert ev.knn_accuracy(x[:200], y[:200], x[200:], y[200:], k=5) == full


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


# ----------------------------------------------------------------------------------------------
# Linear probe
# ----------------------------------------------------------------------------------------------


def test_linear_probe_separable_features() -> None:
    x, y = gaussian_blobs(400, 10, 4, spread=0.3)
    acc = ev.linear_probe_accuracy(None, x[:300], y[:300] + 10, x[300:], y[300:] + 10)
    assert acc >= 0.99


def test_linear_probe_is_deterministic_and_scale_invariant() -> None:
    x, y = gaussian_blobs(300, 6, 3, spread=3.0, seed=2)
    kwargs = {"epochs": 5, "seed": 1}
    a = ev.linear_probe_accuracy(None, x[:200], y[:200], x[200:], y[200:], **kwargs)
    assert a == ev.linear_probe_accuracy(None, x[:200], y[:200], x[200:], y[200:], **kwargs)
    # standardisation makes a large shift and scale irrelevant
    b = ev.linear_probe_accuracy(None, 1e3 * x[:200] + 50, y[:200], 1e3 * x[200:] + 50, y[200:], **kwargs)
    assert abs(a - b) <= 0.02


def test_linear_probe_with_model_keeps_it_frozen_and_in_its_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.BatchNorm1d(8)).train()
    x, y = gaussian_blobs(120, 4, 2, spread=0.5)
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
