"""What every training recipe shares: the base config, the registry of recipes, and their serialisation.

A recipe (Siamese, triplet, SimCLR, SupCon) is a frozen dataclass deriving from
:class:`RecipeConfig`, defined with its ``build`` in a module of its own
(``contrastkit/train/simclr.py`` and so on) and registered under its ``method`` name with
:func:`register`. Every hyperparameter is a field, validated when the config is built (a bad
value raises ``ValueError`` saying what was expected); configs round-trip through
``to_dict()`` / :func:`config_from_dict` (the run directories' ``config.json`` and the training
checkpoints), and :func:`make_config` / :func:`parse_overrides` build them from a method name and
``FIELD=VALUE`` strings (the command line and the benchmarks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch
from torch import nn

from contrastkit._checks import (
    check_choice,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
    describe,
)
from contrastkit.train.loop import SCHEDULES
from contrastkit.utils import to_plain

__all__ = [
    "CONFIGS",
    "Recipe",
    "RecipeConfig",
    "config_from_dict",
    "make_config",
    "parse_overrides",
    "parse_value",
    "recipe_fields",
    "register",
]

C = TypeVar("C", bound="type[RecipeConfig]")


class Recipe(NamedTuple):
    """What ``RecipeConfig.build`` returns to the trainer.

    Attributes:
        model: every trainable module (the encoder, and a projection head or a Siamese wrapper).
        step: ``step(batch) -> loss`` or ``(loss, stats)``: the forward pass and loss of one batch.
        batches: ``batches(epoch) -> list of batches``, deterministic for a given epoch.
    """

    model: nn.Module
    step: Callable[[Any], Any]
    batches: Callable[[int], Sequence[Any]]


@dataclass(frozen=True)
class RecipeConfig:
    """Fields shared by every recipe (each recipe's subclass sets its own defaults).

    A recipe is one subclass in its own module of :mod:`contrastkit.train`, holding its fields,
    their validation and ``build``: what the recipe trains and how one batch is turned into a loss.
    """

    method: ClassVar[str] = ""
    #: The notebook that teaches the recipe; orders ``CONFIGS`` and the comparisons.
    chapter: ClassVar[int] = 0

    epochs: int = 10
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    embedding_dim: int = 64
    width: int = 32
    seed: int = 0
    eval_every: int = 1
    knn_subset: int = 2000
    knn_queries: int = 1000
    schedule: str = "cosine"
    warmup_fraction: float = 0.05
    augment_strength: float = 0.0

    def __post_init__(self) -> None:
        for name in recipe_fields(self):
            value = getattr(self, name)
            if isinstance(value, np.generic):  # a NumPy scalar becomes the Python number it holds
                value = value.item()
                object.__setattr__(self, name, value)
            if not isinstance(value, (bool, int, float, str, type(None))):
                raise ValueError(
                    f"{name} must be a plain number, string or None (it goes into config.json), got {describe(value)}"
                )
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size, minimum=2)
        check_positive("lr", self.lr)
        check_nonnegative("weight_decay", self.weight_decay)
        check_positive_int("embedding_dim", self.embedding_dim)
        check_positive_int("width", self.width)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise ValueError(f"seed must be an integer in [0, 2**31), got {describe(self.seed)}")
        check_positive_int("eval_every", self.eval_every)
        check_positive_int("knn_subset", self.knn_subset, minimum=5)
        check_positive_int("knn_queries", self.knn_queries)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_fraction("warmup_fraction", self.warmup_fraction, open_high=True)
        check_nonnegative("augment_strength", self.augment_strength)

    def to_dict(self) -> dict[str, Any]:
        """All fields plus ``"method"``, as plain Python values (JSON-ready; tuples become lists)."""
        return {"method": self.method, **{name: to_plain(getattr(self, name)) for name in recipe_fields(self)}}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, ignore_unknown: bool = False) -> RecipeConfig:
        """Build a config from ``to_dict()`` output; a ``"method"`` key, if present, must match.

        Args:
            values: field names and values (lists are read back as tuples).
            ignore_unknown: skip fields this recipe does not have (a run saved by another version),
                instead of refusing them.
        """
        values = dict(values)
        method = values.pop("method", cls.method)
        if method != cls.method:
            raise ValueError(f"{cls.__name__} cannot be built from a {method!r} config; use config_from_dict")
        names = set(recipe_fields(cls))
        unknown = sorted(set(values) - names)
        if unknown and not ignore_unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})

    def build(self, encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Recipe:
        """What this recipe trains and how: see :class:`Recipe` (implemented by each recipe)."""
        raise NotImplementedError(f"{type(self).__name__} does not define build()")


#: Recipe name -> config class, filled by :func:`register` (``contrastkit.train`` imports every recipe).
CONFIGS: dict[str, type[RecipeConfig]] = {}


def register(cls: C) -> C:
    """Class decorator adding a recipe's config class to :data:`CONFIGS` under its ``method``."""
    if not cls.method or cls.method in CONFIGS:
        raise ValueError(f"{cls.__name__} needs a new, non-empty method name, got {cls.method!r}")
    CONFIGS[cls.method] = cls
    ordered = sorted(CONFIGS.items(), key=lambda item: item[1].chapter)  # the order of the course
    CONFIGS.clear()
    CONFIGS.update(ordered)
    return cls


def recipe_fields(config: RecipeConfig | type[RecipeConfig]) -> list[str]:
    """Names of the settable fields of a config (instance or class)."""
    return [f.name for f in fields(config) if f.init]


def config_from_dict(values: Mapping[str, Any], *, ignore_unknown: bool = False) -> RecipeConfig:
    """Rebuild any recipe's config from ``config.to_dict()`` (the ``"method"`` key picks the class)."""
    if not isinstance(values, Mapping) or "method" not in values:
        raise ValueError(f"expected a dict with a 'method' key, got {describe(values)}")
    method = check_choice("method", values["method"], CONFIGS)
    return CONFIGS[method].from_dict(values, ignore_unknown=ignore_unknown)


def make_config(method: str, **overrides: Any) -> RecipeConfig:
    """The default recipe of ``method`` with ``overrides`` applied.

    Raises:
        ValueError: unknown method, a field the method's config lacks, or an invalid value (the
            config's own validation).
    """
    if method not in CONFIGS:
        raise ValueError(f"method must be one of {', '.join(sorted(CONFIGS))}, got {method!r}")
    config = CONFIGS[method]()
    names = recipe_fields(config)
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"the {method} recipe has no field {', '.join(unknown)}; its fields are: {', '.join(names)}")
    return replace(config, **overrides) if overrides else config


