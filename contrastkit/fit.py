"""The generic training loop ``fit``: optimiser, schedule, progress bars, callbacks, checkpoints.

``fit(model, step_fn, batches, epochs=...)`` knows nothing about contrastive learning: a recipe
(``contrastkit.train``) hands it a loss function for one batch and the batches of each epoch. It
brings AdamW with a cosine (or one-cycle, or constant) learning-rate schedule stepped every batch,
``tqdm.auto`` progress bars, callbacks after each epoch (for live plots), mixed precision on CUDA,
identical results on the CPU for a given seed, and a checkpoint written atomically after every
epoch from which ``resume=True`` continues exactly where the run stopped. A loss that turns NaN or
infinite stops the run with ``TrainingDivergedError`` naming the epoch and step.
``contrastkit.train`` re-exports every name here.

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
    check_choice,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
    describe,
)
from contrastkit.configs import SCHEDULES
from contrastkit.utils import atomic_torch_save, pick_device

__all__ = ["CHECKPOINT_NAME", "TrainingDivergedError", "fit", "load_checkpoint"]

#: File name of the checkpoint inside ``checkpoint_dir``.
CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 1  # checkpoint layout version

Batch = Any
StepOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, float]]
Callback = Callable[[int, dict[str, list[float]]], None]


class TrainingDivergedError(RuntimeError):
    """The loss (or the model's output) became NaN or infinite during training."""


class _NonFinite(Exception):
    """Raised inside a step when the model's output is not finite; ``fit`` turns it into the error above."""


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
