"""Measure how good an embedding is: kNN, linear probe, retrieval, verification, alignment/uniformity.

Every function takes plain tensors (``embed`` turns a model and images into them), validates its
inputs up front (``ValueError`` with a message saying what was expected), and works in chunks so
that the full MNIST (60,000 train × 10,000 test embeddings) fits in a laptop's memory.

Metrics and where they come from:

- kNN accuracy: majority vote among the k nearest training embeddings.
- Linear probe: a logistic-regression layer trained on frozen, standardised features.
- Precision@1, R-precision and MAP@R: leave-one-out retrieval within one set, as defined in
  [0] A Metric Learning Reality Check, Musgrave, Belongie, Lim 2020, arXiv:2003.08505.
- Verification ROC: AUC, equal error rate and the best distance threshold for "same or different?".
- Alignment and uniformity of L2-normalised embeddings, from
  [1] Understanding Contrastive Representation Learning through Alignment and Uniformity on the
  Hypersphere, Wang and Isola 2020, arXiv:2005.10242.

The retrieval and verification metrics live in :mod:`contrastkit.retrieval` and the shared
chunked-score helpers in ``contrastkit._similarity``; the metrics are re-exported here, so
``ck.evaluate.retrieval_metrics`` and ``ck.evaluate.verification_roc`` work as before.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contrastkit._checks import (
    check_choice,
    check_labels,
    check_positive,
    check_positive_int,
    check_tensor,
    describe,
)
from contrastkit._similarity import METRICS, _check_embeddings, _chunk_rows, _compute_dtype, _prepare, _scores
from contrastkit.retrieval import (
    RetrievalResult,
    VerificationResult,
    map_at_r,
    precision_at_1,
    r_precision,
    retrieval_metrics,
    sample_verification_pairs,
    verification_roc,
)

__all__ = [
    "METRICS",
    "RetrievalResult",
    "VerificationResult",
    "alignment",
    "embed",
    "evaluate_embeddings",
    "knn_accuracy",
    "linear_probe_accuracy",
    "map_at_r",
    "precision_at_1",
    "r_precision",
    "retrieval_metrics",
    "sample_verification_pairs",
    "uniformity",
    "verification_roc",
]


# ----------------------------------------------------------------------------------------------
# Embedding
# ----------------------------------------------------------------------------------------------


def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 512, device=None) -> torch.Tensor:
    """Run ``model`` over ``images`` in batches and collect the embeddings.

    The model runs in eval mode (BatchNorm uses its running statistics, dropout is off) under
    ``torch.no_grad``; its previous train/eval mode is restored afterwards, even on error.

    Args:
        model: any module mapping a batch [B, ...] to [B, D] (outputs with more dimensions are
            flattened to [B, D']; ``nn.Flatten()`` gives raw pixels).
        images: input tensor [N, ...], e.g. [N, 1, 28, 28] MNIST digits.
        batch_size: images per forward pass.
        device: where the batches go; None means the device of the model's parameters (CPU if it
            has none). The model itself is not moved, so it must be able to run there.

    Returns:
        Embeddings [N, D], float32, on the CPU.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {describe(model)}")
    check_tensor("images", images, min_rows=1)
    if images.dim() < 2:
        raise ValueError(f"images must have a batch dimension and at least one more, got {describe(images)}")
    check_positive_int("batch_size", batch_size)
    device = _model_device(model) if device is None else torch.device(device)

    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].to(device)
                out = model(batch)
                if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != batch.shape[0]:
                    raise ValueError(
                        f"model must return a tensor [B, D] for a batch of {batch.shape[0]}, got {describe(out)}"
                    )
                outputs.append(out.reshape(out.shape[0], -1).float().cpu())  # [B, D]
    finally:
        model.train(was_training)
    return torch.cat(outputs)  # [N, D]


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# kNN classification
# ----------------------------------------------------------------------------------------------


