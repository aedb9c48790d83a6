"""The quality targets of the default recipes (contrastkit.runs.targets)."""

from __future__ import annotations

import math

import pytest

from contrastkit import runs
from contrastkit.runs import targets
from contrastkit.runs.targets import FULL_TARGETS, SAMPLE_TARGETS, Target, check_targets
from contrastkit.train import METHODS


def test_every_method_has_sample_targets():
    assert set(SAMPLE_TARGETS) == set(METHODS)
    for method, bars in SAMPLE_TARGETS.items():
        assert bars and all(isinstance(t, Target) for t in bars), method
        assert any(t.metric == "knn_accuracy" for t in bars), method  # the report's kNN column reads this bar
    assert SAMPLE_TARGETS["supcon"] == (Target("kNN>=99.0", "knn_accuracy", 0.990),)
    assert set(FULL_TARGETS) == {"supcon", "simclr"}
    assert targets.CPU_BUDGET_S == 240.0 and targets.GPU_BUDGET_S == 120.0
    assert runs.SAMPLE_TARGETS is SAMPLE_TARGETS and runs.check_targets is check_targets


def test_check_targets_simclr_gain_rule():
    """SimCLR must beat 97.5% kNN and the raw pixels by 1.5 points, and reach a 97.5% probe."""
    good = {"knn_accuracy": 0.98, "linear_probe_accuracy": 0.98}
    result = check_targets("simclr", good, raw_knn=0.958)
    assert [(t.metric, met) for t, met in result] == [
        ("knn_accuracy", True),
        ("knn_gain", True),
        ("linear_probe_accuracy", True),
    ]
    # 98.0% is above the bar but only 1.0 point above pixels at 97.0%: the gain rule fails alone
    result = dict((t.metric, met) for t, met in check_targets("simclr", good, raw_knn=0.970))
    assert result == {"knn_accuracy": True, "knn_gain": False, "linear_probe_accuracy": True}
    # exactly 1.5 points is enough
    assert dict((t.metric, met) for t, met in check_targets("simclr", good, raw_knn=0.965))["knn_gain"]
    low = {"knn_accuracy": 0.97, "linear_probe_accuracy": 0.99}
    assert dict((t.metric, met) for t, met in check_targets("simclr", low, raw_knn=0.90)) == {
        "knn_accuracy": False,
        "knn_gain": True,
        "linear_probe_accuracy": True,
    }


def test_check_targets_missing_metrics_and_other_methods():
    assert check_targets("byol", {"knn_accuracy": 1.0}, raw_knn=0.5) == []
    assert [met for _, met in check_targets("simclr", {}, raw_knn=0.9)] == [False, False, False]  # NaN never meets
    assert check_targets("supcon", {"knn_accuracy": 0.99}, raw_knn=math.nan) == [(SAMPLE_TARGETS["supcon"][0], True)]
    full = check_targets("supcon", {"knn_accuracy": 0.994}, raw_knn=0.97, full=True)
    assert [(t.threshold, met) for t, met in full] == [(0.995, False)]
    assert check_targets("siamese", {"knn_accuracy": 0.99}, raw_knn=0.9, full=True) == []


@pytest.mark.parametrize("method", METHODS)
def test_targets_are_sane_numbers(method):
    for bar in SAMPLE_TARGETS[method]:
        assert 0 < bar.threshold < 1 and bar.label
