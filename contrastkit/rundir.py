"""A run directory read back: its file names, ``load`` and ``list_runs``, and ``config.json``.

:mod:`contrastkit.runs` creates, trains and evaluates run directories and re-exports every name
here, so ``ck.runs.load(...)`` stays the usual way in (the layout of a run is described there).
This module is the part that reading a run needs, without the training machinery:

- the file names of a run (``CONFIG_FILE``, ``HISTORY_FILE``, ...) and :class:`RunDirectoryError`;
- :class:`Run`, :func:`load` and :func:`list_runs`, and the ``metrics.jsonl`` format
  (:func:`history_to_jsonl`, :func:`history_from_jsonl`);
- ``config.json``: :func:`write_config` records the recipe, the data and the library versions;
  :func:`config_from_record` and :func:`data_from_record` get the recipe and the images back, and
  :func:`make_config` and :func:`prepare_data` make them for a new run.
"""

from __future__ import annotations

import dataclasses
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

import contrastkit
from contrastkit.utils import atomic_write_text

__all__ = [
    "CONFIG_FILE",
    "EMBEDDINGS_FILE",
    "HISTORY_FILE",
    "METHODS",
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
    "make_config",
    "prepare_data",
    "recipe_fields",
    "write_config",
]

METHODS = ("siamese", "triplet", "simclr", "supcon")
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
