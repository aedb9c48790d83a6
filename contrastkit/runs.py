"""Tracked experiment runs: one directory per training run, written atomically, read back with ``load``.

A run directory (``python -m contrastkit train`` writes one) holds::

    config.json      method, recipe (the config's fields), data source and sizes, seed, device,
                     library versions
    metrics.jsonl    the training history, one JSON object per finished epoch
    checkpoint.pt    the trainer's checkpoint, for ``--resume``
    model.pt         the encoder's state dict (load with ``Run.model()``)
    metrics.json     the final evaluation (``evaluate_embeddings``) and the training time
    embeddings.npz   test embeddings [M, D], their labels [M] and the 2-D UMAP points [M, 2]
    history.png      loss and monitors per epoch
    umap.png         the test embeddings projected to 2-D
    tensorboard/     (``--tensorboard``) scalars per epoch and a projector entry with thumbnails

Every file is written through a temporary file and a rename, so a crash or Ctrl-C leaves either
the previous version or the new one, never half a file; ``metrics.jsonl`` and the checkpoint are
rewritten after every epoch, so an interrupted run can always be resumed.

Reading a run back (:class:`Run`, :func:`load`, :func:`list_runs`) and what ``config.json`` records
(:func:`write_config`, :func:`make_config`, :func:`config_from_record`, :func:`prepare_data`,
:func:`data_from_record`) live in :mod:`contrastkit.rundir`; this module creates, trains and
evaluates runs and re-exports all of it, so every ``ck.runs`` name works as before.

In a notebook::

    run = ck.runs.load("runs/supcon-20260101-120000")
    run.metrics["knn_accuracy"], run.history["loss"], run.embeddings.shape
    encoder = run.model()
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contrastkit.rundir import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    HISTORY_FILE,
    METHODS,
    METRICS_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    Run,
    RunDirectoryError,
    config_from_record,
    data_from_record,
    history_from_jsonl,
    history_to_jsonl,
    library_versions,
    list_runs,
    load,
    make_config,
    prepare_data,
    write_config,
)
from contrastkit.rundir import SUBSET_SEED as SUBSET_SEED
from contrastkit.rundir import recipe_fields as recipe_fields
from contrastkit.utils import atomic_path, atomic_torch_save, atomic_write_text, seed_everything

__all__ = [
    "CONFIG_FILE",
    "METHODS",
    "Run",
    "RunDirectoryError",
    "TensorBoardLogger",
    "config_from_record",
    "data_from_record",
    "evaluate_run",
    "history_from_jsonl",
    "history_to_jsonl",
    "library_versions",
    "list_runs",
    "load",
    "make_config",
    "new_run_dir",
    "prepare_data",
    "train_run",
]

#: Test points shown in TensorBoard's projector (its sprite image grows with the square root).
PROJECTOR_POINTS = 2000


# ----------------------------------------------------------------------------------------------
# Writing a run
# ----------------------------------------------------------------------------------------------


def new_run_dir(root: str | Path, name: str) -> Path:
    """A new, empty directory ``root/<name>-<YYYYmmdd-HHMMSS>`` (suffixed ``-2``, ``-3``... if taken)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def ensure_fresh_dir(path: Path) -> Path:
    """Create ``path`` if needed; refuse one that already holds files (runs are never overwritten)."""
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise RunDirectoryError(
            f"{path} is not empty: a run is never overwritten. Pass --resume to continue the run in it, "
            "or choose another --out"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


class MetricsWriter:
    """Training callback that rewrites ``metrics.jsonl`` atomically from the history after each epoch."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / HISTORY_FILE

    def __call__(self, epoch: int, history: dict[str, list[float]]) -> None:
        atomic_write_text(self.path, history_to_jsonl(history))


class TensorBoardLogger:
    """Training callback writing the newest epoch's history values as TensorBoard scalars.

    ``add_projector`` then stores test embeddings with their labels and digit thumbnails for
    TensorBoard's projector tab (``tensorboard --logdir RUN_DIR/tensorboard``).
    """

    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))

    def __call__(self, epoch: int, history: dict[str, list[float]]) -> None:
        step = int(history["epoch"][-1]) if history.get("epoch") else epoch
        for key, values in history.items():
            if key != "epoch" and values and _is_number(values[-1]):
                self.writer.add_scalar(f"train/{key}", float(values[-1]), step)
        self.writer.flush()

    def add_projector(
        self, embeddings: torch.Tensor, labels: torch.Tensor, images: torch.Tensor, step: int, seed: int = 0
    ) -> None:
        """Store up to ``PROJECTOR_POINTS`` test embeddings [M, D] with labels [M] and images [M, 1, 28, 28]."""
        n = embeddings.shape[0]
        keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:PROJECTOR_POINTS].sort().values
        self.writer.add_embedding(
            embeddings[keep],
            metadata=[str(int(y)) for y in labels[keep]],
            label_img=images[keep].float().clamp(0, 1),  # [n, 1, 28, 28]
            global_step=step,
            tag="test_embeddings",
        )
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def train_run(
    run_dir: str | Path,
    config,
    data,
    data_record: dict[str, Any],
    *,
    device: str | torch.device | None = None,
    resume: bool = False,
    tensorboard: bool = False,
    progress: bool = True,
    figures: bool = True,
    callbacks: Iterable[Callable[[int, dict[str, list[float]]], None]] = (),
) -> Run:
    """Train ``config`` on ``data`` into ``run_dir``, evaluate, and write every file of the run.

    With ``resume=False`` the directory must be empty (or absent); with ``resume=True`` training
    continues from ``run_dir/checkpoint.pt`` (a finished checkpoint returns at once and only the
    evaluation is redone). A ``KeyboardInterrupt`` propagates after the last finished epoch's
    checkpoint and ``metrics.jsonl`` are on disk.

    Args:
        run_dir: the run directory.
        config: a training config (``SupConConfig(...)`` etc.).
        data: ``MNISTData``.
        data_record: from :func:`prepare_data`, stored in ``config.json``.
        device: None/"auto" for the best available.
        resume: continue the run in ``run_dir``.
        tensorboard: also write TensorBoard scalars and a projector entry.
        progress: show the trainer's progress bars.
        figures: draw ``history.png`` and ``umap.png``.
        callbacks: extra training callbacks, called after the run's own.

    Returns:
        The finished run, read back with :func:`load`.
    """
    from contrastkit import train as ck_train
    from contrastkit.utils import pick_device

    run_dir = Path(run_dir)
    dev = pick_device(device)
    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunDirectoryError(f"cannot resume: {run_dir} has no {CONFIG_FILE}")
    else:
        ensure_fresh_dir(run_dir)
        write_config(run_dir, config, data_record, device=str(dev), tensorboard=tensorboard)

    own: list[Callable[[int, dict[str, list[float]]], None]] = [MetricsWriter(run_dir)]
    logger = TensorBoardLogger(run_dir / TENSORBOARD_DIR) if tensorboard else None
    if logger is not None:
        own.append(logger)
    try:
        seed_everything(int(getattr(config, "seed", 0)))
        model, history = ck_train.train(
            config,
            data,
            device=dev,
            callbacks=(*own, *callbacks),
            checkpoint_dir=run_dir,
            resume=resume,
            progress=progress,
        )
        MetricsWriter(run_dir)(len(history.get("epoch", ())), history)
        atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, run_dir / MODEL_FILE)
        _evaluate_and_save(
            run_dir, model, data, dev, history=history, figures=figures, logger=logger, title=config.method
        )
    finally:
        if logger is not None:
            logger.close()
    return load(run_dir)


def evaluate_run(run_dir: str | Path, device: str | torch.device | None = None, figures: bool = False) -> Run:
    """Re-evaluate a saved run: rebuild its encoder from ``model.pt``, re-embed its data, rewrite
    ``metrics.json`` and ``embeddings.npz`` (the training time recorded before is kept).
    """
    from contrastkit.utils import pick_device

    run = load(run_dir)
    model = run.model()
    dev = pick_device(device)
    data = data_from_record(run.config.get("data", {}))
    _evaluate_and_save(
        run.path, model.to(dev), data, dev, history=run.history, figures=figures, logger=None, title=run.method
    )
    return load(run.path)


def _evaluate_and_save(
    run_dir: Path, model: nn.Module, data, device, *, history, figures: bool, logger, title: str
) -> None:
    from contrastkit.evaluate import embed, evaluate_embeddings

    start = time.perf_counter()
    train_emb = embed(model, data.x_train, device=device)  # [N, D]
    test_emb = embed(model, data.x_test, device=device)  # [M, D]
    metrics: dict[str, Any] = {
        key: float(value) for key, value in evaluate_embeddings(train_emb, data.y_train, test_emb, data.y_test).items()
    }
    metrics["train_time_s"] = float(sum(history.get("wall_time", ())))
    metrics["epochs"] = len(history.get("epoch", ()))
    metrics["eval_time_s"] = time.perf_counter() - start

    arrays = {"embeddings": test_emb.numpy(), "labels": data.y_test.numpy()}
    if figures:
        arrays["umap"] = _draw_figures(run_dir, history, test_emb, data, title)
    elif (run_dir / EMBEDDINGS_FILE).is_file():  # a re-evaluation keeps the projection drawn before
        with np.load(run_dir / EMBEDDINGS_FILE) as old:
            if "umap" in old.files and len(old["umap"]) == len(test_emb):
                arrays["umap"] = old["umap"]
    with atomic_path(run_dir / EMBEDDINGS_FILE) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    if logger is not None:
        logger.add_projector(test_emb, data.y_test, data.x_test, step=metrics["epochs"])
    atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


def _draw_figures(run_dir: Path, history, test_emb: torch.Tensor, data, title: str) -> np.ndarray:
    """Save ``history.png`` and ``umap.png``; return the UMAP points [M, 2]."""
    import matplotlib.pyplot as plt

    from contrastkit import viz

    if history.get("epoch"):
        save_figure(viz.plot_history(history), run_dir / "history.png")
    points = np.asarray(viz.project(test_emb.numpy(), method="umap", seed=0), dtype=np.float32)  # [M, 2]
    _, ax = plt.subplots(figsize=(7, 6))
    viz.plot_embedding(
        points, data.y_test.numpy(), images=data.x_test, ax=ax, title=f"{title}: UMAP of the test embeddings"
    )
    save_figure(ax, run_dir / "umap.png")
    return points


def save_figure(fig_or_ax, path: str | Path, dpi: int = 110) -> None:
    """Save a Figure (or an Axes' figure) atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    fig = fig_or_ax if hasattr(fig_or_ax, "savefig") else fig_or_ax.figure
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
