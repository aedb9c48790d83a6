"""Training checkpoints: everything ``fit`` needs to continue a run exactly where it stopped.

A checkpoint holds the model, optimiser, schedule and gradient-scaler states, the history so far,
the random-number states (torch's global one and every generator the recipe draws from) and the
run's ``meta`` (its config), which must match on resume. It is written atomically after every
epoch, so Ctrl-C leaves the previous one intact, and read with ``torch.load(weights_only=True)``:
tensors and plain containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastkit.utils import atomic_torch_save

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "restore_checkpoint", "save_checkpoint"]

#: File name of the checkpoint inside a run's ``checkpoint_dir``.
CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 1  # checkpoint layout version
_KEYS = ("meta", "epoch", "model", "optimizer", "scheduler", "scaler", "history", "rng")


def save_checkpoint(
    path: Path,
    *,
    meta: Mapping[str, Any],
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    history: Mapping[str, list[float]],
    generators: Mapping[str, torch.Generator],
) -> None:
    """Write the state after ``epoch`` finished epochs to ``path``, atomically."""
    atomic_torch_save(
        {
            "format": _FORMAT,
            "meta": dict(meta),
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "history": dict(history),
            "rng": {
                "torch": torch.get_rng_state(),
                "generators": {name: gen.get_state() for name, gen in generators.items()},
            },
        },
        path,
    )


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by ``fit`` (with ``weights_only=True``: tensors and plain containers only).

    Returns:
        dict with "format", "meta" (the config), "epoch" (epochs completed), "model", "optimizer",
        "scheduler", "scaler", "history" and "rng".
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, a pickle of other objects: many error types
        raise ValueError(
            f"{path} cannot be read ({type(err).__name__}): the checkpoint is truncated or corrupt. Delete it to "
            "train the run again from the start"
        ) from err
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a contrastkit training checkpoint (format {_FORMAT})")
    missing = [key for key in _KEYS if key not in state]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: the checkpoint is incomplete. Delete it to train again")
    return state


def restore_checkpoint(
    path: Path,
    *,
    meta: Mapping[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    generators: Mapping[str, torch.Generator],
) -> tuple[int, dict[str, list[float]]]:
    """Load ``path`` into the training state; return ``(epochs completed, history)``.

    Raises:
        ValueError: the checkpoint was written by a run with another ``meta``, or is not a checkpoint.
    """
    state = load_checkpoint(path)
    if state.get("meta") != dict(meta):
        raise ValueError(
            f"the checkpoint {path} was written by a different run (saved {state.get('meta')}, now {dict(meta)}); "
            "use another checkpoint_dir, or resume=False to start again"
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler.is_enabled() and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        for name, gen in generators.items():
            if name in state["rng"]["generators"]:
                gen.set_state(state["rng"]["generators"][name])
        return int(state["epoch"]), {k: list(v) for k, v in state["history"].items()}
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise ValueError(
            f"{path} does not fit this run ({type(err).__name__}: {err}); the checkpoint is corrupt. Delete it to "
            "train the run again from the start"
        ) from err