def knn_accuracy(
    train_emb: torch.Tensor,
    train_labels: torch.Tensor,
    test_emb: torch.Tensor,
    test_labels: torch.Tensor,
    k: int = 5,
    metric: str = "cosine",
) -> float:
    """Accuracy of a k-nearest-neighbour classifier on the test embeddings.

    Each test point takes the majority label among its ``k`` nearest training points. A tie
    between classes with the same number of votes goes to the tied class whose closest member is
    nearest to the query (so with k=2 and two different labels, the nearest neighbour wins). Exact
    distance ties between neighbours are ordered arbitrarily. Queries are processed in chunks, so
    60,000 × 10,000 needs only a few tens of MiB at a time.

    Args:
        train_emb: reference embeddings [N, D].
        train_labels: integer labels [N].
        test_emb: query embeddings [M, D].
        test_labels: integer labels [M].
        k: number of neighbours, 1 <= k <= N.
        metric: "cosine" (similarity of L2-normalised rows) or "euclidean".

    Returns:
        Fraction of test points classified correctly, in [0, 1].
    """
    _check_embeddings("train_emb", train_emb)
    _check_embeddings("test_emb", test_emb)
    train_labels = check_labels("train_labels", train_labels, train_emb.shape[0])
    test_labels = check_labels("test_labels", test_labels, test_emb.shape[0])
    _check_same_dim(train_emb, test_emb)
    check_positive_int("k", k)
    if k > train_emb.shape[0]:
        raise ValueError(f"k must be at most the number of training samples ({train_emb.shape[0]}), got {k}")
    check_choice("metric", metric, METRICS)

    device = train_emb.device
    dtype = _compute_dtype(train_emb, test_emb)
    refs = _prepare(train_emb, metric, dtype, device)  # [N, D]
    ref_sq = (refs * refs).sum(1)[None, :] if metric == "euclidean" else None  # [1, N]
    classes, ref_class = torch.unique(train_labels.to(device), return_inverse=True)  # [C], [N]
    n_classes = classes.shape[0]
    # Rank bonus: votes count (k + 1) each, the best rank adds k - rank in [1, k], so it only breaks ties.
    rank_bonus = torch.arange(k, 0, -1, device=device)  # [k]

    correct = 0
    chunk = _chunk_rows(refs.shape[0])
    for start in range(0, test_emb.shape[0], chunk):
        queries = _prepare(test_emb[start : start + chunk], metric, dtype, device)  # [Q, D]
        nearest = _scores(queries, refs, metric, ref_sq).topk(k, dim=1).indices  # [Q, k]
        votes_class = ref_class[nearest]  # [Q, k]
        score = torch.zeros(queries.shape[0], n_classes, dtype=torch.long, device=device)  # [Q, C]
        score.scatter_add_(1, votes_class, torch.full_like(votes_class, k + 1))
        best_rank = torch.zeros_like(score).scatter_reduce_(
            1, votes_class, rank_bonus.expand_as(votes_class), reduce="amax"
        )  # [Q, C]
        predicted = classes[(score + best_rank).argmax(1)]  # [Q]
        correct += int((predicted == test_labels[start : start + chunk].to(device)).sum())
    return correct / test_emb.shape[0]


def _check_same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"train_emb and test_emb must have the same embedding size, got {a.shape[1]} and {b.shape[1]}")


# ----------------------------------------------------------------------------------------------
# Linear probe
# ----------------------------------------------------------------------------------------------


def linear_probe_accuracy(
    model: nn.Module | None,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int = 30,
    lr: float = 0.01,
    batch_size: int = 256,
    device=None,
    seed: int = 0,
) -> float:
    """Test accuracy of a linear classifier trained on frozen features.

    The frozen ``model`` embeds the images (``embed``, eval mode), the features are standardised
    with the training mean and standard deviation, and only a ``nn.Linear`` layer (zero-initialised)
    is trained with cross-entropy, Adam and a cosine learning-rate decay over shuffled minibatches.
    The result is deterministic for a given ``seed`` on the CPU. Afterwards every parameter and
    buffer of the model (BatchNorm running statistics included) is compared with a snapshot taken
    before; any change raises ``RuntimeError``, because a probe that moved the encoder would not
    measure the encoder that was trained.

    Args:
        model: the encoder, or None when ``x_train``/``x_test`` already are features [N, D].
        x_train: training images [N, ...] (or features [N, D] when ``model`` is None).
        y_train: integer labels [N].
        x_test: test images [M, ...] (or features [M, D]).
        y_test: integer labels [M]; labels absent from ``y_train`` count as errors.
        epochs: passes over the training features.
        lr: peak Adam learning rate.
        batch_size: minibatch size for both embedding and training.
        device: where to embed and train; None means the model's device (CPU when ``model`` is None).
            The model is not moved, so a given device must be one the model can run on.
        seed: seed of the minibatch shuffling.

    Returns:
        Fraction of test points classified correctly, in [0, 1].

    Raises:
        RuntimeError: if the model's parameters or buffers changed while probing.
    """
    if model is not None and not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module or None, got {describe(model)}")
    check_tensor("x_train", x_train, min_rows=1, ndim=2 if model is None else None)
    check_tensor("x_test", x_test, min_rows=1, ndim=2 if model is None else None)
    y_train = check_labels("y_train", y_train, x_train.shape[0])
    y_test = check_labels("y_test", y_test, x_test.shape[0])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"x_train and x_test must have the same per-sample shape, got {describe(x_train)} and {describe(x_test)}"
        )
    check_positive_int("epochs", epochs)
    check_positive("lr", lr)
    check_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {describe(seed)}")

    if model is None:
        device = torch.device("cpu") if device is None else torch.device(device)
        train_feat, test_feat = x_train.float(), x_test.float()  # [N, D], [M, D]
        snapshot = None
    else:
        device = _model_device(model) if device is None else torch.device(device)
        snapshot = {name: t.detach().clone() for name, t in _model_state(model).items()}
        train_feat = embed(model, x_train, batch_size=batch_size, device=device)  # [N, D]
        test_feat = embed(model, x_test, batch_size=batch_size, device=device)  # [M, D]
        check_tensor("embedded x_train", train_feat)
        check_tensor("embedded x_test", test_feat)

    accuracy = _fit_linear(train_feat, y_train, test_feat, y_test, epochs, lr, batch_size, device, seed)

    if model is not None:
        _assert_unchanged(model, snapshot)
    return accuracy


