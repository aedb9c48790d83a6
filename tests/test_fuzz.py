"""Bad-input fuzzing of the tensor-facing public functions: a clear ValueError or a finite result, nothing else.

Each case starts from a valid call and replaces one argument with something wrong (wrong type, shape,
dtype, empty, NaN/inf, huge or tiny numbers). The call must either raise ``ValueError`` (the kit's
message saying what was expected) or return finite numbers; a ``TypeError``, ``IndexError``,
``RuntimeError`` from deep inside torch, or a silent NaN fails the test.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contrastkit as ck

N, D = 12, 4


def _emb(n: int = N, d: int = D, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _labels(n: int = N) -> torch.Tensor:
    return torch.arange(n) % 3


#: Replacements for one argument: each a small function of nothing, so every example builds fresh tensors.
BAD_VALUES: list[Callable[[], Any]] = [
    lambda: None,
    lambda: "text",
    lambda: [1, 2, 3],
    lambda: object(),
    lambda: True,
    lambda: -1,
    lambda: 0,
    lambda: 0.0,
    lambda: -0.5,
    lambda: 1e-45,
    lambda: 1e300,
    lambda: 10**400,
    lambda: float("nan"),
    lambda: float("inf"),
    lambda: 1 + 2j,
    lambda: torch.tensor(1.0),
    lambda: torch.zeros(0),
    lambda: torch.zeros(0, D),
    lambda: torch.zeros(N),
    lambda: torch.zeros(N, D, 2),
    lambda: torch.zeros(N + 1, D),
    lambda: torch.zeros(N, D + 1),
    lambda: torch.full((N, D), float("nan")),
    lambda: torch.full((N, D), float("inf")),
    lambda: torch.ones(N, D, dtype=torch.int64),
    lambda: torch.ones(N, D, dtype=torch.bool),
    lambda: torch.ones(N, D, dtype=torch.complex64),
    lambda: torch.ones(N, dtype=torch.float32),
    lambda: torch.arange(N + 1),
    lambda: torch.full((N,), -1),
    lambda: torch.arange(N).float(),
]


def _case(fn: Callable, **kwargs: Callable[[], Any]) -> tuple[Callable, dict[str, Callable[[], Any]]]:
    return fn, kwargs


CASES = {
    "contrastive_loss": _case(
        ck.losses.contrastive_loss,
        x1=_emb,
        x2=lambda: _emb(seed=1),
        same=lambda: torch.arange(N) % 2,
        margin=lambda: 1.0,
        variant=lambda: "hadsell",
    ),
    "triplet_margin_loss": _case(
        ck.losses.triplet_margin_loss,
        anchor=_emb,
        positive=lambda: _emb(seed=1),
        negative=lambda: _emb(seed=2),
        margin=lambda: 0.2,
        squared=lambda: False,
    ),
    "batch_triplet_loss": _case(
        ck.losses.batch_triplet_loss, embeddings=_emb, labels=_labels, margin=lambda: 0.2, strategy=lambda: "all"
    ),
    "nt_xent_loss": _case(ck.losses.nt_xent_loss, z1=_emb, z2=lambda: _emb(seed=1), temperature=lambda: 0.5),
    "supcon_loss": _case(
        ck.losses.supcon_loss, features=lambda: torch.randn(N, 2, D), labels=_labels, temperature=lambda: 0.1
    ),
    "pairwise_distances": _case(ck.distances.pairwise_distances, x=_emb),
    "nearest_neighbors": _case(
        ck.distances.nearest_neighbors, queries=_emb, refs=lambda: _emb(seed=1), k=lambda: 3, metric=lambda: "cosine"
    ),
    "mine_triplets": _case(
        ck.mining.mine_triplets, embeddings=_emb, labels=_labels, strategy=lambda: "semihard", margin=lambda: 0.5
    ),
    "mine_hard_negatives": _case(ck.mining.mine_hard_negatives, embeddings=_emb, labels=_labels, k=lambda: 2),
    "knn_accuracy": _case(
        ck.evaluate.knn_accuracy,
        train_emb=_emb,
        train_labels=_labels,
        test_emb=lambda: _emb(seed=1),
        test_labels=_labels,
        k=lambda: 3,
        metric=lambda: "cosine",
    ),
    "retrieval_metrics": _case(ck.evaluate.retrieval_metrics, emb=_emb, labels=_labels, metric=lambda: "euclidean"),
    "alignment": _case(ck.evaluate.alignment, z1=_emb, z2=lambda: _emb(seed=1), alpha=lambda: 2.0),
    "uniformity": _case(ck.evaluate.uniformity, z=_emb, t=lambda: 2.0),
    "sample_verification_pairs": _case(
        ck.evaluate.sample_verification_pairs, labels=_labels, n_pairs=lambda: 10, seed=lambda: 0
    ),
    "verification_roc": _case(
        ck.evaluate.verification_roc, distances=lambda: torch.rand(N), same=lambda: torch.arange(N) % 2
    ),
    "evaluate_embeddings": _case(
        ck.evaluate.evaluate_embeddings,
        train_emb=_emb,
        train_labels=_labels,
        test_emb=lambda: _emb(seed=1),
        test_labels=_labels,
        k=lambda: 3,
        seed=lambda: 0,
        linear_probe=lambda: False,
    ),
    "embed": _case(ck.evaluate.embed, model=lambda: torch.nn.Flatten(), images=_emb, batch_size=lambda: 4),
    # cache_dir stays False: a fuzzed string would be a valid folder and leave a cache behind (its own tests check it)
    "project_pca": _case(functools.partial(ck.viz.project, cache_dir=False), embeddings=_emb, method=lambda: "pca"),
    "digit_augment": _case(ck.augment.DigitAugment, rotation=lambda: 10.0, stroke_prob=lambda: 0.5),
    "multiview": _case(ck.augment.MultiView, augment=lambda: ck.augment.DigitAugment(), n_views=lambda: 2),
}


@pytest.mark.parametrize("method", ["siamese", "triplet", "simclr", "supcon"])
@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_every_recipe_field_refuses_bad_values_with_a_value_error(method: str, data: st.DataObject) -> None:
    fields = ck.train.recipe_fields(ck.train.CONFIGS[method])
    name = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(st.sampled_from(BAD_VALUES), label="bad value")()
    try:
        config = ck.train.make_config(method, **{name: value})
    except ValueError:
        return
    # accepted: then it is a plain value that survives config.json
    assert isinstance(getattr(config, name), (int, float, str, type(None))), (name, value)
    assert ck.train.config_from_dict(config.to_dict()) == config


def _finite(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return not value.is_floating_point() or bool(torch.isfinite(value).all())
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple):
        return all(_finite(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):  # a threshold of -inf is documented: "different" for every pair
        return all(_finite(getattr(value, f)) for f in value.__dataclass_fields__ if not f.startswith("threshold"))
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_calls_of_the_fuzzed_functions_work(name: str) -> None:
    fn, kwargs = CASES[name]
    assert _finite(fn(**{k: make() for k, make in kwargs.items()}))


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_bad_argument_gives_a_value_error_or_a_finite_result(name: str, data: st.DataObject) -> None:
    fn, kwargs = CASES[name]
    args = {k: make() for k, make in kwargs.items()}
    target = data.draw(st.sampled_from(sorted(args)), label="argument")
    args[target] = data.draw(st.sampled_from(BAD_VALUES), label="bad value")()
    try:
        out = fn(**args)
    except ValueError:
        return
    assert _finite(out), f"{name}({target}={args[target]!r}) returned a non-finite result {out!r}"


def test_numpy_scalars_in_a_config_become_python_numbers() -> None:
    import numpy as np

    config = ck.train.SimCLRConfig(temperature=np.float32(0.25), epochs=np.int64(3))
    assert type(config.temperature) is float and type(config.epochs) is int
    assert config == ck.train.SimCLRConfig(temperature=0.25, epochs=3)
