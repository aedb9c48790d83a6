"""Classification from a frozen embedding: the k-nearest-neighbour vote and the linear probe."""

from __future__ import annotations

import torch
from torch import nn

from contrastkit._checks import (
    check_choice,
    check_embeddings,
    check_int,
    check_labels,
    check_positive,
    check_positive_int,
    check_same_width,
    check_tensor,
    describe,
)
from contrastkit.distances import METRICS
from contrastkit.evaluate._kernels import PROBE_BATCH_SIZE, PROBE_EPOCHS, PROBE_LR, fit_linear, knn_correct
from contrastkit.evaluate.embedding import embed, model_device

__all__ = ["check_knn_inputs", "knn_accuracy", "linear_probe_accuracy"]


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
    train_labels, test_labels = check_knn_inputs(train_emb, train_labels, test_emb, test_labels, k)
    check_choice("metric", metric, METRICS)

    return knn_correct(train_emb, train_labels, test_emb, test_labels, k, metric) / test_emb.shape[0]


def check_knn_inputs(
    train_emb: torch.Tensor, train_labels: torch.Tensor, test_emb: torch.Tensor, test_labels: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check reference embeddings [N, D] and labels [N], query embeddings [M, D] and labels [M], and 1 <= k <= N.

    Returns:
        ``(train_labels, test_labels)`` as int64.
    """
    check_embeddings("train_emb", train_emb)
    check_embeddings("test_emb", test_emb)
    train_labels = check_labels("train_labels", train_labels, train_emb.shape[0])
    test_labels = check_labels("test_labels", test_labels, test_emb.shape[0])
    check_same_width("train_emb", train_emb, "test_emb", test_emb)
    check_positive_int("k", k)
    if k > train_emb.shape[0]:
        raise ValueError(f"k must be at most the number of training samples ({train_emb.shape[0]}), got {k}")
    return train_labels, test_labels


def linear_probe_accuracy(
    model: nn.Module | None,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int = PROBE_EPOCHS,
    lr: float = PROBE_LR,
    batch_size: int = PROBE_BATCH_SIZE,
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
    check_int("seed", seed)

    if model is None:
        device = torch.device("cpu") if device is None else torch.device(device)
        train_feat, test_feat = x_train.float(), x_test.float()  # [N, D], [M, D]
        snapshot = None
    else:
        device = model_device(model) if device is None else torch.device(device)
        snapshot = {name: t.detach().clone() for name, t in _model_state(model).items()}
        train_feat = embed(model, x_train, batch_size=batch_size, device=device)  # [N, D]
        test_feat = embed(model, x_test, batch_size=batch_size, device=device)  # [M, D]
        check_tensor("embedded x_train", train_feat)
        check_tensor("embedded x_test", test_feat)

    accuracy = fit_linear(train_feat, y_train, test_feat, y_test, device, seed, epochs, lr, batch_size)

    if model is not None:
        _assert_unchanged(model, snapshot)
    return accuracy


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
