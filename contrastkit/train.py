"""Training recipes: Siamese, triplet, SimCLR and SupCon on MNIST, on top of one generic ``fit`` loop.

Each recipe is a frozen config dataclass with tested defaults (``contrastkit.configs``) and
``train(config, data)``, which returns the trained :class:`~contrastkit.models.ConvEncoder` and a
per-epoch history::

    import contrastkit as ck
    data = ck.data.load_mnist()
    model, history = ck.train.train(ck.train.SupConConfig(), data)

``fit`` (``contrastkit.fit``) is the loop underneath: optimiser and schedule, progress bars,
callbacks, mixed precision on CUDA, atomic checkpoints and resume, and ``TrainingDivergedError``
when the loss turns NaN. This module re-exports the configs and the loop, so ``ck.train`` is the
one place to import training from.

Randomness: the model's initial weights come from ``torch.manual_seed(seed)``, the order of the
batches (and the Siamese pairs) from a NumPy generator seeded with ``(seed, epoch)``, and the
augmentations from a ``torch.Generator`` whose state is saved in the checkpoint, so a resumed run
draws exactly the numbers the uninterrupted one would have.

References:
    - [0] Hadsell, Chopra and LeCun 2006, "Dimensionality Reduction by Learning an Invariant
      Mapping", CVPR 2006 (contrastive pair loss)
    - [1] FaceNet, Schroff et al. 2015, arXiv:1503.03832; Hermans et al. 2017, arXiv:1703.07737
      (triplet loss with online mining)
    - [2] SimCLR, Chen et al. 2020, arXiv:2002.05709
    - [3] Supervised Contrastive Learning, Khosla et al. 2020, arXiv:2004.11362
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from contrastkit import augment as _augment
from contrastkit import evaluate as _evaluate
from contrastkit import losses as _losses
from contrastkit import models as _models
from contrastkit._checks import describe
from contrastkit.configs import (
    CONFIGS,
    SCHEDULES,
    SiameseConfig,
    SimCLRConfig,
    SupConConfig,
    TripletConfig,
    _check_bool,
    _Config,
    config_from_dict,
)
from contrastkit.data import MNISTData
from contrastkit.fit import (
    CHECKPOINT_NAME,
    Callback,
    TrainingDivergedError,
    _finite,
    fit,
    load_checkpoint,
)
from contrastkit.utils import pick_device

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIGS",
    "SCHEDULES",
    "SiameseConfig",
    "SimCLRConfig",
    "SupConConfig",
    "TrainingDivergedError",
    "TripletConfig",
    "config_from_dict",
    "fit",
    "load_checkpoint",
    "train",
]

# ----------------------------------------------------------------------------------------------
# Recipes
# ----------------------------------------------------------------------------------------------


def train(
    config: _Config,
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
        config: a ``SiameseConfig``, ``TripletConfig``, ``SimCLRConfig`` or ``SupConConfig``.
        data: the images and labels (``contrastkit.data.load_mnist``). SimCLR never reads
            ``y_train`` for training; the labels are used only for the per-epoch kNN monitor.
        device: None/"auto" for the automatic choice, or e.g. "cpu", "cuda".
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
    if not isinstance(config, tuple(CONFIGS.values())):
        raise ValueError(
            f"config must be one of {', '.join(c.__name__ for c in CONFIGS.values())}, got {describe(config)}"
        )
    if not isinstance(data, MNISTData):
        raise ValueError(f"data must be an MNISTData (contrastkit.data.load_mnist), got {describe(data)}")
    n_train = data.x_train.shape[0]
    if n_train < 2:
        raise ValueError(f"data needs at least 2 training images, got {n_train}")
    for name, value in (("resume", resume), ("progress", progress)):
        _check_bool(name, value)

    device = pick_device(device)
    torch.manual_seed(config.seed)
    encoder = _models.ConvEncoder(embedding_dim=config.embedding_dim, width=config.width)
    x_train = data.x_train.to(device)  # [N, 1, 28, 28]
    y_train = data.y_train.to(device)  # [N]
    aug_gen = torch.Generator().manual_seed(config.seed)

    recipe = _RECIPES[config.method]
    model, step_fn, batches = recipe(config, encoder, x_train, y_train, aug_gen)
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


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def _shuffled_batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device) -> list[torch.Tensor]:
    """A random permutation of range(n) cut into batches; an incomplete last batch is dropped."""
    order = torch.from_numpy(_epoch_rng(seed, epoch).permutation(n)).to(device)  # [N]
    size = min(batch_size, n)
    return [order[i : i + size] for i in range(0, n - size + 1, size)]


def _augmenter(config: _Config) -> _augment.DigitAugment | None:
    return _augment.DigitAugment.with_strength(config.augment_strength) if config.augment_strength > 0 else None


def _siamese(config: SiameseConfig, encoder, x, y, gen):
    net = _models.SiameseNet(encoder)
    aug = _augmenter(config)
    n = x.shape[0]
    labels = y.cpu().numpy()
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]  # per class, indices
    class_pos = np.searchsorted(classes, labels)  # [N] position of each label in `classes`

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        rng = _epoch_rng(config.seed, epoch)
        first = rng.permutation(n)  # [N]
        same = rng.random(n) < config.positive_fraction  # [N]
        if len(classes) < 2:
            same[:] = True
        # the partner's class: the anchor's own, or another one drawn uniformly
        offset = rng.integers(1, max(len(classes), 2), size=n)
        partner_class = np.where(same, class_pos[first], (class_pos[first] + offset) % len(classes))  # [N]
        u = rng.random(n)
        second = np.array([members[c][int(v * len(members[c]))] for c, v in zip(partner_class, u)])  # [N]
        i = torch.from_numpy(first).to(x.device)
        j = torch.from_numpy(second).to(x.device)
        s = torch.from_numpy(same.astype(np.float32)).to(x.device)
        size = min(config.batch_size, n)
        return [(i[a : a + size], j[a : a + size], s[a : a + size]) for a in range(0, n - size + 1, size)]

    def step(batch):
        i, j, same = batch
        x1, x2 = x[i], x[j]  # [B, 1, 28, 28]
        if aug is not None:
            both = aug(torch.cat([x1, x2]), generator=gen)  # [2B, 1, 28, 28]
            x1, x2 = both[: i.shape[0]], both[i.shape[0] :]
        e1, e2 = net(x1, x2)  # [B, D] each
        e1, e2 = _finite(e1.float()), _finite(e2.float())
        if config.normalize:
            e1, e2 = F.normalize(e1, dim=1), F.normalize(e2, dim=1)
        return _losses.contrastive_loss(e1, e2, same, margin=config.margin, variant=config.variant)

    return net, step, batches


def _triplet(config: TripletConfig, encoder, x, y, gen):
    from contrastkit.data import ClassBalancedBatchSampler

    aug = _augmenter(config)
    sampler = ClassBalancedBatchSampler(
        y.cpu(), classes_per_batch=config.classes_per_batch, samples_per_class=config.k, seed=config.seed
    )

    def batches(epoch: int) -> list[torch.Tensor]:
        sampler.set_epoch(epoch)
        return [torch.as_tensor(b, dtype=torch.long).to(x.device) for b in sampler]

    def step(idx):
        images = x[idx]  # [B, 1, 28, 28]
        if aug is not None:
            images = aug(images, generator=gen)
        z = _finite(encoder(images).float())  # [B, D]
        if config.normalize:
            z = F.normalize(z, dim=1)
        loss, stats = _losses.batch_triplet_loss(
            z, y[idx], margin=config.margin, strategy=config.strategy, squared=config.squared, return_stats=True
        )
        return loss, {"active_fraction": stats.active_fraction}

    return encoder, step, batches


def _projection(config: SimCLRConfig | SupConConfig) -> nn.Module:
    """The projection head g (an MLP on the embedding), or the identity when ``projection_dim`` is 0."""
    if not config.projection_dim:
        return nn.Identity()
    hidden = max(128, config.embedding_dim)
    return _models.ProjectionHead(config.embedding_dim, hidden_dim=hidden, out_dim=config.projection_dim)


def _simclr(config: SimCLRConfig, encoder, x, y, gen):
    head = _projection(config)
    model = nn.ModuleDict({"encoder": encoder, "head": head})
    views = _augment.MultiView(_augment.DigitAugment.with_strength(config.augment_strength), n_views=2)

    def batches(epoch: int) -> list[torch.Tensor]:
        return _shuffled_batches(x.shape[0], config.batch_size, config.seed, epoch, x.device)

    def step(idx):
        v = views(x[idx], generator=gen)  # [B, 2, 1, 28, 28]
        b = v.shape[0]
        z = head(encoder(v.transpose(0, 1).reshape(2 * b, *v.shape[2:])))  # [2B, P], view-major
        z = _finite(z.float())
        return _losses.nt_xent_loss(z[:b], z[b:], temperature=config.temperature)

    return model, step, batches


def _supcon(config: SupConConfig, encoder, x, y, gen):
    head = _projection(config)
    model = nn.ModuleDict({"encoder": encoder, "head": head})
    views = _augment.MultiView(_augment.DigitAugment.with_strength(config.augment_strength), n_views=config.n_views)

    def batches(epoch: int) -> list[torch.Tensor]:
        return _shuffled_batches(x.shape[0], config.batch_size, config.seed, epoch, x.device)

    def step(idx):
        v = views(x[idx], generator=gen)  # [B, V, 1, 28, 28]
        b, n_views = v.shape[:2]
        z = head(encoder(v.transpose(0, 1).reshape(n_views * b, *v.shape[2:])))  # [V*B, P], view-major
        z = _finite(z.float()).reshape(n_views, b, -1).transpose(0, 1)  # [B, V, P]
        return _losses.supcon_loss(z, y[idx], temperature=config.temperature)

    return model, step, batches


_RECIPES = {"siamese": _siamese, "triplet": _triplet, "simclr": _simclr, "supcon": _supcon}


def _make_monitor(config: _Config, encoder: nn.Module, data: MNISTData) -> Callable[[int], dict[str, float]]:
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
        ref_emb = _evaluate.embed(encoder, x_ref)  # [R, D]
        query_emb = _evaluate.embed(encoder, x_query)  # [Q, D]
        if not (torch.isfinite(ref_emb).all() and torch.isfinite(query_emb).all()):
            return {"knn_accuracy": float("nan"), "embedding_std": float("nan")}
        knn = _evaluate.knn_accuracy(ref_emb, y_ref, query_emb, y_query, k=k, metric="cosine")
        spread = F.normalize(query_emb, dim=1).std(dim=0).mean()  # mean over D of the per-dimension std
        return {"knn_accuracy": knn, "embedding_std": float(spread)}

    return monitor
