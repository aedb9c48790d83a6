"""The four recipes on tiny data: they learn, they are deterministic, SimCLR never reads a label."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from contrastkit import train as T
from contrastkit.data import MNISTData
from contrastkit.evaluate import embed, knn_accuracy
from contrastkit.models import ConvEncoder
from tests.train.helpers import assert_same_weights, micro, tiny, weights, without_times

pytestmark = pytest.mark.usefixtures("one_thread")


def untrained_knn(config: T.RecipeConfig, data: MNISTData, metric: str = "cosine") -> float:
    torch.manual_seed(config.seed)  # the same initial weights as train()
    encoder = ConvEncoder(embedding_dim=config.embedding_dim, width=config.width)
    train_emb = embed(encoder, data.x_train)
    test_emb = embed(encoder, data.x_test)
    return knn_accuracy(train_emb, data.y_train, test_emb, data.y_test, metric=metric)


@pytest.mark.parametrize(
    "config",
    [
        tiny(T.SiameseConfig, epochs=3, lr=3e-3),
        tiny(T.TripletConfig, epochs=3, lr=3e-3),
        tiny(T.SimCLRConfig, epochs=3, lr=3e-3, batch_size=30, augment_strength=0.5),
        tiny(T.SupConConfig, epochs=2, lr=3e-3),
    ],
    ids=lambda c: c.method,
)
def test_tiny_run_beats_the_untrained_encoder(config: T.RecipeConfig, tiny_data: MNISTData) -> None:
    before = untrained_knn(config, tiny_data)
    model, history = T.train(config, tiny_data, device="cpu", progress=False)
    assert isinstance(model, ConvEncoder) and not model.training
    after = knn_accuracy(
        embed(model, tiny_data.x_train), tiny_data.y_train, embed(model, tiny_data.x_test), tiny_data.y_test
    )
    assert after > before + 0.02, (before, after)
    expected = {"epoch", "loss", "wall_time", "knn_accuracy", "embedding_std"}
    if config.method == "triplet":
        expected.add("active_fraction")
    assert expected <= history.keys()
    assert all(len(v) == config.epochs for v in history.values())
    assert history["epoch"] == [float(e) for e in range(1, config.epochs + 1)]
    assert all(math.isfinite(v) for key in expected for v in history[key])
    assert history["loss"][-1] < history["loss"][0]


def test_two_dimensional_siamese_embeddings_train(tiny_data: MNISTData) -> None:
    config = tiny(T.SiameseConfig, embedding_dim=2, epochs=3, lr=3e-3)
    before = untrained_knn(config, tiny_data, metric="euclidean")
    model, _ = T.train(config, tiny_data, device="cpu", progress=False)
    train_emb, test_emb = embed(model, tiny_data.x_train), embed(model, tiny_data.x_test)
    assert test_emb.shape == (tiny_data.x_test.shape[0], 2)
    assert torch.isfinite(test_emb).all()
    after = knn_accuracy(train_emb, tiny_data.y_train, test_emb, tiny_data.y_test, metric="euclidean")
    assert after > before + 0.05, (before, after)


def test_simclr_does_not_read_the_labels(micro_data: MNISTData) -> None:
    config = micro(T.SimCLRConfig, epochs=1)
    model_a, _ = T.train(config, micro_data, device="cpu", progress=False)
    shuffled = MNISTData(
        micro_data.x_train, micro_data.y_train[torch.randperm(len(micro_data.y_train))], micro_data.x_test,
        micro_data.y_test, micro_data.source,
    )  # fmt: skip
    model_b, _ = T.train(config, shuffled, device="cpu", progress=False)
    assert_same_weights(model_a, model_b)


@pytest.mark.parametrize("cls", [T.TripletConfig, T.SupConConfig], ids=["triplet", "supcon"])
def test_same_seed_gives_identical_weights_on_cpu(cls: type, micro_data: MNISTData) -> None:
    config = micro(cls, epochs=1, augment_strength=1.0)
    a, history_a = T.train(config, micro_data, device="cpu", progress=False)
    b, history_b = T.train(config, micro_data, device="cpu", progress=False)
    assert_same_weights(a, b)
    assert without_times(history_a) == without_times(history_b)
    c, _ = T.train(dataclasses.replace(config, seed=1), micro_data, device="cpu", progress=False)
    assert not torch.equal(weights(a)["embedding.weight"], weights(c)["embedding.weight"])


@pytest.mark.parametrize("cls", list(T.CONFIGS.values()), ids=list(T.CONFIGS))
def test_build_returns_what_the_recipe_trains(cls: type, micro_data: MNISTData) -> None:
    from torch import nn

    from contrastkit.models import ProjectedEncoder, ProjectionHead, SiameseNet, build_encoder
    from contrastkit.train.config import Recipe

    config = micro(cls)
    encoder = build_encoder(config)
    recipe = config.build(encoder, micro_data.x_train, micro_data.y_train, torch.Generator().manual_seed(0))
    assert isinstance(recipe, Recipe)
    expected = {"siamese": SiameseNet, "triplet": ConvEncoder, "simclr": ProjectedEncoder, "supcon": ProjectedEncoder}
    assert isinstance(recipe.model, expected[config.method])
    assert any(p is encoder.embedding.weight for p in recipe.model.parameters())  # the encoder is trained
    assert len(recipe.batches(0)) == len(recipe.batches(1)) > 0  # the same number of batches every epoch
    out = recipe.step(recipe.batches(0)[0])
    loss = out[0] if isinstance(out, tuple) else out
    assert loss.dim() == 0 and torch.isfinite(loss)
    if config.method in ("simclr", "supcon"):
        assert isinstance(recipe.model.projection_head, nn.Identity)  # projection_dim=0 by default
        headed = dataclasses.replace(config, projection_dim=16).build(
            build_encoder(config), micro_data.x_train, micro_data.y_train, torch.Generator()
        )
        assert isinstance(headed.model.projection_head, ProjectionHead) and headed.model.projection_head.out_dim == 16
