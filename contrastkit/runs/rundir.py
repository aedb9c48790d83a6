"""A run directory: its files, reading it back (``load``, ``list_runs``), and what ``config.json`` records.

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

- :class:`Run`, :func:`load` and :func:`list_runs` read runs back, and the ``metrics.jsonl`` format
  is :func:`history_to_jsonl` / :func:`history_from_jsonl`;
- ``config.json``: :func:`write_config` records the recipe, the data and the library versions;
  :func:`config_from_record` and :func:`data_from_record` get the recipe and the images back, and
  :func:`prepare_data` loads the images of a new run.

In a notebook::

    run = ck.runs.load("runs/supcon-20260101-120000")
    run.metrics["knn_accuracy"], run.history["loss"], run.embeddings.shape
    encoder = run.model()
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contrastkit._version import __version__
from contrastkit.data import MNISTData, load_mnist
from contrastkit.models import build_encoder
from contrastkit.train import CONFIGS, RecipeConfig, config_from_dict
from contrastkit.utils import atomic_write_text, to_plain

__all__ = [
    "CONFIG_FILE",
    "EMBEDDINGS_FILE",
    "HISTORY_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "SUBSET_SEED",
    "TENSORBOARD_DIR",
    "Run",
    "RunDirectoryError",
    "config_from_record",
    "data_from_record",
    "history_from_jsonl",
    "history_to_jsonl",
    "library_versions",
    "list_runs",
    "load",
    "prepare_data",
    "write_config",
]

CONFIG_FILE = "config.json"
HISTORY_FILE = "metrics.jsonl"
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.pt"
EMBEDDINGS_FILE = "embeddings.npz"
TENSORBOARD_DIR = "tensorboard"
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

    def recipe(self) -> RecipeConfig:
        """The training config dataclass this run was trained with (e.g. ``SupConConfig``)."""
        return config_from_record(self.config)

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained encoder (``ConvEncoder``) with its saved weights, in eval mode.

        Weights are read with ``torch.load(weights_only=True)``: a state dict of tensors only.

        Raises:
            RunDirectoryError: ``model.pt`` is missing (the run has not finished) or does not fit
                the encoder described by ``config.json``.
        """
        weights = self.path / MODEL_FILE
        if not weights.is_file():
            raise RunDirectoryError(
                f"{weights} is missing: the run has not finished training; resume it with "
                f"`python -m contrastkit train --out {self.path} --resume`"
            )
        encoder = build_encoder(self.recipe())  # an invalid recipe is reported before the weights are read
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as err:  # unpickling errors come in many types
            raise RunDirectoryError(f"{weights} cannot be read ({type(err).__name__}: {err})") from err
        try:
            encoder.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise RunDirectoryError(f"{weights} does not hold the weights of this run's encoder: {err}") from err
        return encoder.to(device).eval()


def _read_json(path: Path) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RunDirectoryError(f"{path} is not valid JSON ({err}); the file is corrupt") from err


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirectoryError(f"{path} is missing") from None
    except UnicodeDecodeError as err:
        raise RunDirectoryError(f"{path} is not UTF-8 text ({err}); the file is corrupt") from err
    except OSError as err:
        raise RunDirectoryError(f"{path} cannot be read: {err}") from err


def history_to_jsonl(history: dict[str, Sequence[float]]) -> str:
    """One JSON object per epoch, one per line, from a history dict of equal-length lists."""
    n = len(history.get("epoch", ()))
    lines = []
    for i in range(n):
        row = {key: to_plain(values[i]) for key, values in history.items() if i < len(values)}
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
    if not isinstance(config.get("data", {}), dict):
        raise RunDirectoryError(f"{path / CONFIG_FILE} has a 'data' entry that is not an object; the file is corrupt")
    metrics = _read_json(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
    if not isinstance(metrics, dict):
        raise RunDirectoryError(f"{path / METRICS_FILE} must hold a JSON object of metrics; the file is corrupt")
    history_path = path / HISTORY_FILE
    history = history_from_jsonl(_read_text(history_path), str(history_path)) if history_path.is_file() else {}
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


def config_from_record(record: dict[str, Any]) -> RecipeConfig:
    """Rebuild the config dataclass from a ``config.json`` dict (fields this version lacks are skipped)."""
    method = record.get("method")
    if method not in CONFIGS:
        raise RunDirectoryError(f"config.json names an unknown method {method!r}; valid: {', '.join(sorted(CONFIGS))}")
    try:
        return config_from_dict({**record.get("config", {}), "method": method}, ignore_unknown=True)
    except (TypeError, ValueError) as err:
        raise RunDirectoryError(f"config.json holds an invalid {method} recipe: {err}") from err


def prepare_data(
    source: str = "auto",
    limit_train: int | None = None,
    limit_test: int | None = None,
    subset_seed: int = SUBSET_SEED,
) -> tuple[MNISTData, dict[str, Any]]:
    """Load MNIST and optionally a class-stratified subset of it.

    Returns:
        ``(MNISTData, record)``, the record being what ``config.json`` stores under ``"data"`` so
        that :func:`data_from_record` gets the same images back.
    """
    data = load_mnist(source=source)
    if limit_train is not None or limit_test is not None:
        n_classes = len(data.y_train.unique())
        for name, n in (("--limit-train", limit_train), ("--limit-test", limit_test)):
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2 * n_classes):
                raise ValueError(
                    f"{name} must be at least {2 * n_classes} (two images of each of the {n_classes} classes, "
                    f"which training and evaluation need), got {n!r}"
                )
        data = data.subset(
            len(data.y_train) if limit_train is None else limit_train,
            len(data.y_test) if limit_test is None else limit_test,
            seed=subset_seed,
        )
    record = {
        "requested": source,
        "source": data.source,
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "limit_train": limit_train,
        "limit_test": limit_test,
        "subset_seed": subset_seed,
    }
    return data, record


def data_from_record(record: dict[str, Any]) -> MNISTData:
    """The data a run was trained on, from its ``config.json`` ``"data"`` entry."""
    if not isinstance(record, dict) or "source" not in record:
        raise RunDirectoryError("config.json has no 'data' entry naming the data source")
    data, _ = prepare_data(
        record["source"], record.get("limit_train"), record.get("limit_test"), record.get("subset_seed", SUBSET_SEED)
    )
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
        "contrastkit": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def write_config(
    run_dir: Path, config: RecipeConfig, data_record: dict[str, Any], *, device: str, tensorboard: bool
) -> None:
    """Write ``config.json`` for a new run."""
    fields = config.to_dict()
    record = {
        "method": fields.pop("method"),
        "config": fields,
        "data": data_record,
        "seed": fields.get("seed"),
        "device": device,
        "tensorboard": tensorboard,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "versions": library_versions(),
    }
    atomic_write_text(run_dir / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
