"""Recipe configs: one frozen dataclass per training method, with its tested defaults.

``SiameseConfig``, ``TripletConfig``, ``SimCLRConfig`` and ``SupConConfig`` hold every
hyperparameter of a recipe, validate them when built (a bad value raises ``ValueError`` saying what
was expected), and round-trip through ``to_dict()`` / ``config_from_dict`` (the run directories'
``config.json``). ``contrastkit.train.train(config, data)`` trains one; ``contrastkit.train``
re-exports every name here.

References:
    - [0] Hadsell, Chopra and LeCun 2006, "Dimensionality Reduction by Learning an Invariant
      Mapping", CVPR 2006 (contrastive pair loss)
    - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832; Hermans et al. 2017, arXiv:1703.07737
      (triplet loss with online mining)
    - [2] SimCLR, Chen et al. 2020, arXiv:2002.05709
    - [3] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from contrastkit import losses as _losses
from contrastkit._checks import (
    check_choice,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
    describe,
)

__all__ = [
    "CONFIGS",
    "SCHEDULES",
    "SiameseConfig",
    "SimCLRConfig",
    "SupConConfig",
    "TripletConfig",
    "config_from_dict",
]

#: Learning-rate schedules understood by ``contrastkit.train.fit``.
SCHEDULES = ("cosine", "onecycle", "constant")


@dataclass(frozen=True)
class _Config:
    """Fields shared by every recipe (see the recipe classes for the defaults)."""

    method: ClassVar[str] = ""

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
        """All fields plus ``"method"``, as plain Python values (JSON-ready)."""
        return {"method": self.method, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> _Config:
        """Build a config from ``to_dict()`` output; a ``"method"`` key, if present, must match."""
        values = dict(values)
        method = values.pop("method", cls.method)
        if method != cls.method:
            raise ValueError(f"{cls.__name__} cannot be built from a {method!r} config; use config_from_dict")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(names)}")
        return cls(**values)


@dataclass(frozen=True)
class SiameseConfig(_Config):
    """Siamese network trained with the contrastive pair loss [0].

    Every epoch draws fresh pairs: each training image is the first item of one pair, its partner is
    another image of the same digit with probability ``positive_fraction``, otherwise an image of a
    different digit.

    Attributes:
        margin: distance beyond which dissimilar pairs cost nothing.
        variant: "hadsell" or "squared" (see ``contrastkit.losses.contrastive_loss``).
        positive_fraction: share of same-digit pairs.
        normalize: L2-normalise the embeddings before the loss (distances then lie in [0, 2]).
    """

    method: ClassVar[str] = "siamese"

    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3
    margin: float = 1.0
    variant: str = "hadsell"
    positive_fraction: float = 0.5
    normalize: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonnegative("margin", self.margin)
        check_choice("variant", self.variant, _losses.CONTRASTIVE_VARIANTS)
        check_fraction("positive_fraction", self.positive_fraction, open_low=True, open_high=True)
        _check_bool("normalize", self.normalize)


@dataclass(frozen=True)
class TripletConfig(_Config):
    """Triplet loss with online mining inside class-balanced P×K batches [1].

    Attributes:
        margin: triplet margin.
        strategy: "all" (batch-all), "hard" (batch-hard) or "semihard".
        classes_per_batch: P, digits per batch.
        samples_per_class: K, images per digit; None means ``batch_size // classes_per_batch``.
            When given, ``classes_per_batch * samples_per_class`` must equal ``batch_size``.
        squared: squared Euclidean distances.
        normalize: L2-normalise the embeddings before the loss.
    """

    method: ClassVar[str] = "triplet"

    epochs: int = 8
    batch_size: int = 200
    lr: float = 2e-3
    margin: float = 0.2
    strategy: str = "all"
    classes_per_batch: int = 10
    samples_per_class: int | None = None
    squared: bool = False
    normalize: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonnegative("margin", self.margin)
        check_choice("strategy", self.strategy, ("all", "hard", "semihard"))
        check_positive_int("classes_per_batch", self.classes_per_batch, minimum=2)
        if self.samples_per_class is None:
            if self.batch_size < 2 * self.classes_per_batch:
                raise ValueError(
                    f"batch_size must be at least 2 * classes_per_batch = {2 * self.classes_per_batch} so that "
                    f"every digit has a positive, got batch_size={self.batch_size}"
                )
        else:
            check_positive_int("samples_per_class", self.samples_per_class, minimum=2)
            if self.classes_per_batch * self.samples_per_class != self.batch_size:
                raise ValueError(
                    f"batch_size must equal classes_per_batch * samples_per_class = "
                    f"{self.classes_per_batch} * {self.samples_per_class}, got {self.batch_size}; "
                    "set samples_per_class=None to derive it from batch_size"
                )
        _check_bool("squared", self.squared)
        _check_bool("normalize", self.normalize)

    @property
    def k(self) -> int:
        """K, the images per digit in a batch."""
        return self.samples_per_class or self.batch_size // self.classes_per_batch


@dataclass(frozen=True)
class SimCLRConfig(_Config):
    """SimCLR: two augmented views per image, NT-Xent between them; labels are not used [2].

    The encoder's embedding (``forward``) is what is evaluated. With ``projection_dim > 0`` the loss
    is computed on a projection head g(z), dropped after training, as in the paper.

    Why these defaults (measured on the bundled 8,000/2,000 sample, 2 CPU cores, ``benchmarks/quality.py``):
    the loss directly on the embedding (no head) learned faster in 10 epochs than with a head;
    a 128-d embedding (SimCLR's size) gave the linear probe about 0.4 points over 64-d; batches of
    128 give twice the optimiser steps of 256 per epoch for the same compute, and with 10 digit
    classes 254 negatives per anchor are already plenty; the full-strength
    :class:`~contrastkit.augment.DigitAugment`, whose stroke-width change lifted kNN accuracy by
    about a point (without it two views can be matched by the writer's pen instead of the shape);
    temperatures 0.2-0.5 gave about the same accuracy.

    Attributes:
        temperature: NT-Xent temperature.
        projection_dim: output size of the projection head; 0 applies the loss directly to the
            encoder's embedding.
    """

    method: ClassVar[str] = "simclr"

    epochs: int = 10
    batch_size: int = 128
    embedding_dim: int = 128
    lr: float = 3e-3
    augment_strength: float = 1.0
    temperature: float = 0.3
    projection_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("temperature", self.temperature)
        _check_dim("projection_dim", self.projection_dim)


@dataclass(frozen=True)
class SupConConfig(_Config):
    """Supervised contrastive learning: V augmented views, positives are all images of the same digit [3].

    Attributes:
        temperature: SupCon temperature.
        n_views: views per image (V >= 1; with V = 1 the other images of the digit are the positives).
        projection_dim: output size of the projection head; 0 applies the loss directly to the
            encoder's embedding.
    """

    method: ClassVar[str] = "supcon"

    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    augment_strength: float = 0.5
    temperature: float = 0.1
    n_views: int = 2
    projection_dim: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("temperature", self.temperature)
        check_positive_int("n_views", self.n_views)
        _check_dim("projection_dim", self.projection_dim)


#: Recipe name -> config class.
CONFIGS: dict[str, type[_Config]] = {
    cls.method: cls for cls in (SiameseConfig, TripletConfig, SimCLRConfig, SupConConfig)
}


def config_from_dict(values: Mapping[str, Any]) -> _Config:
    """Rebuild any recipe's config from ``config.to_dict()`` (the ``"method"`` key picks the class)."""
    if not isinstance(values, Mapping) or "method" not in values:
        raise ValueError(f"expected a dict with a 'method' key, got {describe(values)}")
    method = check_choice("method", values["method"], CONFIGS)
    return CONFIGS[method].from_dict(values)


def _check_dim(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (0: no projection head), got {describe(value)}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {describe(value)}")