def parse_value(config: RecipeConfig, name: str, text: str) -> Any:
    """``text`` read as a value of field ``name``, typed like the field's current value.

    Booleans accept true/false, 1/0, yes/no; a field whose value is None takes "none" or JSON.

    Raises:
        ValueError: the text is not a value of that type.
    """
    current = getattr(config, name)
    kind = type(current)
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(current, (int, float, str)):
            return kind(text)
        return None if text.lower() == "none" else json.loads(text)
    except (ValueError, json.JSONDecodeError):
        raise ValueError(f"{name}={text}: expected a {kind.__name__}") from None


def parse_overrides(config: RecipeConfig, items: Sequence[str], *, skip_unknown: bool = False) -> dict[str, Any]:
    """``FIELD=VALUE`` strings as typed overrides of ``config``'s fields.

    Args:
        config: the recipe the values are for.
        items: e.g. ``["epochs=3", "temperature=0.2"]``; dashes in names count as underscores.
        skip_unknown: ignore fields this recipe does not have (one option for several recipes).

    Raises:
        ValueError: a malformed item, an unknown field (unless skipped) or a badly typed value.
    """
    names = recipe_fields(config)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ValueError(f"expected FIELD=VALUE, got {item!r}")
        if name not in names:
            if skip_unknown:
                continue
            raise ValueError(f"the {config.method} recipe has no field {name}; its fields are {', '.join(names)}")
        out[name] = parse_value(config, name, text.strip())
    return out
