"""Tests of contrastkit.train: configs, the fit loop, checkpoints, resume, NaN detection, tiny real runs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import contrastkit as ck
from contrastkit import train as T
from contrastkit.data import MNISTData
from contrastkit.evaluate import embed, knn_accuracy
from contrastkit.models import ConvEncoder

# Tiny settings so that every run takes a second or two on a CPU.
TINY = {"width": 8, "embedding_dim": 16, "knn_subset": 300, "knn_queries": 200, "warmup_fraction": 0.0}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny batches run fastest on one thread, and a busy machine cannot stall a second one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_data() -> MNISTData:
    return ck.data.load_mnist(verbose=False).subset(300, 200, seed=1)


@pytest.fixture(scope="module")
def micro_data(tiny_data: MNISTData) -> MNISTData:
    """For the mechanics (determinism, resume, NaN, callbacks): 120 training images, 6 batches of 20."""
    return tiny_data.subset(120, 60, seed=2)


def micro(cls: type, **overrides) -> T._Config:
    return tiny(cls, **{"batch_size": 20, "knn_subset": 120, "knn_queries": 60, **overrides})


def tiny(cls: type, **overrides) -> T._Config:
    values = {**TINY, "epochs": 2, "batch_size": 50}
    if cls is T.TripletConfig:
        values["batch_size"] = 40  # 10 digits x 4
    values.update(overrides)
    return cls(**values)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def without_times(history: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: v for k, v in history.items() if k not in ("wall_time", "eval_time")}


# ----------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(T.CONFIGS.values()))
def test_configs_have_defaults_method_and_round_trip(cls: type) -> None:
    config = cls()
    assert T.CONFIGS[config.method] is cls
    values = config.to_dict()
    assert values["method"] == config.method
    assert T.config_from_dict(values) == config
    assert cls.from_dict(values) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3  # type: ignore[misc]
    assert dataclasses.replace(config, epochs=3).epochs == 3


@pytest.mark.parametrize(
    ("cls", "field", "value"),
    [
        (T.SiameseConfig, "epochs", 0),
        (T.SiameseConfig, "epochs", 1.5),
        (T.SiameseConfig, "batch_size", 1),
        (T.SiameseConfig, "lr", 0.0),
        (T.SiameseConfig, "lr", float("nan")),
        (T.SiameseConfig, "margin", -0.1),
        (T.SiameseConfig, "variant", "cosine"),
        (T.SiameseConfig, "normalize", "yes"),
        (T.TripletConfig, "strategy", "easy"),
        (T.TripletConfig, "margin", -1.0),
        (T.TripletConfig, "samples_per_class", 7),
        (T.TripletConfig, "classes_per_batch", 1),
        (T.SimCLRConfig, "temperature", 0.0),
        (T.SimCLRConfig, "schedule", "step"),
        (T.SimCLRConfig, "augment_strength", -1.0),
        (T.SupConConfig, "temperature", -0.1),
        (T.SupConConfig, "n_views", 0),
        (T.SupConConfig, "projection_dim", -1),
        (T.SupConConfig, "weight_decay", -1e-4),
        (T.SupConConfig, "seed", -1),
        (T.SupConConfig, "eval_every", 0),
    ],
)
def test_config_rejects_bad_values(cls: type, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        cls(**{field: value})


def test_triplet_batch_size_must_match_p_times_k() -> None:
    assert T.TripletConfig(batch_size=120, classes_per_batch=10).k == 12
    assert T.TripletConfig(batch_size=60, classes_per_batch=6, samples_per_class=10).k == 10
    with pytest.raises(ValueError, match="classes_per_batch \\* samples_per_class"):
        T.TripletConfig(batch_size=64, classes_per_batch=6, samples_per_class=10)
    with pytest.raises(ValueError, match="at least 2 \\* classes_per_batch"):
        T.TripletConfig(batch_size=15, classes_per_batch=10)


@settings(max_examples=25, deadline=None)
@given(st.floats(max_value=0.0, allow_nan=False) | st.just(float("inf")) | st.just(float("nan")))
def test_non_positive_or_non_finite_lr_and_temperature_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="lr"):
        T.SupConConfig(lr=value)
    with pytest.raises(ValueError, match="temperature"):
        T.SimCLRConfig(temperature=value)


def test_from_dict_refuses_unknown_fields_and_wrong_method() -> None:
    with pytest.raises(ValueError, match="unknown"):
        T.config_from_dict({"method": "supcon", "epochs": 2, "temprature": 0.1})
    with pytest.raises(ValueError, match="method"):
        T.config_from_dict({"method": "byol"})
    with pytest.raises(ValueError, match="simclr"):
        T.SupConConfig.from_dict(T.SimCLRConfig().to_dict())


def test_train_refuses_bad_arguments(tiny_data: MNISTData) -> None:
    with pytest.raises(ValueError, match="config"):
        T.train({"method": "supcon"}, tiny_data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MNISTData"):
        T.train(T.SupConConfig(), (tiny_data.x_train, tiny_data.y_train))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="checkpoint_dir"):
        T.train(tiny(T.SupConConfig), tiny_data, resume=True, progress=False)


# ----------------------------------------------------------------------------------------------
# Tiny real runs
# ----------------------------------------------------------------------------------------------


def untrained_knn(config: T._Config, data: MNISTData, metric: str = "cosine") -> float:
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
def test_tiny_run_beats_the_untrained_encoder(config: T._Config, tiny_data: MNISTData) -> None:
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


# ----------------------------------------------------------------------------------------------
# Determinism, checkpoints, resume
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [T.TripletConfig, T.SupConConfig], ids=["triplet", "supcon"])
def test_same_seed_gives_identical_weights_on_cpu(cls: type, micro_data: MNISTData) -> None:
    config = micro(cls, epochs=1, augment_strength=1.0)
    a, history_a = T.train(config, micro_data, device="cpu", progress=False)
    b, history_b = T.train(config, micro_data, device="cpu", progress=False)
    assert_same_weights(a, b)
    assert without_times(history_a) == without_times(history_b)
    c, _ = T.train(dataclasses.replace(config, seed=1), micro_data, device="cpu", progress=False)
    assert not torch.equal(weights(a)["head.weight"], weights(c)["head.weight"])


class Interrupt(Exception):
    pass


def stop_after(epoch: int):
    def callback(e: int, history: dict[str, list[float]]) -> None:
        if e == epoch:
            raise Interrupt

    return callback


def test_resume_gives_the_same_result_as_an_uninterrupted_run(micro_data: MNISTData, tmp_path) -> None:
    config = micro(T.SimCLRConfig, epochs=3)  # augmentation, a projection head, shuffled batches
    full, full_history = T.train(config, micro_data, device="cpu", progress=False, checkpoint_dir=tmp_path / "a")

    with pytest.raises(Interrupt):
        T.train(
            config, micro_data, device="cpu", progress=False, checkpoint_dir=tmp_path / "b", callbacks=[stop_after(2)]
        )
    state = torch.load(tmp_path / "b" / T.CHECKPOINT_NAME, weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    torch.manual_seed(12345)  # the global RNG state must not matter: the checkpoint restores it
    resumed, resumed_history = T.train(
        config, micro_data, device="cpu", progress=False, checkpoint_dir=tmp_path / "b", resume=True
    )
    assert_same_weights(full, resumed)
    assert without_times(full_history) == without_times(resumed_history)


def test_finished_checkpoint_returns_the_saved_model_without_training(micro_data: MNISTData, tmp_path) -> None:
    config = micro(T.SupConConfig, epochs=1)
    trained, history = T.train(config, micro_data, device="cpu", progress=False, checkpoint_dir=tmp_path)
    state = T.load_checkpoint(tmp_path / T.CHECKPOINT_NAME)
    assert state["meta"]["config"] == config.to_dict()
    assert set(state) >= {"model", "optimizer", "scheduler", "scaler", "epoch", "history", "rng"}
    assert isinstance(state["rng"]["torch"], torch.Tensor)
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file

    calls = []
    again, again_history = T.train(
        config,
        micro_data,
        progress=False,
        checkpoint_dir=tmp_path,
        resume=True,
        callbacks=[lambda e, h: calls.append(e)],
    )
    assert calls == []
    assert again_history == history
    assert_same_weights(trained, again)
    assert not again.training

    with pytest.raises(ValueError, match="different run"):
        T.train(dataclasses.replace(config, lr=1e-2), micro_data, progress=False, checkpoint_dir=tmp_path, resume=True)


# ----------------------------------------------------------------------------------------------
# Divergence and callbacks
# ----------------------------------------------------------------------------------------------


def test_nan_loss_stops_with_epoch_and_step(micro_data: MNISTData, monkeypatch) -> None:
    calls = {"n": 0}
    real = ck.losses.nt_xent_loss

    def flaky(z1, z2, temperature=0.5):
        calls["n"] += 1
        loss = real(z1, z2, temperature=temperature)
        return loss * float("nan") if calls["n"] == 9 else loss  # step 3 of epoch 2 (6 batches per epoch)

    monkeypatch.setattr(ck.losses, "nt_xent_loss", flaky)
    with pytest.raises(T.TrainingDivergedError, match=r"loss became nan at epoch 2, step 3 of 6.*learning rate"):
        T.train(micro(T.SimCLRConfig, epochs=2), micro_data, device="cpu", progress=False)


def test_non_finite_model_output_stops_with_epoch_and_step(micro_data: MNISTData) -> None:
    x = micro_data.x_train.clone()
    x[0, 0, 10, 10] = float("nan")  # poisons every batch norm statistic of the batch holding it
    poisoned = MNISTData(x, micro_data.y_train, micro_data.x_test, micro_data.y_test, micro_data.source)
    with pytest.raises(T.TrainingDivergedError, match=r"non-finite.*epoch 1, step \d+"):
        T.train(micro(T.SiameseConfig, epochs=1), poisoned, device="cpu", progress=False)


def test_callbacks_receive_the_growing_history(micro_data: MNISTData) -> None:
    seen = []

    def callback(epoch: int, history: dict[str, list[float]]) -> None:
        seen.append((epoch, len(history["loss"]), history["knn_accuracy"][-1]))

    config = micro(T.TripletConfig, epochs=3, eval_every=2)
    _, history = T.train(config, micro_data, device="cpu", progress=False, callbacks=[callback, lambda e, h: None])
    assert [(e, n) for e, n, _ in seen] == [(1, 1), (2, 2), (3, 3)]
    assert math.isnan(seen[0][2]) and math.isfinite(seen[1][2]) and math.isfinite(seen[2][2])  # eval on 2 and last
    assert history["knn_accuracy"][1] == seen[1][2]
    with pytest.raises(ValueError, match="callbacks"):
        T.train(config, micro_data, progress=False, callbacks=[42])  # type: ignore[list-item]


def test_fit_is_generic() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    batches = [torch.arange(i, i + 16) for i in range(0, 64, 16)]

    def step(idx):
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        return loss, {"batch_mean": float(idx.float().mean())}

    history = T.fit(model, step, lambda epoch: batches, epochs=3, lr=0.05, device="cpu", progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert history["batch_mean"] == [31.5, 31.5, 31.5]
    assert history["lr"][-1] == pytest.approx(0.0, abs=1e-12)  # cosine decays to 0
    onecycle = T.fit(
        model, step, lambda e: batches, epochs=2, lr=0.05, schedule="onecycle", device="cpu", progress=False
    )
    assert len(onecycle["loss"]) == 2
