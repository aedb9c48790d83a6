"""``train(config, data)``: a recipe's encoder trained on MNIST, with a per-epoch history.

The recipe's config builds what is trained and how one batch becomes a loss
(``RecipeConfig.build``); :func:`~contrastkit.train.loop.fit` runs the loop. Around them this
module chooses the device once, seeds the initial weights (``torch.manual_seed(seed)``), keeps the
augmentations' generator in the checkpoint, and measures a per-epoch kNN monitor.
:func:`train_cached` trains once per (config, data) and reloads afterwards, which is what the
notebooks use so that a later notebook finds the models of an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from contrastkit._checks import check_bool, describe
from contrastkit.data import MNISTData
from contrastkit.evaluate import embed, knn_accuracy
from contrastkit.models import build_encoder
from contrastkit.train.checkpoint import CHECKPOINT_NAME, load_checkpoint
from contrastkit.train.config import CONFIGS, RecipeConfig, config_from_dict
from contrastkit.train.loop import Callback, fit
from contrastkit.utils import pick_device, quick_mode

__all__ = ["cache_key", "data_digest", "latest_cached", "train", "train_cached"]


def train(
    config: RecipeConfig,
    data: MNISTData,
    *,
    device: str | torch.device | None = None,
    callbacks: Iterable[Callback] = (),
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train one recipe on MNIST and return the encoder with its history.

    Args:
        config: a recipe: ``SiameseConfig``, ``TripletConfig``, ``SimCLRConfig``, ``SupConConfig``.
        data: the images and labels (``contrastkit.data.load_mnist``). SimCLR never reads
            ``y_train`` for training; the labels are used only for the per-epoch kNN monitor.
        device: a ``torch.device``, or None/"auto" for the automatic choice, or e.g. "cpu", "cuda".
        callbacks: ``callback(epoch, history)`` after each epoch, e.g. a live plot.
        checkpoint_dir: where ``checkpoint.pt`` is written after each epoch (None: nowhere).
        resume: continue from the checkpoint in ``checkpoint_dir``; a finished run with the same
            config returns its model at once, without training.
        progress: show progress bars.

    Returns:
        ``(encoder, history)``: the ``ConvEncoder`` (``forward`` gives the embedding
        [B, embedding_dim]) in eval mode on the training device, and the history with keys "epoch",
        "loss", "lr", "wall_time", "eval_time", "knn_accuracy" (k=5 cosine, ``knn_subset`` training
        images as references, ``knn_queries`` test images as queries), "embedding_std" (mean
        per-dimension standard deviation of the L2-normalised query embeddings: near 0 means
        collapse, 1/sqrt(embedding_dim) is the value of a uniform spread) and, for triplets,
        "active_fraction".

    Raises:
        TrainingDivergedError: when the loss turns NaN or infinite.
    """
    if not isinstance(config, RecipeConfig) or config.method not in CONFIGS:
        raise ValueError(
            f"config must be one of {', '.join(c.__name__ for c in CONFIGS.values())}, got {describe(config)}"
        )
    if not isinstance(data, MNISTData):
        raise ValueError(f"data must be an MNISTData (contrastkit.data.load_mnist), got {describe(data)}")
    n_train = data.x_train.shape[0]
    if n_train < 2:
        raise ValueError(f"data needs at least 2 training images, got {n_train}")
    for name, value in (("resume", resume), ("progress", progress)):
        check_bool(name, value)

    device = device if isinstance(device, torch.device) else pick_device(device)
    torch.manual_seed(config.seed)
    encoder = build_encoder(config)
    x_train = data.x_train.to(device)  # [N, 1, 28, 28]
    y_train = data.y_train.to(device)  # [N]
    aug_gen = torch.Generator().manual_seed(config.seed)
    model, step_fn, batches = config.build(encoder, x_train, y_train, aug_gen)
    evaluate = _make_monitor(config, encoder, data)
    meta = {
        "config": config.to_dict(),
        "data": {"source": data.source, "n_train": n_train, "n_test": int(data.x_test.shape[0])},
    }
    history = fit(
        model,
        step_fn,
        batches,
        epochs=config.epochs,
        lr=config.lr,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        warmup_fraction=config.warmup_fraction,
        device=device,
        evaluate=evaluate,
        callbacks=callbacks,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        generators={"augment": aug_gen},
        meta=meta,
        desc=config.method,
    )
    encoder.eval()
    return encoder, history


