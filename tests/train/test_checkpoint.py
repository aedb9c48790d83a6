"""Checkpoints: exact resume after an interruption, a finished run returned without training."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from contrastkit import train as T
from contrastkit.data import MNISTData
from contrastkit.train.checkpoint import load_checkpoint
from tests.train.helpers import Interrupt, assert_same_weights, micro, stop_after, without_times

pytestmark = pytest.mark.usefixtures("one_thread")


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


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


@pytest.mark.parametrize("content", [b"", b"not a zip at all" * 10, None])
def test_corrupt_checkpoint_gives_a_message_naming_the_file(tmp_path, content) -> None:
    path = tmp_path / "checkpoint.pt"
    if content is None:  # a real checkpoint cut in half
        torch.save({"format": 1, "model": {"w": torch.randn(1000)}}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"checkpoint\.pt.*(truncated or corrupt)"):
        load_checkpoint(path)


def test_checkpoint_missing_a_part_gives_a_message(tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 1, "meta": {}, "epoch": 1, "model": {}}, path)
    with pytest.raises(ValueError, match="lacks optimizer, scheduler"):
        load_checkpoint(path)
