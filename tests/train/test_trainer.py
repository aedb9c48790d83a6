"""train() and train_cached(): argument checks, training once per config and data."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from contrastkit import train as T
from contrastkit.data import MNISTData
from contrastkit.models import ConvEncoder
from tests.train.helpers import assert_same_weights, micro, tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_refuses_bad_arguments(tiny_data: MNISTData) -> None:
    with pytest.raises(ValueError, match="config"):
        T.train({"method": "supcon"}, tiny_data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MNISTData"):
        T.train(T.SupConConfig(), (tiny_data.x_train, tiny_data.y_train))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="checkpoint_dir"):
        T.train(tiny(T.SupConConfig), tiny_data, resume=True, progress=False)


# ----------------------------------------------------------------------------------------------
# train_cached and cache_key
# ----------------------------------------------------------------------------------------------


def test_cache_key_identifies_config_and_data(micro_data: MNISTData) -> None:
    config = micro(T.SupConConfig, epochs=1)
    key = T.cache_key(config, micro_data)
    assert isinstance(key, str) and key and all(c in "0123456789abcdef-" for c in key)  # a folder name
    assert T.cache_key(config, micro_data) == key == T.cache_key(micro(T.SupConConfig, epochs=1), micro_data)
    assert T.cache_key(dataclasses.replace(config, lr=1e-2), micro_data) != key
    assert T.cache_key(dataclasses.replace(config, seed=1), micro_data) != key
    assert T.cache_key(micro(T.SimCLRConfig, epochs=1), micro_data) != key
    other = MNISTData(micro_data.x_train, micro_data.y_train.flip(0), micro_data.x_test, micro_data.y_test, "sample")
    assert T.cache_key(config, other) != key  # the same images with other labels
    assert T.cache_key(config, micro_data.subset(100, 60, seed=0)) != key
    with pytest.raises(ValueError, match="config"):
        T.cache_key(config.to_dict(), micro_data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MNISTData"):
        T.cache_key(config, (micro_data.x_train, micro_data.y_train))  # type: ignore[arg-type]


def test_train_cached_trains_once_then_reloads(micro_data: MNISTData, tmp_path, monkeypatch) -> None:
    steps = {"n": 0}
    real_step = torch.optim.AdamW.step

    def counting_step(self, *args, **kwargs):
        steps["n"] += 1
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counting_step)
    config = micro(T.SupConConfig, epochs=1)
    epochs_seen = []
    model, history = T.train_cached(
        config, micro_data, tmp_path, device="cpu", progress=False, callbacks=[lambda e, h: epochs_seen.append(e)]
    )
    assert steps["n"] == 6 and epochs_seen == [1]  # 120 images in batches of 20
    folder = tmp_path / f"supcon-{T.cache_key(config, micro_data)}"
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert (folder / T.CHECKPOINT_NAME).is_file()

    again, again_history = T.train_cached(
        config, micro_data, tmp_path, device="cpu", progress=False, callbacks=[lambda e, h: epochs_seen.append(e)]
    )
    assert steps["n"] == 6 and epochs_seen == [1]  # no training step, no epoch
    assert again_history == history
    assert_same_weights(model, again)
    assert isinstance(again, ConvEncoder) and not again.training

    changed = dataclasses.replace(config, lr=1e-2)
    T.train_cached(changed, micro_data, tmp_path, device="cpu", progress=False)
    assert steps["n"] == 12  # a changed hyperparameter trains anew, in a folder of its own
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [folder.name, f"supcon-{T.cache_key(changed, micro_data)}"]
    )


def test_latest_cached_finds_the_newest_finished_model_of_a_method_on_the_same_data(
    micro_data: MNISTData, tmp_path
) -> None:
    assert T.latest_cached("supcon", micro_data, tmp_path) is None
    older = micro(T.SupConConfig, epochs=1)
    newer = micro(T.SupConConfig, epochs=1, temperature=0.2)
    T.train_cached(older, micro_data, tmp_path, device="cpu", progress=False)
    T.train_cached(newer, micro_data, tmp_path, device="cpu", progress=False)
    assert T.latest_cached("supcon", micro_data, tmp_path) == newer
    assert T.latest_cached("simclr", micro_data, tmp_path) is None  # another method
    other = micro_data.subset(len(micro_data.y_train) - 10, seed=1)
    assert T.data_digest(other) != T.data_digest(micro_data)
    assert T.latest_cached("supcon", other, tmp_path) is None  # other images
    # an unfinished (interrupted) run is not a match; an unreadable checkpoint is skipped
    folder = tmp_path / f"supcon-{T.cache_key(newer, micro_data)}"
    (folder / T.CHECKPOINT_NAME).write_bytes(b"garbage")
    assert T.latest_cached("supcon", micro_data, tmp_path) == older


def test_data_digest_refuses_what_is_not_data() -> None:
    with pytest.raises(ValueError, match="MNISTData"):
        T.data_digest("data")  # type: ignore[arg-type]


def test_quick_and_full_mode_keep_their_cached_models_apart(micro_data: MNISTData, tmp_path, monkeypatch) -> None:
    config = micro(T.SupConConfig, epochs=1)
    monkeypatch.setenv("CONTRASTKIT_QUICK", "1")
    T.train_cached(config, micro_data, tmp_path, device="cpu", progress=False)
    assert T.latest_cached("supcon", micro_data, tmp_path) == config
    assert [p.name for p in tmp_path.iterdir()] == [f"supcon-{T.cache_key(config, micro_data)}-quick"]
    monkeypatch.setenv("CONTRASTKIT_QUICK", "0")
    assert T.latest_cached("supcon", micro_data, tmp_path) is None  # a full run never gets the quick model
