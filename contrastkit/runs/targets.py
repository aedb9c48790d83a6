"""The quality targets of the default recipes, checked by ``compare``'s report and ``benchmarks/quality.py``.

On the bundled sample (8,000/2,000, 2 CPU cores, each recipe in at most 4 minutes): Siamese kNN
>= 98.0%; triplet kNN >= 98.8%; SupCon kNN >= 99.0%; SimCLR (no labels) kNN >= 97.5%, at least 1.5
points above the raw-pixel baseline, and linear probe >= 97.5%. On the full 60,000/10,000 MNIST on a
GPU: SupCon kNN >= 99.5% and SimCLR linear probe >= 98.5%, each in at most 2 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["CPU_BUDGET_S", "FULL_TARGETS", "GPU_BUDGET_S", "SAMPLE_TARGETS", "Target", "check_targets"]

#: Training-time budgets per recipe: the sample on a CPU, the full MNIST on a GPU.
CPU_BUDGET_S = 240.0
GPU_BUDGET_S = 120.0


class Target(NamedTuple):
    """One quality bar: ``metric`` must reach ``threshold``; "knn_gain" is kNN minus the raw-pixel kNN."""

    label: str
    metric: str
    threshold: float


#: Targets of the default recipes on the bundled sample.
SAMPLE_TARGETS: dict[str, tuple[Target, ...]] = {
    "siamese": (Target("kNN>=98.0", "knn_accuracy", 0.980),),
    "triplet": (Target("kNN>=98.8", "knn_accuracy", 0.988),),
    "simclr": (
        Target("kNN>=97.5", "knn_accuracy", 0.975),
        Target("kNN>=raw+1.5", "knn_gain", 0.015),
        Target("probe>=97.5", "linear_probe_accuracy", 0.975),
    ),
    "supcon": (Target("kNN>=99.0", "knn_accuracy", 0.990),),
}
#: Targets on the full MNIST (GPU).
FULL_TARGETS: dict[str, tuple[Target, ...]] = {
    "supcon": (Target("kNN>=99.5", "knn_accuracy", 0.995),),
    "simclr": (Target("probe>=98.5", "linear_probe_accuracy", 0.985),),
}


def check_targets(
    method: str, metrics: Mapping[str, float], raw_knn: float, *, full: bool = False
) -> list[tuple[Target, bool]]:
    """Each target of ``method`` with whether ``metrics`` meets it (an empty list for a method without targets)."""
    values = {**metrics, "knn_gain": metrics.get("knn_accuracy", float("nan")) - raw_knn}
    targets = (FULL_TARGETS if full else SAMPLE_TARGETS).get(method, ())
    return [(t, bool(values.get(t.metric, float("nan")) >= t.threshold)) for t in targets]
