"""Devices: every loss, miner, metric and recipe step on each available device, and float64 on the hot paths.

The device matrix always runs on the CPU and adds CUDA and Apple's MPS where they are present. MPS has
no float64, so a hot path that creates a float64 tensor fails there; the spy below records every
float64 tensor an operation creates on the CPU, which finds those paths on any machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import contrastkit as ck
from contrastkit.data import MNISTData
from tests.train.helpers import micro

DEVICES = ["cpu"]
if torch.cuda.is_available():  # pragma: no cover - needs a GPU
    DEVICES.append("cuda")
if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():  # pragma: no cover
    DEVICES.append("mps")


def _inputs(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_()
    return z, (torch.arange(32) % 4).to(device)


#: name -> function of (embeddings [32, 8] requiring grad, labels [32]) exercising one hot path.
HOT_PATHS: dict[str, Callable[[torch.Tensor, torch.Tensor], object]] = {
    "contrastive_loss": lambda z, y: ck.losses.contrastive_loss(z, z.flip(0), (y % 2).float()),
    "triplet_margin_loss": lambda z, y: ck.losses.triplet_margin_loss(z, z.flip(0), z.roll(1, 0)),
    "batch_triplet_loss[all]": lambda z, y: ck.losses.batch_triplet_loss(z, y, strategy="all"),
    "batch_triplet_loss[hard]": lambda z, y: ck.losses.batch_triplet_loss(z, y, strategy="hard"),
    "batch_triplet_loss[semihard]": lambda z, y: ck.losses.batch_triplet_loss(z, y, strategy="semihard", margin=0.5),
    "nt_xent_loss": lambda z, y: ck.losses.nt_xent_loss(z, z.flip(0)),
    "supcon_loss": lambda z, y: ck.losses.supcon_loss(z.reshape(16, 2, 8), y[:16]),
    "mine_triplets": lambda z, y: ck.mining.mine_triplets(z, y),
    "mine_hard_negatives": lambda z, y: ck.mining.mine_hard_negatives(z.detach(), y, k=2),
    "pairwise_distances": lambda z, y: ck.distances.pairwise_distances(z),
    "knn_accuracy": lambda z, y: ck.evaluate.knn_accuracy(z.detach(), y, z.detach(), y, k=3),
    "retrieval_metrics": lambda z, y: ck.evaluate.retrieval_metrics(z.detach(), y),
    "alignment": lambda z, y: ck.evaluate.alignment(z.detach(), z.detach().flip(0)),
    "uniformity": lambda z, y: ck.evaluate.uniformity(z.detach()),
}


def _run(fn: Callable, z: torch.Tensor, y: torch.Tensor) -> object:
    out = fn(z, y)
    if isinstance(out, torch.Tensor) and out.requires_grad:
        out.sum().backward()
        assert z.grad is not None and bool(torch.isfinite(z.grad).all())
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(HOT_PATHS))
def test_every_hot_path_runs_on_every_device(name: str, device: str) -> None:
    z, y = _inputs(device)
    out = _run(HOT_PATHS[name], z, y)
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        assert out.device.type == device and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["siamese", "triplet", "simclr", "supcon"])
def test_every_recipe_trains_an_epoch_on_every_device(method: str, device: str, micro_data: MNISTData) -> None:
    config = micro(ck.train.CONFIGS[method], epochs=1)
    model, history = ck.train.train(config, micro_data, device=device, progress=False)
    assert next(model.parameters()).device.type == device
    assert len(history["loss"]) == 1 and history["loss"][0] == history["loss"][0]  # not NaN


class _Float64Spy(TorchDispatchMode):
    """Records every operation whose output is a float64 tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float64:
                self.ops.add(str(func))
        return out


@pytest.mark.parametrize("name", sorted(HOT_PATHS))
def test_no_float64_tensor_on_the_hot_paths_of_float32_inputs(name: str) -> None:
    z, y = _inputs("cpu")
    spy = _Float64Spy()
    with spy:
        _run(HOT_PATHS[name], z, y)
    assert not spy.ops, f"{name} creates float64 tensors in {sorted(spy.ops)}"