def train_cached(
    config: RecipeConfig,
    data: MNISTData,
    root: str | os.PathLike[str] = "runs/cache",
    *,
    device: str | torch.device | None = None,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """``train(config, data)`` once per (config, data): later calls reload the finished model.

    The checkpoint lives in ``root/<method>-<key>``, the key (:func:`cache_key`) being a hash of
    the config's fields and of the data's tensors, so a changed hyperparameter or another subset of
    images trains anew instead of reusing a model that does not match. In quick mode
    (``CONTRASTKIT_QUICK=1``) the folder ends in ``-quick``, so that :func:`latest_cached` never
    hands a quick model to a full run, nor the other way round. An interrupted training
    resumes where it stopped; :func:`latest_cached` finds the newest model of a method on a data set.

    Args:
        config: the recipe.
        data: the images and labels.
        root: the folder holding the cached runs.
        device: as for :func:`train`.
        callbacks: as for :func:`train` (they run only while training).
        progress: show progress bars while training.

    Returns:
        ``(encoder, history)`` as from :func:`train`.
    """
    key = cache_key(config, data)  # validates config and data
    folder = Path(root) / _cache_folder(config.method, key)
    return train(
        config, data, device=device, callbacks=callbacks, checkpoint_dir=folder, resume=True, progress=progress
    )


def cache_key(config: RecipeConfig, data: MNISTData) -> str:
    """The cache folder's key of a (config, data) pair: ``<config digest>-<data digest>``, 8 hex digits each."""
    if not isinstance(config, RecipeConfig):
        raise ValueError(f"config must be a recipe config, got {describe(config)}")
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    return f"{digest[:8]}-{data_digest(data)}"


def data_digest(data: MNISTData) -> str:
    """8 hex digits identifying the exact images and labels of ``data`` (train and test)."""
    if not isinstance(data, MNISTData):
        raise ValueError(f"data must be an MNISTData (contrastkit.data.load_mnist), got {describe(data)}")
    h = hashlib.sha1(usedforsecurity=False)
    for t in (data.x_train, data.y_train, data.x_test, data.y_test):
        t = t.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:8]


def latest_cached(method: str, data: MNISTData, root: str | os.PathLike[str] = "runs/cache") -> RecipeConfig | None:
    """The config of the newest finished :func:`train_cached` run of ``method`` on exactly ``data``, or None.

    This is how a later notebook finds the model an earlier one trained without restating its
    recipe: ``train_cached(latest_cached("simclr", data, root) or SimCLRConfig(), data, root)``.
    """
    folders = Path(root).glob(_cache_folder(method, f"*-{data_digest(data)}"))
    checkpoints = sorted((f / CHECKPOINT_NAME for f in folders), key=_mtime, reverse=True)
    for path in checkpoints:
        try:
            state = load_checkpoint(path)
            config = config_from_dict(state["meta"]["config"])
        except (ValueError, KeyError, TypeError, RuntimeError, OSError):
            continue  # unreadable or from another version: not a match
        if int(state["epoch"]) == config.epochs and path.parent.name == _cache_folder(method, cache_key(config, data)):
            return config
    return None


def _cache_folder(method: str, key: str) -> str:
    """``<method>-<key>``, with ``-quick`` in quick mode: quick and full runs never stand in for each other."""
    return f"{method}-{key}{'-quick' if quick_mode() else ''}"


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else float("-inf")


def _make_monitor(config: RecipeConfig, encoder: nn.Module, data: MNISTData) -> Callable[[int], dict[str, float]]:
    """Per-epoch kNN accuracy and embedding spread on fixed subsets (chosen with ``config.seed``)."""
    rng = np.random.default_rng([config.seed, 2**20])
    n_ref = min(config.knn_subset, data.x_train.shape[0])
    n_query = min(config.knn_queries, data.x_test.shape[0])
    ref = torch.from_numpy(np.sort(rng.choice(data.x_train.shape[0], n_ref, replace=False)))
    query = torch.from_numpy(np.sort(rng.choice(data.x_test.shape[0], n_query, replace=False)))
    x_ref, y_ref = data.x_train[ref], data.y_train[ref]
    x_query, y_query = data.x_test[query], data.y_test[query]
    k = min(5, n_ref)

    def monitor(epoch: int) -> dict[str, float]:
        if epoch % config.eval_every and epoch != config.epochs:
            return {"knn_accuracy": float("nan"), "embedding_std": float("nan")}
        ref_emb = embed(encoder, x_ref)  # [R, D]
        query_emb = embed(encoder, x_query)  # [Q, D]
        if not (torch.isfinite(ref_emb).all() and torch.isfinite(query_emb).all()):
            return {"knn_accuracy": float("nan"), "embedding_std": float("nan")}
        knn = knn_accuracy(ref_emb, y_ref, query_emb, y_query, k=k, metric="cosine")
        spread = F.normalize(query_emb, dim=1).std(dim=0).mean()  # mean over D of the per-dimension std
        return {"knn_accuracy": knn, "embedding_std": float(spread)}

    return monitor
