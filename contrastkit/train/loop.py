"""The training loop ``fit``: forward, loss, zero_grad, backward, step, schedule; epoch after epoch.

``fit(model, step_fn, batches, epochs=...)`` knows nothing about contrastive learning: a recipe
hands it a function computing the loss of one batch and the batches of each epoch. Around the six
lines of the loop it brings AdamW with a cosine (or one-cycle, or constant) learning-rate schedule
stepped every batch, ``tqdm.auto`` progress bars, callbacks after each epoch (live plots, run
files), mixed precision on CUDA, identical results on the CPU for a given seed, and a checkpoint
written atomically after every epoch (:mod:`contrastkit.train.checkpoint`) from which
``resume=True`` continues exactly where the run stopped. A loss that turns NaN or infinite stops
the run with ``TrainingDivergedError`` naming the epoch and step. The loss is read back from the
device only when it is logged (every 10 steps and at the end of an epoch), never on every step.

References:
    - [0] AdamW, Loshchilov and Hutter 2019, arXiv:1711.05101; SGDR cosine schedule,
      Loshchilov and Hutter 2017, arXiv:1608.03983; one-cycle, Smith and Topin 2017, arXiv:1708.07120
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from contrastkit._checks import (
    check_bool,
    check_choice,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
    describe,
)
from contrastkit.train.checkpoint import CHECKPOINT_NAME, restore_checkpoint, save_checkpoint
from contrastkit.utils import pick_device

__all__ = ["SCHEDULES", "Callback", "TrainingDivergedError", "fit", "make_scheduler"]

#: Learning-rate schedules understood by ``fit``.
SCHEDULES = ("cosine", "onecycle", "constant")
#: The loss is read back to the host (progress bar, divergence check) every this many steps.
LOG_EVERY = 10

Batch = Any
StepOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, float]]
Callback = Callable[[int, dict[str, list[float]]], None]


class TrainingDivergedError(RuntimeError):
    """The loss (or the model's weights) became NaN or infinite during training."""


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
        device: a ``torch.device`` (used as it is), or None/"auto"/a name for
            ``contrastkit.pick_device``.
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
        TrainingDivergedError: when the loss (or the model's weights) becomes NaN or infinite.
    """
    check_positive_int("epochs", epochs)
    check_positive("lr", lr)
    check_nonnegative("weight_decay", weight_decay)
    check_choice("schedule", schedule, SCHEDULES)
    check_fraction("warmup_fraction", warmup_fraction, open_high=True)
    check_bool("resume", resume)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"callbacks must be callables callback(epoch, history), got {describe(cb)}")
    generators = dict(generators or {})
    meta = dict(meta or {})
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir to resume from")
    steps_per_epoch = len(batches(0))
    if steps_per_epoch < 1:
        raise ValueError("batches(0) returned no batch: the training set is smaller than one batch")

    device = device if isinstance(device, torch.device) else pick_device(device)
    model.to(device)
    use_amp = device.type == "cuda"
    optimizer = _adamw(model, lr, weight_decay)
    scheduler = make_scheduler(optimizer, schedule, lr, epochs * steps_per_epoch, warmup_fraction)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}

    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    start_epoch, history = 0, _History()
    if resume and path is not None and path.is_file():
        start_epoch, saved = restore_checkpoint(path, meta=meta, generators=generators, **state)
        history = _History(saved)

    model.train()
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        with _EpochLog(epoch + 1, epochs, steps_per_epoch, lr, desc, progress) as log:
            for batch in _epoch_batches(batches, epoch, steps_per_epoch):
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                    loss, stats = log.forward(step_fn, batch, model)  # forward and loss
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                log.add(loss, stats)
            t1 = time.perf_counter()
            metrics = dict(evaluate(epoch + 1)) if evaluate is not None else {}
            t2 = time.perf_counter()
            history.append(
                log.row(optimizer.param_groups[0]["lr"], wall_time=t2 - t0, eval_time=t2 - t1, metrics=metrics)
            )
        model.train()
        if path is not None:
            save_checkpoint(path, meta=meta, epoch=epoch + 1, history=history, generators=generators, **state)
        for cb in callbacks:
            cb(epoch + 1, history)
    model.eval()
    return dict(history)


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, lr: float, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of ``fit``, stepped once per batch (see ``fit`` for the choices)."""
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


# ----------------------------------------------------------------------------------------------
# Helpers around the loop
# ----------------------------------------------------------------------------------------------


def _adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with decay on weight matrices and kernels only (not biases or normalisation parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _epoch_batches(batches: Callable[[int], Sequence[Batch]], epoch: int, steps: int) -> Sequence[Batch]:
    got = batches(epoch)
    if len(got) != steps:
        raise ValueError(f"batches({epoch}) gave {len(got)} batches, batches(0) gave {steps}")
    return got


def _loss_and_stats(out: StepOutput) -> tuple[torch.Tensor, Mapping[str, float]]:
    return out if isinstance(out, tuple) else (out, {})


class _History(dict):
    """The per-epoch history: a dict of equal-length lists; keys missing in an epoch get NaN."""

    def __init__(self, saved: Mapping[str, list[float]] | None = None):
        super().__init__(saved or {"epoch": [], "loss": [], "lr": [], "wall_time": [], "eval_time": []})

    def append(self, row: Mapping[str, float]) -> None:
        n_before = len(self["epoch"])
        for key, value in row.items():
            self.setdefault(key, [float("nan")] * n_before).append(value)
        for values in self.values():
            if len(values) < n_before + 1:
                values.append(float("nan"))


class _EpochLog:
    """One epoch's running loss and stats, its progress bar, and the divergence check.

    Losses stay on the device until they are logged: every ``LOG_EVERY`` steps (and at the end)
    they are read back in one transfer, added up and checked, and the first non-finite one is
    reported with its step.
    """

    def __init__(self, epoch: int, epochs: int, steps: int, lr: float, desc: str, progress: bool):
        self.epoch, self.steps, self.lr = epoch, steps, lr
        self.bar = tqdm(
            total=steps, desc=f"{desc} {epoch}/{epochs}", disable=not progress, leave=True, dynamic_ncols=True
        )
        self.step = 0
        self.loss_sum = 0.0
        self.pending: list[torch.Tensor] = []
        self.stat_sums: dict[str, float] = {}
        self.stat_counts: dict[str, int] = {}

    def add(self, loss: torch.Tensor, stats: Mapping[str, float]) -> None:
        self.step += 1
        self.pending.append(loss.detach())
        for key, v in stats.items():
            if math.isfinite(float(v)):
                self.stat_sums[key] = self.stat_sums.get(key, 0.0) + float(v)
                self.stat_counts[key] = self.stat_counts.get(key, 0) + 1
            else:
                self.stat_counts.setdefault(key, 0)
        if self.step % LOG_EVERY == 0 or self.step == self.steps:
            self._flush()
            self.bar.set_postfix(loss=f"{self.loss_sum / self.step:.4f}", refresh=False)
        self.bar.update(1)

    def _flush(self) -> None:
        if not self.pending:
            return
        values = torch.stack(self.pending).float().cpu()  # [n] one transfer for the logged steps
        first = self.step - len(self.pending) + 1
        self.pending = []
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise TrainingDivergedError(
                self._diverged(
                    f"loss became {float(values[i])}",
                    first + i,
                    "a non-finite loss: NaN/inf in the model's output or in the loss",
                )
            )
        self.loss_sum += float(values.double().sum())

    def forward(self, step_fn: Callable[[Batch], StepOutput], batch: Batch, model: nn.Module) -> tuple:
        """``step_fn(batch)`` as ``(loss, stats)``; an error caused by a diverged model is reported as divergence.

        NaN weights or outputs make a loss's own input check fail before a NaN loss is read back, so
        the divergence (with its step) is reported rather than the error it caused.
        """
        try:
            return _loss_and_stats(step_fn(batch))
        except Exception as err:
            self.diverged_before(err, model)
            raise

    def diverged_before(self, err: Exception, model: nn.Module) -> None:
        """Raise ``TrainingDivergedError`` if the step that raised ``err`` failed because training had diverged.

        That is: a loss not yet read back was non-finite, or the model's weights or buffers are (a NaN
        model output then reaches the loss, whose input check refuses it).
        """
        self._flush()
        bad = [name for name, t in (*model.named_parameters(), *model.named_buffers())
               if t.is_floating_point() and not bool(torch.isfinite(t).all())]  # fmt: skip
        if bad:
            names = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
            raise TrainingDivergedError(
                self._diverged("the model became non-finite", self.step + 1, f"NaN/inf in {names}; {err}")
            ) from err

    def _diverged(self, what: str, step: int, why: str) -> str:
        return (
            f"{what} at epoch {self.epoch}, step {step} of {self.steps}: training diverged ({why}). Lower the "
            f"learning rate (lr={self.lr:g}; try {self.lr / 10:g}), or check the inputs and the loss's "
            "hyperparameters (a very small temperature or a huge margin)"
        )

    def row(self, lr: float, *, wall_time: float, eval_time: float, metrics: Mapping[str, float]) -> dict[str, float]:
        """The epoch's history row (mean loss, learning rate, times, stats, metrics)."""
        self._flush()
        row: dict[str, float] = {
            "epoch": float(self.epoch),
            "loss": self.loss_sum / self.steps,
            "lr": float(lr),
            "wall_time": wall_time,
            "eval_time": eval_time,
        }
        for key, count in self.stat_counts.items():
            row[key] = self.stat_sums.get(key, 0.0) / count if count else float("nan")
        row.update({k: float(v) for k, v in metrics.items()})
        shown = {k: f"{row[k]:.4f}" for k in ("loss", "knn_accuracy") if k in row and math.isfinite(row[k])}
        self.bar.set_postfix(shown, refresh=True)
        return row

    def __enter__(self) -> _EpochLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
