"""contrastkit: a notebook-first kit for learning and experimenting with contrastive learning.

The subpackages follow the course, lower layers first (a layer imports only the ones above it in
this list):

- ``distances`` and ``mining``: distances, nearest neighbours, triplet miners;
- ``losses``: contrastive pair, triplet, NT-Xent and SupCon losses;
- ``models``, ``augment``, ``data``: encoders, digit augmentations, MNIST and its batches;
- ``evaluate``: kNN, linear probe, retrieval, verification, alignment and uniformity;
- ``train``: the recipes and the training loop;
- ``viz`` and ``widgets``: pictures of embedding spaces and interactive explorers;
- ``runs``: tracked run directories, reports and the command line (``python -m contrastkit``).

Subpackages are imported on first use (``ck.viz`` pulls in matplotlib and umap-learn, which take a
few seconds), so ``import contrastkit as ck`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from contrastkit._version import __version__
from contrastkit.utils import by_mode, pick_device, quick_mode, seed_everything

_SUBMODULES = (
    "augment",
    "data",
    "distances",
    "evaluate",
    "losses",
    "mining",
    "models",
    "runs",
    "train",
    "utils",
    "viz",
    "widgets",
)

__all__ = [
    "__version__",
    "augment",
    "by_mode",
    "data",
    "distances",
    "evaluate",
    "losses",
    "mining",
    "models",
    "pick_device",
    "quick_mode",
    "runs",
    "seed_everything",
    "train",
    "utils",
    "viz",
    "widgets",
]

if TYPE_CHECKING:  # pragma: no cover
    from contrastkit import (
        augment,
        data,
        distances,
        evaluate,
        losses,
        mining,
        models,
        runs,
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
