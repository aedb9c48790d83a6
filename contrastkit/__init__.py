"""contrastkit: a notebook-first kit for learning and experimenting with contrastive learning.

Submodules are imported on first use (``ck.viz`` pulls in matplotlib and umap-learn, which take a
few seconds), so ``import contrastkit as ck`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from contrastkit.utils import by_mode, pick_device, quick_mode, seed_everything

__version__ = "0.1.0"

_SUBMODULES = (
    "augment",
    "configs",
    "data",
    "evaluate",
    "fit",
    "gallery",
    "liveplot",
    "losses",
    "mining",
    "models",
    "projection",
    "report",
    "retrieval",
    "rundir",
    "runs",
    "sampling",
    "train",
    "utils",
    "viz",
    "widgets",
)

__all__ = [
    "__version__",
    "augment",
    "by_mode",
    "configs",
    "data",
    "evaluate",
    "fit",
    "gallery",
    "liveplot",
    "losses",
    "mining",
    "models",
    "pick_device",
    "projection",
    "quick_mode",
    "report",
    "retrieval",
    "rundir",
    "runs",
    "sampling",
    "seed_everything",
    "train",
    "utils",
    "viz",
    "widgets",
]

if TYPE_CHECKING:  # pragma: no cover
    from contrastkit import (
        augment,
        configs,
        data,
        evaluate,
        fit,
        gallery,
        liveplot,
        losses,
        mining,
        models,
        projection,
        report,
        retrieval,
        rundir,
        runs,
        sampling,
        train,
        utils,
        viz,
        widgets,
    )


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"contrastkit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'contrastkit' has no attribute {name!r}")
