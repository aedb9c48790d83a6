"""Recipe configs: defaults, validation, serialisation, the registry, make_config and parse_overrides."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit import train as T
from contrastkit.train.config import register

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("cls", list(T.CONFIGS.values()))
def test_configs_have_defaults_method_and_round_trip(cls: type) -> None:
    config = cls()
    assert T.CONFIGS[config.method] is cls
    values = config.to_dict()
    assert values["method"] == config.method
    assert T.config_from_dict(values) == config
    assert cls.from_dict(values) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3  # type: ignore[misc]
    assert dataclasses.replace(config, epochs=3).epochs == 3


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (T.SiameseConfig, "epochs", 0),
        (T.SiameseConfig, "epochs", 1.5),
        (T.SiameseConfig, "batch_size", 1),
        (T.SiameseConfig, "lr", 0.0),
        (T.SiameseConfig, "lr", float("nan")),
        (T.SiameseConfig, "margin", -0.1),
        (T.SiameseConfig, "variant", "cosine"),
        (T.SiameseConfig, "normalize", "yes"),
        (T.TripletConfig, "strategy", "easy"),
        (T.TripletConfig, "margin", -1.0),
        (T.TripletConfig, "samples_per_class", 7),
        (T.TripletConfig, "classes_per_batch", 1),
        (T.SimCLRConfig, "temperature", 0.0),
        (T.SimCLRConfig, "schedule", "step"),
        (T.SimCLRConfig, "augment_strength", -1.0),
        (T.SupConConfig, "temperature", -0.1),
        (T.SupConConfig, "n_views", 0),
        (T.SupConConfig, "projection_dim", -1),
        (T.SupConConfig, "weight_decay", -1e-4),
        (T.SupConConfig, "seed", -1),
        (T.SupConConfig, "eval_every", 0),
    ],
)
def test_config_rejects_bad_values(cls: type, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        cls(**{field: value})


def test_triplet_batch_size_must_match_p_times_k() -> None:
    assert T.TripletConfig(batch_size=120, classes_per_batch=10).k == 12
    assert T.TripletConfig(batch_size=60, classes_per_batch=6, samples_per_class=10).k == 10
    with pytest.raises(ValueError, match="classes_per_batch \\* samples_per_class"):
        T.TripletConfig(batch_size=64, classes_per_batch=6, samples_per_class=10)
    with pytest.raises(ValueError, match="at least 2 \\* classes_per_batch"):
        T.TripletConfig(batch_size=15, classes_per_batch=10)


@settings(max_examples=25, deadline=None)
@given(st.floats(max_value=0.0, allow_nan=False) | st.just(float("inf")) | st.just(float("nan")))
def test_non_positive_or_non_finite_lr_and_temperature_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="lr"):
        T.SupConConfig(lr=value)
    with pytest.raises(ValueError, match="temperature"):
        T.SimCLRConfig(temperature=value)


def test_from_dict_refuses_unknown_fields_and_wrong_method() -> None:
    with pytest.raises(ValueError, match="unknown"):
        T.config_from_dict({"method": "supcon", "epochs": 2, "temprature": 0.1})
    with pytest.raises(ValueError, match="method"):
        T.config_from_dict({"method": "byol"})
    with pytest.raises(ValueError, match="simclr"):
        T.SupConConfig.from_dict(T.SimCLRConfig().to_dict())


def test_registry_order_and_fields() -> None:
    assert T.METHODS == ("siamese", "triplet", "simclr", "supcon")  # the order of the course
    assert tuple(T.CONFIGS) == T.METHODS
    assert all(issubclass(cls, T.RecipeConfig) for cls in T.CONFIGS.values())
    names = T.recipe_fields(T.TripletConfig)
    assert names == T.recipe_fields(T.TripletConfig()) and "method" not in names
    assert {"epochs", "margin", "strategy", "samples_per_class"} <= set(names)
    with pytest.raises(ValueError, match="new, non-empty method name"):
        register(T.SupConConfig)  # already registered


def test_config_from_dict_can_skip_unknown_fields() -> None:
    values = {**T.SupConConfig(epochs=2).to_dict(), "an_old_field": 1}
    assert T.config_from_dict(values, ignore_unknown=True) == T.SupConConfig(epochs=2)
    with pytest.raises(ValueError, match="an_old_field"):
        T.config_from_dict(values)
    with pytest.raises(ValueError, match="'method' key"):
        T.config_from_dict([("method", "supcon")])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# make_config and parse_overrides (the command line and the benchmarks)
# ----------------------------------------------------------------------------------------------


def test_make_config_overrides_and_refusals():
    assert T.make_config("siamese", margin=0.5, epochs=1) == T.SiameseConfig(margin=0.5, epochs=1)
    with pytest.raises(ValueError, match="siamese recipe has no field temperature"):
        T.make_config("siamese", temperature=0.5)
    with pytest.raises(ValueError, match="method must be one of"):
        T.make_config("byol")
    with pytest.raises(ValueError, match="temperature"):
        T.make_config("simclr", temperature=0.0)
    assert T.make_config("supcon") == T.SupConConfig()


def test_parse_overrides_types_values_like_the_fields() -> None:
    triplet = T.TripletConfig()
    got = T.parse_overrides(
        triplet,
        [
            "epochs=3",
            "lr=1e-3",
            "strategy=hard",
            "normalize=false",
            "squared=Yes",
            "samples-per-class=8",
            " margin = 0.5",
        ],
    )
    assert got == {
        "epochs": 3,
        "lr": 1e-3,
        "strategy": "hard",
        "normalize": False,
        "squared": True,
        "samples_per_class": 8,
        "margin": 0.5,
    }
    assert type(got["epochs"]) is int and type(got["lr"]) is float and type(got["normalize"]) is bool
    assert T.parse_overrides(triplet, ["samples_per_class=none"]) == {"samples_per_class": None}
    for text, value in (("1", True), ("0", False), ("TRUE", True), ("no", False)):
        assert T.parse_overrides(triplet, [f"normalize={text}"]) == {"normalize": value}
    assert T.parse_overrides(triplet, []) == {}
    config = T.make_config("triplet", batch_size=80, **got)
    assert (config.epochs, config.samples_per_class, config.k, config.normalize) == (3, 8, 8, False)


def test_parse_overrides_refusals() -> None:
    simclr = T.SimCLRConfig()
    with pytest.raises(ValueError, match="the simclr recipe has no field margin"):
        T.parse_overrides(simclr, ["margin=0.5"])
    assert T.parse_overrides(simclr, ["margin=0.5", "epochs=2"], skip_unknown=True) == {"epochs": 2}
    for item in ("epochs", "=3", "", "epochs 3"):
        with pytest.raises(ValueError, match="expected FIELD=VALUE"):
            T.parse_overrides(simclr, [item])
    with pytest.raises(ValueError, match="epochs=three: expected a int"):
        T.parse_overrides(simclr, ["epochs=three"])
    with pytest.raises(ValueError, match=r"epochs=1\.5: expected a int"):
        T.parse_overrides(simclr, ["epochs=1.5"])
    with pytest.raises(ValueError, match="temperature=hot: expected a float"):
        T.parse_overrides(simclr, ["temperature=hot"])
    with pytest.raises(ValueError, match="normalize=maybe: expected a bool"):
        T.parse_overrides(T.SiameseConfig(), ["normalize=maybe"])
    with pytest.raises(ValueError, match="samples_per_class=\\[1: expected a NoneType"):
        T.parse_overrides(T.TripletConfig(), ["samples_per_class=[1"])
