"""seed_everything, pick_device, quick mode and atomic writes."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

import contrastkit as ck
from contrastkit.utils import atomic_torch_save, atomic_write_text


def _draws() -> tuple[float, np.ndarray, torch.Tensor]:
    return random.random(), np.random.rand(3), torch.rand(3)  # noqa: NPY002 - the global generators are under test


def test_seed_everything_repeats_draws() -> None:
    ck.seed_everything(123)
    first = _draws()
    ck.seed_everything(123)
    second = _draws()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2])
    ck.seed_everything(124)
    assert not torch.equal(_draws()[2], second[2])


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True])
def test_seed_everything_rejects_bad_seeds(bad: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        ck.seed_everything(bad)  # type: ignore[arg-type]


def test_pick_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else None
    device = ck.pick_device()
    assert isinstance(device, torch.device)
    if expected:
        assert device.type == expected
    assert ck.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        ck.pick_device("tpu-of-dreams")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            ck.pick_device("cuda")


def test_quick_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRASTKIT_QUICK", "1")
    assert ck.quick_mode() and ck.by_mode(10, 1) == 1
    monkeypatch.setenv("CONTRASTKIT_QUICK", "0")
    assert not ck.quick_mode() and ck.by_mode(10, 1) == 10


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), ck.utils.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_torch_save_round_trip(tmp_path: Path) -> None:
    state = {"w": torch.arange(3.0)}
    atomic_torch_save(state, tmp_path / "sub" / "ckpt.pt")
    loaded = torch.load(tmp_path / "sub" / "ckpt.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"])


def test_lazy_submodule_errors() -> None:
    with pytest.raises(AttributeError):
        ck.not_a_module  # noqa: B018


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_atomic_files_get_the_usual_permissions(tmp_path) -> None:
    path = tmp_path / "f.txt"
    atomic_write_text(path, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
