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

In a notebook::

    run = ck.runs.load("runs/supcon-20260101-120000")
    run.metrics["knn_accuracy"], run.history["loss"], run.embeddings.shape
    encoder = run.model()
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import contrastkit
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

METHODS = ("siamese", "triplet", "simclr", "supcon")
CONFIG_FILE = "config.json"
HISTORY_FILE = "metrics.jsonl"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.pt"
EMBEDDINGS_FILE = "embeddings.npz"
TENSORBOARD_DIR = "tensorboard"
#: Test points shown in TensorBoard's projector (its sprite image grows with the square root).
PROJECTOR_POINTS = 2000
#: The data subset (``--limit-train``/``--limit-test``) is drawn with this seed, whatever the
#: training seed, so runs with different seeds or methods see the same images.
SUBSET_SEED = 0


class RunDirectoryError(ValueError):
    """A run directory is missing, incomplete or corrupt, or would be overwritten."""


# ----------------------------------------------------------------------------------------------
# Reading a run
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Run:
    """A run directory read back into memory.

    Attributes:
        path: the run directory.
        config: the whole ``config.json`` (``config["method"]``, ``config["config"]`` the recipe's
            fields, ``config["data"]``, ``config["seed"]``, ``config["device"]``, ``config["versions"]``).
        metrics: ``metrics.json`` (final evaluation and ``train_time_s``); empty while unfinished.
        history: per-epoch training history from ``metrics.jsonl``, a dict of equal-length lists.
        embeddings: test embeddings [M, D] float32, or None before the run finished.
        labels: test labels [M] int64, or None.
        points: 2-D projection of the test embeddings [M, 2] (UMAP), or None when not drawn.
    """

    path: Path
    config: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    labels: np.ndarray | None = None
    points: np.ndarray | None = None

    @property
    def method(self) -> str:
        """ "siamese", "triplet", "simclr" or "supcon"."""
        return str(self.config.get("method", "?"))

    @property
    def name(self) -> str:
        """The directory's name."""
        return self.path.name

    @property
    def finished(self) -> bool:
        """Whether training and evaluation completed (``metrics.json`` exists)."""
        return bool(self.metrics)

    def recipe(self):
        """The training config dataclass this run was trained with (e.g. ``SupConConfig``)."""
        return config_from_record(self.config)

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained encoder (``ConvEncoder``) with its saved weights, in eval mode.

        Weights are read with ``torch.load(weights_only=True)``: a state dict of tensors only.

        Raises:
            RunDirectoryError: ``model.pt`` is missing (the run has not finished) or does not fit
                the encoder described by ``config.json``.
        """
        from contrastkit.models import ConvEncoder

        weights = self.path / MODEL_FILE
        if not weights.is_file():
            raise RunDirectoryError(
                f"{weights} is missing: the run has not finished training; resume it with "
                f"`python -m contrastkit train --out {self.path} --resume`"
            )
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as err:  # unpickling errors come in many types
            raise RunDirectoryError(f"{weights} cannot be read ({type(err).__name__}: {err})") from err
        recipe = self.config.get("config", {})
        sizes = {key: int(recipe[key]) for key in ("embedding_dim", "width") if key in recipe}
        encoder = ConvEncoder(**sizes)
        try:
            encoder.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise RunDirectoryError(f"{weights} does not hold the weights of this run's encoder: {err}") from err
        return encoder.to(device).eval()


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirectoryError(f"{path} is missing") from None
    except OSError as err:
        raise RunDirectoryError(f"{path} cannot be read: {err}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RunDirectoryError(f"{path} is not valid JSON ({err}); the file is corrupt") from err


def history_to_jsonl(history: dict[str, Sequence[float]]) -> str:
    """One JSON object per epoch, one per line, from a history dict of equal-length lists."""
    n = len(history.get("epoch", ()))
    lines = []
    for i in range(n):
        row = {key: _plain(values[i]) for key, values in history.items() if i < len(values)}
        lines.append(json.dumps(row))
    return "".join(line + "\n" for line in lines)


def history_from_jsonl(text: str, source: str = "metrics.jsonl") -> dict[str, list[float]]:
    """Inverse of :func:`history_to_jsonl`."""
    history: dict[str, list[float]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RunDirectoryError(f"{source} line {lineno} is not valid JSON ({err}); the file is corrupt") from err
        if not isinstance(row, dict):
            raise RunDirectoryError(f"{source} line {lineno} must be a JSON object, got {type(row).__name__}")
        for key, value in row.items():
            history.setdefault(key, []).append(value)
    return history


def load(run_dir: str | Path) -> Run:
    """Read a run directory.

    Args:
        run_dir: a directory written by ``python -m contrastkit train`` (or ``compare``).

    Returns:
        :class:`Run`; ``metrics``, ``history`` and the arrays are empty/None for the parts an
        unfinished run has not written yet.

    Raises:
        RunDirectoryError: the directory or its ``config.json`` is missing, or a file is corrupt.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirectoryError(f"run directory {path} does not exist")
    if not (path / CONFIG_FILE).is_file():
        raise RunDirectoryError(
            f"{path} is not a contrastkit run: it has no {CONFIG_FILE} "
            "(runs are written by `python -m contrastkit train`)"
        )
    config = _read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or "method" not in config or not isinstance(config.get("config"), dict):
        raise RunDirectoryError(f"{path / CONFIG_FILE} lacks the 'method' and 'config' entries of a run")
    metrics = _read_json(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
    history_path = path / HISTORY_FILE
    history = (
        history_from_jsonl(history_path.read_text(encoding="utf-8"), str(history_path))
        if history_path.is_file()
        else {}
    )
    embeddings = labels = points = None
    if (path / EMBEDDINGS_FILE).is_file():
        try:
            with np.load(path / EMBEDDINGS_FILE) as npz:
                embeddings, labels = npz["embeddings"], npz["labels"]
                points = npz["umap"] if "umap" in npz.files else None
        except Exception as err:  # zipfile/pickle/KeyError: all mean a corrupt file
            raise RunDirectoryError(f"{path / EMBEDDINGS_FILE} cannot be read ({type(err).__name__}: {err})") from err
    return Run(path, config, metrics, history, embeddings, labels, points)


def list_runs(root: str | Path = "runs") -> list[Run]:
    """Every readable run under ``root`` (searched recursively, so runs inside a comparison count).

    Directories whose files are corrupt are skipped; ``python -m contrastkit evaluate DIR`` says
    what is wrong with one. Sorted by creation time, oldest first.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for config_path in sorted(root.rglob(CONFIG_FILE)):
        try:
            found.append(load(config_path.parent))
        except RunDirectoryError:
            continue
    return sorted(found, key=lambda run: (str(run.config.get("created", "")), str(run.path)))


# ----------------------------------------------------------------------------------------------
# Configs and data as recorded in config.json
# ----------------------------------------------------------------------------------------------


def make_config(method: str, **overrides: Any):
    """The default recipe of ``method`` with ``overrides`` applied (``dataclasses.replace``).

    Raises:
        ValueError: unknown method, a field the method's config lacks, or an invalid value (the
            config's own validation).
    """
    from contrastkit.train import CONFIGS

    if method not in CONFIGS:
        raise ValueError(f"method must be one of {', '.join(sorted(CONFIGS))}, got {method!r}")
    config = CONFIGS[method]()
    names = recipe_fields(config)
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"the {method} recipe has no field {', '.join(unknown)}; its fields are: {', '.join(names)}")
    return dataclasses.replace(config, **overrides) if overrides else config


def recipe_fields(config) -> list[str]:
    """Names of the settable fields of a config dataclass (instance or class)."""
    return [f.name for f in dataclasses.fields(config) if f.init]


def _config_dict(config) -> dict[str, Any]:
    return {name: _plain(getattr(config, name)) for name in recipe_fields(config)}


def config_from_record(record: dict[str, Any]):
    """Rebuild the config dataclass from a ``config.json`` dict."""
    from contrastkit.train import CONFIGS

    method = record.get("method")
    if method not in CONFIGS:
        raise RunDirectoryError(f"config.json names an unknown method {method!r}; valid: {', '.join(sorted(CONFIGS))}")
    cls = CONFIGS[method]
    fields = record.get("config", {})
    known = set(recipe_fields(cls))
    try:
        return cls(**{k: _restore(v) for k, v in fields.items() if k in known})
    except (TypeError, ValueError) as err:
        raise RunDirectoryError(f"config.json holds an invalid {method} recipe: {err}") from err


def prepare_data(source: str = "auto", limit_train: int | None = None, limit_test: int | None = None):
    """Load MNIST and optionally a class-stratified subset of it.

    Returns:
        ``(MNISTData, record)``, the record being what ``config.json`` stores under ``"data"`` so
        that :func:`data_from_record` gets the same images back.
    """
    from contrastkit.data import load_mnist

    data = load_mnist(source=source)
    if limit_train is not None or limit_test is not None:
        data = data.subset(
            len(data.y_train) if limit_train is None else limit_train,
            len(data.y_test) if limit_test is None else limit_test,
            seed=SUBSET_SEED,
        )
    record = {
        "requested": source,
        "source": data.source,
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "limit_train": limit_train,
        "limit_test": limit_test,
        "subset_seed": SUBSET_SEED,
    }
    return data, record


def data_from_record(record: dict[str, Any]):
    """The data a run was trained on, from its ``config.json`` ``"data"`` entry."""
    if not isinstance(record, dict) or "source" not in record:
        raise RunDirectoryError("config.json has no 'data' entry naming the data source")
    data, _ = prepare_data(record["source"], record.get("limit_train"), record.get("limit_test"))
    if len(data.y_train) != record.get("n_train", len(data.y_train)) or len(data.y_test) != record.get(
        "n_test", len(data.y_test)
    ):
        raise RunDirectoryError(
            f"the {record['source']} data now has {len(data.y_train)}/{len(data.y_test)} images but the run "
            f"recorded {record.get('n_train')}/{record.get('n_test')}"
        )
    return data


def library_versions() -> dict[str, str]:
    """Versions of contrastkit, torch, torchvision, numpy and Python."""
    try:
        torchvision = metadata.version("torchvision")  # the version without the slow import
    except metadata.PackageNotFoundError:
        torchvision = "not installed"
    return {
        "contrastkit": contrastkit.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


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


# ----------------------------------------------------------------------------------------------
# Writing a run
# ----------------------------------------------------------------------------------------------


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


def write_config(run_dir: Path, config, data_record: dict[str, Any], *, device: str, tensorboard: bool) -> None:
    """Write ``config.json`` for a new run."""
    record = {
        "method": config.method,
        "config": _config_dict(config),
        "data": data_record,
        "seed": _plain(getattr(config, "seed", None)),
        "device": device,
        "tensorboard": tensorboard,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "versions": library_versions(),
    }
    atomic_write_text(run_dir / CONFIG_FILE, json.dumps(record, indent=2) + "\n")


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


def _plain(value: Any) -> Any:
    """A JSON-friendly version of a config or history value."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _restore(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
