"""Writing runs: train a recipe into a run directory, evaluate it, draw its figures.

Every file is written through a temporary file and a rename, so a crash or Ctrl-C leaves either
the previous version or the new one, never half a file; ``metrics.jsonl`` and the checkpoint are
rewritten after every epoch, so an interrupted run can always be resumed. The files of a run are
listed in :mod:`contrastkit.runs.rundir`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import shlex
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from contrastkit.data import MNISTData
from contrastkit.evaluate import embed, evaluate_embeddings
from contrastkit.runs.report import Leaderboard, comparison_report, metrics_line
from contrastkit.runs.rundir import (
    CONFIG_FILE,
    EMBEDDINGS_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    Run,
    RunDirectoryError,
    data_from_record,
    history_to_jsonl,
    library_versions,
    load,
    write_config,
)
from contrastkit.train import Callback, RecipeConfig, train
from contrastkit.utils import atomic_path, atomic_torch_save, atomic_write_text, pick_device, seed_everything

__all__ = [
    "LOCK_FILE",
    "PROJECTOR_POINTS",
    "MetricsWriter",
    "TensorBoardLogger",
    "compare",
    "ensure_fresh_dir",
    "evaluate_run",
    "locked",
    "new_run_dir",
    "save_figure",
    "train_run",
]

#: The lock file of a run directory being written (see ``locked``).
LOCK_FILE = ".lock"
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


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` (created if needed) while a process writes it.

    A second process that tries to write the same run directory is refused with
    ``RunDirectoryError`` instead of interleaving its files with the first one's. The lock is an
    ``flock`` on ``run_dir/.lock``, so a killed process never leaves a stale lock behind; where
    ``fcntl`` does not exist (Windows) runs are not locked.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path = run_dir / LOCK_FILE
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryError(
                f"{run_dir} is being written by another contrastkit process right now; wait for it to finish "
                "(or stop it), or choose another --out"
            ) from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_fresh_dir(path: Path, *, resumable: bool = True) -> Path:
    """Create ``path`` if needed; refuse one that already holds files (runs are never overwritten).

    ``resumable``: the message suggests ``--resume`` (a single run's directory) or not (a comparison).
    """
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"{path} exists and is not a directory")
    if path.is_dir() and any(p.name != LOCK_FILE for p in path.iterdir()):
        way_out = (
            "Pass --resume to continue the run in it, or choose another --out" if resumable else "Choose another --out"
        )
        raise RunDirectoryError(f"{path} is not empty: a run is never overwritten. {way_out} another --out")
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
    config: RecipeConfig,
    data: MNISTData,
    data_record: dict[str, Any],
    *,
    device: str | torch.device | None = None,
    resume: bool = False,
    tensorboard: bool = False,
    progress: bool = True,
    figures: bool = True,
    callbacks: Iterable[Callback] = (),
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
    run_dir = Path(run_dir)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    if resume and not (run_dir / CONFIG_FILE).is_file():
        raise RunDirectoryError(f"cannot resume: {run_dir} has no {CONFIG_FILE}")
    with locked(run_dir):
        if not resume:
            ensure_fresh_dir(run_dir)
            write_config(run_dir, config, data_record, device=str(dev), tensorboard=tensorboard)
        _train_locked(run_dir, config, data, dev, resume, tensorboard, progress, figures, callbacks)
    return load(run_dir)


def _train_locked(
    run_dir: Path,
    config: RecipeConfig,
    data: MNISTData,
    dev: torch.device,
    resume: bool,
    tensorboard: bool,
    progress: bool,
    figures: bool,
    callbacks: Iterable[Callback],
) -> None:
    own: list[Callback] = [MetricsWriter(run_dir)]
    logger = TensorBoardLogger(run_dir / TENSORBOARD_DIR) if tensorboard else None
    if logger is not None:
        own.append(logger)
    try:
        seed_everything(int(getattr(config, "seed", 0)))
        model, history = train(
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


def evaluate_run(run_dir: str | Path, device: str | torch.device | None = None, figures: bool = False) -> Run:
    """Re-evaluate a saved run: rebuild its encoder from ``model.pt``, re-embed its data, rewrite
    ``metrics.json`` and ``embeddings.npz`` (the training time recorded before is kept).
    """
    run = load(run_dir)
    model = run.model()
    dev = device if isinstance(device, torch.device) else pick_device(device)
    data = data_from_record(run.config.get("data", {}))
    with locked(run.path):
        _evaluate_and_save(
            run.path, model.to(dev), data, dev, history=run.history, figures=figures, logger=None, title=run.method
        )
    return load(run.path)


def _evaluate_and_save(
    run_dir: Path,
    model: nn.Module,
    data: MNISTData,
    device: torch.device,
    *,
    history: dict[str, list[float]],
    figures: bool,
    logger: TensorBoardLogger | None,
    title: str,
) -> None:
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


def compare(
    out: Path,
    configs: dict[str, RecipeConfig],
    data: MNISTData,
    data_record: dict[str, Any],
    *,
    device: torch.device,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
) -> Leaderboard:
    """Train each config into ``out/<method>`` and write the comparison beside them.

    Writes ``report.md`` (the leaderboard against the raw-pixel baseline, how to read it, the
    figures), ``leaderboard.csv``, ``umap_grid.png`` and ``compare.json`` (``meta`` plus the device,
    the total time and the library versions). Prints a line per step. A ``KeyboardInterrupt``
    propagates after saying which run to resume.

    Returns:
        The :class:`~contrastkit.runs.report.Leaderboard`.
    """
    from contrastkit import viz  # matplotlib and umap-learn take seconds to import: only when drawing

    start = time.perf_counter()
    print("raw-pixel baseline ...", flush=True)
    x_train = data.x_train.flatten(1)  # [N, 784]
    x_test = data.x_test.flatten(1)  # [M, 784]
    board = Leaderboard(baseline=evaluate_embeddings(x_train, data.y_train, x_test, data.y_test))
    print(f"  raw pixels: {metrics_line(board.baseline)}")
    for i, (method, config) in enumerate(configs.items(), 1):
        print(f"[{i}/{len(configs)}] {method}: {config.epochs} epoch(s) ...", flush=True)
        try:
            run = train_run(out / method, config, data, data_record, device=device, progress=progress, figures=True)
        except KeyboardInterrupt:
            print(
                f"\ncontrastkit: interrupted while training {method}. Its checkpoint is in {out / method}; continue "
                f"that run with `python -m contrastkit train --out {shlex.quote(str(out / method))} --resume`",
                file=sys.stderr,
            )
            raise
        board.add(method, run.metrics, run)
        print(f"  {method}: {metrics_line(run.metrics)}", flush=True)

    print("figures and report ...", flush=True)
    grid = {"raw pixels": np.asarray(viz.project(x_test.numpy(), method="umap", seed=0))}
    grid.update({name: run.points for name, _, run in board.entries if run is not None and run.points is not None})
    save_figure(viz.plot_embedding_grid(grid, data.y_test.numpy()), out / "umap_grid.png")
    atomic_write_text(out / "leaderboard.csv", board.csv())
    record = {
        **(meta or {}),
        "methods": list(configs),
        "data": data_record,
        "device": f"{device} ({torch.get_num_threads()} threads)",
        "total_time_s": time.perf_counter() - start,
        "versions": library_versions(),
    }
    record.setdefault("quick", False)
    record.setdefault("command", "python -m contrastkit compare")
    atomic_write_text(out / "compare.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(out / "report.md", comparison_report(board, record))
    return board


def _draw_figures(run_dir: Path, history, test_emb: torch.Tensor, data, title: str) -> np.ndarray:
    """Save ``history.png`` and ``umap.png``; return the UMAP points [M, 2]."""
    import matplotlib.pyplot as plt

    from contrastkit import viz  # matplotlib and umap-learn take seconds to import: only when drawing

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