def _fit_linear(
    train_feat: torch.Tensor,
    y_train: torch.Tensor,
    test_feat: torch.Tensor,
    y_test: torch.Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> float:
    train_feat, test_feat = train_feat.to(device), test_feat.to(device)
    mean = train_feat.mean(0)  # [D]
    std = train_feat.std(0, correction=0)  # [D]
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features stay centred at 0
    train_feat = (train_feat - mean) / std  # [N, D]
    test_feat = (test_feat - mean) / std  # [M, D]

    classes, target = torch.unique(y_train, return_inverse=True)  # [C], [N]
    target = target.to(device)
    probe = nn.Linear(train_feat.shape[1], classes.shape[0]).to(device)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    n = train_feat.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator).to(device)  # [N]
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]  # [B]
                loss = F.cross_entropy(probe(train_feat[idx]), target[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    with torch.no_grad():
        predicted = classes.to(device)[probe(test_feat).argmax(1)]  # [M]
    return float((predicted == y_test.to(device)).float().mean())


def _model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (non-persistent buffers too, which ``state_dict`` leaves out)."""
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def _assert_unchanged(model: nn.Module, snapshot: dict[str, torch.Tensor] | None) -> None:
    if snapshot is None:
        raise RuntimeError("internal error: no snapshot of the model was taken before the linear probe")
    after = _model_state(model)
    changed = sorted(set(snapshot) ^ set(after))
    for name, before in snapshot.items():
        now = after.get(name)
        if now is not None and (now.shape != before.shape or not torch.equal(now.detach(), before)):
            changed.append(name)
    if changed:
        raise RuntimeError(
            "the encoder changed during the linear probe, so the probe no longer measures the trained model; "
            f"changed parameters/buffers: {', '.join(changed[:10])}{' ...' if len(changed) > 10 else ''}. "
            "Check that the model's forward does not update its own state in eval mode."
        )


# ----------------------------------------------------------------------------------------------
# Alignment and uniformity (Wang and Isola 2020)
# ----------------------------------------------------------------------------------------------


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2) -> float:
    """Alignment E ||f(x) - f(y)||^alpha over positive pairs of L2-normalised embeddings (lower is better).

    Row i of ``z1`` and row i of ``z2`` form a positive pair (two views of one image, or, for
    labelled data, two samples of one class). Rows are L2-normalised first, so the value lies in
    [0, 2^alpha].

    - [1] Wang and Isola 2020, arXiv:2005.10242

    Args:
        z1: embeddings [N, D].
        z2: embeddings [N, D] of the positives.
        alpha: exponent, > 0.

    Returns:
        The mean distance to the power ``alpha``.
    """
    _check_embeddings("z1", z1)
    _check_embeddings("z2", z2)
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    alpha = check_positive("alpha", alpha)
    dtype = _compute_dtype(z1, z2)
    a = F.normalize(z1.to(dtype), dim=1)  # [N, D]
    b = F.normalize(z2.to(device=z1.device, dtype=dtype), dim=1)  # [N, D]
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2, *, max_points: int = 5000, seed: int = 0) -> float:
    """Uniformity log E exp(-t ||f(x) - f(y)||²) over distinct pairs of L2-normalised embeddings.

    Lower (more negative) means the embeddings spread more evenly over the sphere; the minimum
    for 2 points is -4t (antipodal). Pairs are all i < j, computed in row chunks with a stable
    log-sum-exp. With more than ``max_points`` rows, a fixed random subset of that size (drawn
    with ``seed``) is used, which keeps the cost bounded and the value reproducible.

    - [1] Wang and Isola 2020, arXiv:2005.10242

    Args:
        z: embeddings [N, D], N >= 2.
        t: temperature of the Gaussian potential, > 0.
        max_points: largest number of rows used, >= 2.
        seed: seed of the subsample.

    Returns:
        The log of the mean Gaussian potential.
    """
    _check_embeddings("z", z)
    if z.shape[0] < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {describe(z)}")
    t = check_positive("t", t)
    check_positive_int("max_points", max_points, minimum=2)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {describe(seed)}")
    if z.shape[0] > max_points:
        keep = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(seed))[:max_points]
        z = z[keep.to(z.device)]
    x = F.normalize(z.to(_compute_dtype(z)), dim=1)  # [N, D]
    n = x.shape[0]
    chunk = _chunk_rows(n)
    parts = []
    for start in range(0, n - 1, chunk):
        rows = x[start : start + chunk]  # [Q, D]
        sq = (2 - 2 * rows @ x.T).clamp_min(0)  # [Q, N] squared distance of unit vectors
        row_idx = torch.arange(start, start + rows.shape[0], device=x.device)[:, None]  # [Q, 1]
        col_idx = torch.arange(n, device=x.device)[None, :]  # [1, N]
        logits = (-t * sq).masked_fill(col_idx <= row_idx, -math.inf)  # keep pairs i < j
        parts.append(torch.logsumexp(logits.flatten(), 0))
    n_pairs = n * (n - 1) / 2
    return float(torch.logsumexp(torch.stack(parts), 0) - math.log(n_pairs))


# ----------------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------------


def evaluate_embeddings(
    train_emb: torch.Tensor,
    train_labels: torch.Tensor,
    test_emb: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    k: int = 5,
    seed: int = 0,
    linear_probe: bool = True,
) -> dict[str, float]:
    """All the metrics of this module for one embedding, as a flat dict.

    - ``knn_accuracy``: cosine kNN with ``k`` neighbours, train as references, test as queries.
    - ``linear_probe_accuracy`` (only when ``linear_probe``): linear layer on standardised train
      features, scored on test.
    - ``precision_at_1``, ``map_at_r``, ``r_precision``: leave-one-out within the test set, cosine.
    - ``verification_auc``, ``verification_eer``: on 2,000 balanced same/different test pairs
      drawn with ``seed`` (``sample_verification_pairs``), cosine distance 1 - cos.
    - ``alignment``: over the same-label pairs among those; for labelled data a positive pair is
      two samples of one class.
    - ``uniformity``: over the test embeddings (subsampled to 5,000 with ``seed``).

    Args:
        train_emb: training embeddings [N, D].
        train_labels: integer labels [N].
        test_emb: test embeddings [M, D].
        test_labels: integer labels [M].
        k: neighbours for kNN.
        seed: seed of the verification pairs, the uniformity subsample and the probe's shuffling.
        linear_probe: whether to train the linear probe (the slowest part, about a second).

    Returns:
        ``dict[str, float]`` with the keys above.
    """
    if not isinstance(linear_probe, bool):
        raise ValueError(f"linear_probe must be True or False, got {describe(linear_probe)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {describe(seed)}")
    results: dict[str, float] = {
        "knn_accuracy": knn_accuracy(train_emb, train_labels, test_emb, test_labels, k=k, metric="cosine")
    }
    if linear_probe:
        results["linear_probe_accuracy"] = linear_probe_accuracy(
            None, train_emb, train_labels, test_emb, test_labels, seed=seed, device=train_emb.device
        )
    retrieval = retrieval_metrics(test_emb, test_labels, metric="cosine")
    results["precision_at_1"] = retrieval.precision_at_1
    results["map_at_r"] = retrieval.map_at_r
    results["r_precision"] = retrieval.r_precision

    i, j, same = sample_verification_pairs(test_labels, n_pairs=2000, seed=seed)
    z = F.normalize(test_emb.to(_compute_dtype(test_emb)), dim=1)  # [M, D]
    i, j = i.to(z.device), j.to(z.device)
    distances = 1.0 - (z[i] * z[j]).sum(1)  # [P] cosine distance
    roc = verification_roc(distances, same)
    results["verification_auc"] = roc.auc
    results["verification_eer"] = roc.eer
    same_dev = same.to(z.device)
    results["alignment"] = alignment(z[i[same_dev]], z[j[same_dev]])
    results["uniformity"] = uniformity(test_emb, seed=seed)
    return results
