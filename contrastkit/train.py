"""Training recipes: Siamese, triplet, SimCLR and SupCon on MNIST, on top of one generic ``fit`` loop.

Each recipe is a frozen config dataclass with tested defaults and ``train(config, data)``, which
returns the trained :class:`~contrastkit.models.ConvEncoder` and a per-epoch history::

    import contrastkit as ck
    data = ck.data.load_mnist()
    model, history = ck.train.train(ck.train.SupConConfig(), data)

``fit`` is the loop underneath: AdamW, a cosine (or one-cycle) learning-rate schedule stepped every
batch, ``tqdm.auto`` progress bars, callbacks after each epoch (for live plots), the device chosen
automatically, mixed precision on CUDA, identical results on the CPU for a given seed, and a
checkpoint written atomically after every epoch from which ``resume=True`` continues exactly where
the run stopped. A loss that turns NaN or infinite stops the run with ``TrainingDivergedError``
naming the epoch and step.

Randomness: the model's initial weights come from ``torch.manual_seed(seed)``, the order of the
batches (and the Siamese pairs) from a NumPy generator seeded with ``(seed, epoch)``, and the
augmentations from a ``torch.Generator`` whose state is saved in the checkpoint, so a resumed run
draws exactly the numbers the uninterrupted one would have.

References:
    - [0] Hadsell, Chopra and LeCun 2006, "Dimensionality Reduction by Learning an Invariant
      Mapping", CVPR 2006 (contrastive pair loss)
    - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832; Hermans et al. 2017, arXiv:1703.07737
      (triplet loss with online mining)
    - [2] SimCLR, Chen et al. 2020, arXiv:2002.05709
    - [3] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
    - [4] AdamW, Loshchilov and Hutter 2019, arXiv:1711.05101; SGDR cosine schedule,
      Loshchilov and Hutter 2017, arXiv:1608.03983; one-cycle, Smith and Topin 2017, arXiv:1708.07120
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from contrastkit import augment as _augment
from contrastkit import evaluate as _evaluate
from contrastkit import losses as _losses
from contrastkit import models as _models
from contrastkit._checks import (
    check_choice,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
    describe,
)
from contrastkit.data import MNISTData
from contrastkit.utils import atomic_torch_save, pick_device

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIGS",
    "SCHEDULES",
    "SiameseConfig",
    "SimCLRConfig",
    "SupConConfig",
    "TrainingDivergedError",
    "TripletConfig",
    "config_from_dict",
    "fit",
    "load_checkpoint",
    "train",
]

#: File name of the checkpoint inside ``checkpoint_dir``.
CHECKPOINT_NAME = "checkpoint.pt"
#: Learning-rate schedules understood by ``fit``.
SCHEDULES = ("cosine", "onecycle", "constant")
_FORMAT = 1  # checkpoint layout version

Batch = Any
StepOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, float]]
Callback = Callable[[int, dict[str, list[float]]], None]


class TrainingDivergedError(RuntimeError):
    """The loss (or the model's output) became NaN or infinite during training."""


class _NonFinite(Exception):
    """Raised inside a step when the model's output is not finite; ``fit`` turns it into the error above."""


# ----------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------


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
    """SimCLR: two augmented views per image, NT-Xent on a projection head; labels are not used [2].

    The encoder's embedding (``forward``) is what is evaluated; the projection head is dropped after
    training.

    Attributes:
        temperature: NT-Xent temperature.
        projection_dim: output size of the projection head; 0 applies the loss directly to the
            encoder's embedding.
    """

    method: ClassVar[str] = "simclr"

    epochs: int = 10
    batch_size: int = 256
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


# ----------------------------------------------------------------------------------------------
# The generic loop
# ----------------------------------------------------------------------------------------------


def fit(
    model: nn.Module,
    step_fn: Callable[[Batch], StepOutput],
    batches: Callable[[int], Sequence[Batch]],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    warmup_fraction: float = 0.05,
    device: str | torch.device | None = None,
    evaluate: Callable[[int], Mapping[str, float]] | None = None,
    callbacks: Iterable[Callback] = (),
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    generators: Mapping[str, torch.Generator] | None = None,
    meta: Mapping[str, Any] | None = None,
    desc: str = "train",
) -> dict[str, list[float]]:
    """Train ``model`` by minimising what ``step_fn`` returns, one epoch at a time.

    Per batch: ``step_fn(batch)`` (under ``torch.autocast`` on CUDA) returns the loss, or
    ``(loss, stats)`` with a dict of floats that are averaged over the epoch into the history; then
    AdamW takes a step (through a ``GradScaler`` on CUDA) and the schedule advances. After each
    epoch: ``evaluate(epoch)`` adds its metrics, the checkpoint is written, the callbacks run.

    Args:
        model: every trainable part (encoder and heads); moved to ``device``.
        step_fn: ``step_fn(batch) -> loss`` or ``(loss, stats)``; ``loss`` is a scalar tensor.
        batches: ``batches(epoch) -> sequence of batches`` for 0-based ``epoch``; must give the same
            number of batches every epoch and be deterministic for a given epoch (resume relies on it).
        epochs: total number of epochs.
        lr: peak learning rate.
        weight_decay: AdamW decoupled weight decay, applied to weight matrices and kernels only
            (not to biases or normalisation parameters).
        schedule: "cosine" (linear warm-up over ``warmup_fraction`` of the steps, then cosine decay to
            0), "onecycle" (``torch.optim.lr_scheduler.OneCycleLR``) or "constant".
        warmup_fraction: share of the steps used for warm-up with "cosine", in [0, 1).
        device: None/"auto" picks CUDA, then MPS, then CPU (``contrastkit.pick_device``).
        evaluate: ``evaluate(epoch) -> dict of floats`` called after each epoch (1-based); use NaN
            for metrics that are skipped that epoch.
        callbacks: ``callback(epoch, history)`` after each epoch (1-based epoch).
        checkpoint_dir: folder for ``checkpoint.pt``, written atomically after each epoch; None
            writes nothing.
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one (it must have
            been written with the same ``meta``); a finished checkpoint returns at once.
        progress: show a ``tqdm.auto`` bar per epoch.
        generators: random generators used by ``step_fn`` or ``batches``; their states are saved
            in the checkpoint and restored on resume.
        meta: JSON-like description of the run (the config), stored in the checkpoint and compared
            on resume.
        desc: label of the progress bars.

    Returns:
        History ``dict[str, list[float]]``: "epoch", "loss" (mean over the epoch's steps), "lr" (at
        the end of the epoch), "wall_time" (seconds of training plus evaluation), "eval_time", every
        stat of ``step_fn`` and every metric of ``evaluate``; one entry per epoch.

    Raises:
        TrainingDivergedError: when the loss or the model's output becomes NaN or infinite.
    """
    check_positive_int("epochs", epochs)
    check_positive("lr", lr)
    check_nonnegative("weight_decay", weight_decay)
    check_choice("schedule", schedule, SCHEDULES)
    check_fraction("warmup_fraction", warmup_fraction, open_high=True)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"callbacks must be callables callback(epoch, history), got {describe(cb)}")
    generators = dict(generators or {})
    meta = dict(meta or {})
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir to resume from")

    device = pick_device(device)
    model.to(device)
    use_amp = device.type == "cuda"
    steps_per_epoch = len(batches(0))
    if steps_per_epoch < 1:
        raise ValueError("batches(0) returned no batch: the training set is smaller than one batch")
    total_steps = epochs * steps_per_epoch

    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    scheduler = _make_scheduler(optimizer, schedule, lr, total_steps, warmup_fraction)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    history: dict[str, list[float]] = {"epoch": [], "loss": [], "lr": [], "wall_time": [], "eval_time": []}
    start_epoch = 0
    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if resume and path is not None and path.is_file():
        state = load_checkpoint(path)
        if state.get("meta") != meta:
            raise ValueError(
                f"the checkpoint {path} was written by a different run (saved {state.get('meta')}, now {meta}); "
                "use another checkpoint_dir, or resume=False to start again"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if use_amp and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        history = {k: list(v) for k, v in state["history"].items()}
        start_epoch = int(state["epoch"])
        torch.set_rng_state(state["rng"]["torch"])
        for name, gen in generators.items():
            if name in state["rng"]["generators"]:
                gen.set_state(state["rng"]["generators"][name])

    model.train()
    for epoch in range(start_epoch, epochs):
        e1 = epoch + 1
        t0 = time.perf_counter()
        epoch_batches = batches(epoch)
        if len(epoch_batches) != steps_per_epoch:
            raise ValueError(f"batches({epoch}) gave {len(epoch_batches)} batches, batches(0) gave {steps_per_epoch}")
        loss_sum, stat_sums, stat_counts = 0.0, {}, {}
        bar = tqdm(
            total=steps_per_epoch, desc=f"{desc} {e1}/{epochs}", disable=not progress, leave=True, dynamic_ncols=True
        )
        try:
            for step, batch in enumerate(epoch_batches, start=1):
                try:
                    with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                        out = step_fn(batch)
                except _NonFinite as err:
                    raise TrainingDivergedError(_diverged(str(err), e1, step, steps_per_epoch, lr)) from None
                loss, stats = out if isinstance(out, tuple) else (out, {})
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingDivergedError(_diverged(f"loss became {value}", e1, step, steps_per_epoch, lr))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                loss_sum += value
                for key, v in stats.items():
                    if math.isfinite(float(v)):
                        stat_sums[key] = stat_sums.get(key, 0.0) + float(v)
                        stat_counts[key] = stat_counts.get(key, 0) + 1
                    else:
                        stat_counts.setdefault(key, 0)
                if step % 10 == 0 or step == steps_per_epoch:
                    bar.set_postfix(loss=f"{loss_sum / step:.4f}", refresh=False)
                bar.update(1)
            t1 = time.perf_counter()
            metrics = dict(evaluate(e1)) if evaluate is not None else {}
            t2 = time.perf_counter()
            row: dict[str, float] = {
                "epoch": float(e1),
                "loss": loss_sum / steps_per_epoch,
                "lr": float(optimizer.param_groups[0]["lr"]),
                "wall_time": t2 - t0,
                "eval_time": t2 - t1,
            }
            for key, count in stat_counts.items():
                row[key] = stat_sums.get(key, 0.0) / count if count else float("nan")
            row.update({k: float(v) for k, v in metrics.items()})
            n_before = len(history["epoch"])
            for key, value in row.items():
                history.setdefault(key, [float("nan")] * n_before).append(value)
            for values in history.values():  # keys missing this epoch
                if len(values) < len(history["epoch"]):
                    values.append(float("nan"))
            shown = {k: f"{row[k]:.4f}" for k in ("loss", "knn_accuracy") if k in row and math.isfinite(row[k])}
            bar.set_postfix(shown, refresh=True)
        finally:
            bar.close()
        model.train()
        if path is not None:
            atomic_torch_save(
                {
                    "format": _FORMAT,
                    "meta": meta,
                    "epoch": e1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "history": history,
                    "rng": {
                        "torch": torch.get_rng_state(),
                        "generators": {name: gen.get_state() for name, gen in generators.items()},
                    },
                },
                path,
            )
        for cb in callbacks:
            cb(e1, history)
    model.eval()
    return history


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by ``fit`` (with ``weights_only=True``: tensors and plain containers only).

    Returns:
        dict with "format", "meta" (the config), "epoch" (epochs completed), "model", "optimizer",
        "scheduler", "scaler", "history" and "rng".
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a contrastkit training checkpoint (format {_FORMAT})")
    return state


def _make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, lr: float, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LRScheduler:
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps)
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    warmup = int(warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _diverged(what: str, epoch: int, step: int, steps: int, lr: float) -> str:
    return (
        f"{what} at epoch {epoch}, step {step} of {steps}: training diverged. Lower the learning rate "
        f"(lr={lr:g}; try {lr / 10:g}), or check the inputs and the loss's hyperparameters (a very small "
        "temperature or a huge margin)"
    )


def _finite(z: torch.Tensor) -> torch.Tensor:
    if not bool(torch.isfinite(z).all()):
        raise _NonFinite(f"the model's output became non-finite ({int((~torch.isfinite(z)).sum())} NaN/inf values)")
    return z


# ----------------------------------------------------------------------------------------------
# Recipes
# ----------------------------------------------------------------------------------------------


def train(
    config: _Config,
    data: MNISTData,
    *,
    device: str | torch.device | None = None,
    callbacks: Iterable[Callback] = (),
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train one recipe on MNIST and return the encoder with its history.

    Args:
        config: a ``SiameseConfig``, ``TripletConfig``, ``SimCLRConfig`` or ``SupConConfig``.
        data: the images and labels (``contrastkit.data.load_mnist``). SimCLR never reads
            ``y_train`` for training; the labels are used only for the per-epoch kNN monitor.
        device: None/"auto" for the automatic choice, or e.g. "cpu", "cuda".
        callbacks: ``callback(epoch, history)`` after each epoch, e.g. a live plot.
        checkpoint_dir: where ``checkpoint.pt`` is written after each epoch (None: nowhere).
        resume: continue from the checkpoint in ``checkpoint_dir``; a finished run with the same
            config returns its model at once, without training.
        progress: show progress bars.

    Returns:
        ``(encoder, history)``: the ``ConvEncoder`` (``forward`` gives the embedding
        [B, embedding_dim]) in eval mode on the training device, and the history with keys "epoch",
        "loss", "lr", "wall_time", "eval_time", "knn_accuracy" (k=5 cosine, ``knn_subset`` training
        images as references, ``knn_queries`` test images as queries), "embedding_std" (mean
        per-dimension standard deviation of the L2-normalised query embeddings: near 0 means
        collapse, 1/sqrt(embedding_dim) is the value of a uniform spread) and, for triplets,
        "active_fraction".

    Raises:
        TrainingDivergedError: when the loss turns NaN or infinite.
    """
    if not isinstance(config, tuple(CONFIGS.values())):
        raise ValueError(
            f"config must be one of {', '.join(c.__name__ for c in CONFIGS.values())}, got {describe(config)}"
        )
    if not isinstance(data, MNISTData):
        raise ValueError(f"data must be an MNISTData (contrastkit.data.load_mnist), got {describe(data)}")
    n_train = data.x_train.shape[0]
    if n_train < 2:
        raise ValueError(f"data needs at least 2 training images, got {n_train}")
    for name, value in (("resume", resume), ("progress", progress)):
        _check_bool(name, value)

    device = pick_device(device)
    torch.manual_seed(config.seed)
    encoder = _models.ConvEncoder(embedding_dim=config.embedding_dim, width=config.width)
    x_train = data.x_train.to(device)  # [N, 1, 28, 28]
    y_train = data.y_train.to(device)  # [N]
    aug_gen = torch.Generator().manual_seed(config.seed)

    recipe = _RECIPES[config.method]
    model, step_fn, batches = recipe(config, encoder, x_train, y_train, aug_gen)
    evaluate = _make_monitor(config, encoder, data)
    meta = {
        "config": config.to_dict(),
        "data": {"source": data.source, "n_train": n_train, "n_test": int(data.x_test.shape[0])},
    }
    history = fit(
        model,
        step_fn,
        batches,
        epochs=config.epochs,
        lr=config.lr,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        warmup_fraction=config.warmup_fraction,
        device=device,
        evaluate=evaluate,
        callbacks=callbacks,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        generators={"augment": aug_gen},
        meta=meta,
        desc=config.method,
    )
    encoder.eval()
    return encoder, history


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def _shuffled_batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device) -> list[torch.Tensor]:
    """A random permutation of range(n) cut into batches; an incomplete last batch is dropped."""
    order = torch.from_numpy(_epoch_rng(seed, epoch).permutation(n)).to(device)  # [N]
    size = min(batch_size, n)
    return [order[i : i + size] for i in range(0, n - size + 1, size)]


def _augmenter(config: _Config) -> _augment.DigitAugment | None:
    return _augment.DigitAugment.with_strength(config.augment_strength) if config.augment_strength > 0 else None


def _siamese(config: SiameseConfig, encoder, x, y, gen):
    net = _models.SiameseNet(encoder)
    aug = _augmenter(config)
    n = x.shape[0]
    labels = y.cpu().numpy()
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]  # per class, indices
    class_pos = np.searchsorted(classes, labels)  # [N] position of each label in `classes`

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        rng = _epoch_rng(config.seed, epoch)
        first = rng.permutation(n)  # [N]
        same = rng.random(n) < config.positive_fraction  # [N]
        if len(classes) < 2:
            same[:] = True
        # the partner's class: the anchor's own, or another one drawn uniformly
        offset = rng.integers(1, max(len(classes), 2), size=n)
        partner_class = np.where(same, class_pos[first], (class_pos[first] + offset) % len(classes))  # [N]
        u = rng.random(n)
        second = np.array([members[c][int(v * len(members[c]))] for c, v in zip(partner_class, u)])  # [N]
        i = torch.from_numpy(first).to(x.device)
        j = torch.from_numpy(second).to(x.device)
        s = torch.from_numpy(same.astype(np.float32)).to(x.device)
        size = min(config.batch_size, n)
        return [(i[a : a + size], j[a : a + size], s[a : a + size]) for a in range(0, n - size + 1, size)]

    def step(batch):
        i, j, same = batch
        x1, x2 = x[i], x[j]  # [B, 1, 28, 28]
        if aug is not None:
            both = aug(torch.cat([x1, x2]), generator=gen)  # [2B, 1, 28, 28]
            x1, x2 = both[: i.shape[0]], both[i.shape[0] :]
        e1, e2 = net(x1, x2)  # [B, D] each
        e1, e2 = _finite(e1.float()), _finite(e2.float())
        if config.normalize:
            e1, e2 = F.normalize(e1, dim=1), F.normalize(e2, dim=1)
        return _losses.contrastive_loss(e1, e2, same, margin=config.margin, variant=config.variant)

    return net, step, batches


def _triplet(config: TripletConfig, encoder, x, y, gen):
    from contrastkit.data import ClassBalancedBatchSampler

    aug = _augmenter(config)
    sampler = ClassBalancedBatchSampler(
        y.cpu(), classes_per_batch=config.classes_per_batch, samples_per_class=config.k, seed=config.seed
    )

    def batches(epoch: int) -> list[torch.Tensor]:
        sampler.set_epoch(epoch)
        return [torch.as_tensor(b, dtype=torch.long).to(x.device) for b in sampler]

    def step(idx):
        images = x[idx]  # [B, 1, 28, 28]
        if aug is not None:
            images = aug(images, generator=gen)
        z = _finite(encoder(images).float())  # [B, D]
        if config.normalize:
            z = F.normalize(z, dim=1)
        loss, stats = _losses.batch_triplet_loss(
            z, y[idx], margin=config.margin, strategy=config.strategy, squared=config.squared, return_stats=True
        )
        return loss, {"active_fraction": stats.active_fraction}

    return encoder, step, batches


def _projection(config: SimCLRConfig | SupConConfig) -> nn.Module:
    """The projection head g (an MLP on the embedding), or the identity when ``projection_dim`` is 0."""
    if not config.projection_dim:
        return nn.Identity()
    hidden = max(128, config.embedding_dim)
    return _models.ProjectionHead(config.embedding_dim, hidden_dim=hidden, out_dim=config.projection_dim)


def _simclr(config: SimCLRConfig, encoder, x, y, gen):
    head = _projection(config)
    model = nn.ModuleDict({"encoder": encoder, "head": head})
    views = _augment.MultiView(_augment.DigitAugment.with_strength(config.augment_strength), n_views=2)

    def batches(epoch: int) -> list[torch.Tensor]:
        return _shuffled_batches(x.shape[0], config.batch_size, config.seed, epoch, x.device)

    def step(idx):
        v = views(x[idx], generator=gen)  # [B, 2, 1, 28, 28]
        b = v.shape[0]
        z = head(encoder(v.transpose(0, 1).reshape(2 * b, *v.shape[2:])))  # [2B, P], view-major
        z = _finite(z.float())
        return _losses.nt_xent_loss(z[:b], z[b:], temperature=config.temperature)

    return model, step, batches


def _supcon(config: SupConConfig, encoder, x, y, gen):
    head = _projection(config)
    model = nn.ModuleDict({"encoder": encoder, "head": head})
    views = _augment.MultiView(_augment.DigitAugment.with_strength(config.augment_strength), n_views=config.n_views)

    def batches(epoch: int) -> list[torch.Tensor]:
        return _shuffled_batches(x.shape[0], config.batch_size, config.seed, epoch, x.device)

    def step(idx):
        v = views(x[idx], generator=gen)  # [B, V, 1, 28, 28]
        b, n_views = v.shape[:2]
        z = head(encoder(v.transpose(0, 1).reshape(n_views * b, *v.shape[2:])))  # [V*B, P], view-major
        z = _finite(z.float()).reshape(n_views, b, -1).transpose(0, 1)  # [B, V, P]
        return _losses.supcon_loss(z, y[idx], temperature=config.temperature)

    return model, step, batches


_RECIPES = {"siamese": _siamese, "triplet": _triplet, "simclr": _simclr, "supcon": _supcon}


def _make_monitor(config: _Config, encoder: nn.Module, data: MNISTData) -> Callable[[int], dict[str, float]]:
    """Per-epoch kNN accuracy and embedding spread on fixed subsets (chosen with ``config.seed``)."""
    rng = np.random.default_rng([config.seed, 2**20])
    n_ref = min(config.knn_subset, data.x_train.shape[0])
    n_query = min(config.knn_queries, data.x_test.shape[0])
    ref = torch.from_numpy(np.sort(rng.choice(data.x_train.shape[0], n_ref, replace=False)))
    query = torch.from_numpy(np.sort(rng.choice(data.x_test.shape[0], n_query, replace=False)))
    x_ref, y_ref = data.x_train[ref], data.y_train[ref]
    x_query, y_query = data.x_test[query], data.y_test[query]
    k = min(5, n_ref)

    def monitor(epoch: int) -> dict[str, float]:
        if epoch % config.eval_every and epoch != config.epochs:
            return {"knn_accuracy": float("nan"), "embedding_std": float("nan")}
        ref_emb = _evaluate.embed(encoder, x_ref)  # [R, D]
        query_emb = _evaluate.embed(encoder, x_query)  # [Q, D]
        if not (torch.isfinite(ref_emb).all() and torch.isfinite(query_emb).all()):
            return {"knn_accuracy": float("nan"), "embedding_std": float("nan")}
        knn = _evaluate.knn_accuracy(ref_emb, y_ref, query_emb, y_query, k=k, metric="cosine")
        spread = F.normalize(query_emb, dim=1).std(dim=0).mean()  # mean over D of the per-dimension std
        return {"knn_accuracy": knn, "embedding_std": float(spread)}

    return monitor
