"""Tests for contrastkit.evaluate.embedding: embed runs a frozen model in batches and restores its mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastkit import evaluate as ev
from contrastkit.evaluate.embedding import model_device


class _BNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))  # [B, 3, H-2, W-2], flattened by embed


def test_embed_shape_dtype_and_batches() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).double()
    x = torch.randn(23, 1, 4, 4, dtype=torch.float64)
    out = ev.embed(model, x, batch_size=4)
    assert out.shape == (23, 5) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert not out.requires_grad
    torch.testing.assert_close(out, model(x).float().detach())
    torch.testing.assert_close(ev.embed(model, x, batch_size=100), out)


@pytest.mark.parametrize("training", [True, False])
def test_embed_uses_eval_mode_and_restores_mode(training: bool) -> None:
    torch.manual_seed(0)
    model = _BNNet()
    model.train(training)
    stats = model.bn.running_mean.clone()
    out = ev.embed(model, torch.rand(10, 1, 6, 6), batch_size=3)
    assert out.shape == (10, 3 * 4 * 4)
    assert model.training is training and model.bn.training is training
    torch.testing.assert_close(model.bn.running_mean, stats, rtol=0, atol=0)


def test_embed_model_without_parameters_gives_raw_pixels() -> None:
    x = torch.rand(7, 1, 28, 28)
    torch.testing.assert_close(ev.embed(nn.Flatten(), x), x.flatten(1))


def test_embed_restores_mode_on_error() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise KeyError("boom")

    model = Broken().train()
    with pytest.raises(KeyError):
        ev.embed(model, torch.rand(2, 3))
    assert model.training


def test_model_device() -> None:
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.Flatten()) == torch.device("cpu")  # no parameters or buffers
    bn_only = nn.BatchNorm1d(3, affine=False)  # buffers only
    assert model_device(bn_only) == torch.device("cpu")


def test_embed_rejects_bad_images_and_outputs() -> None:
    with pytest.raises(ValueError, match="batch dimension"):
        ev.embed(nn.Identity(), torch.zeros(5))
    with pytest.raises(ValueError, match="images needs at least 1 rows"):
        ev.embed(nn.Identity(), torch.zeros(0, 3))

    class Scalar(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum()

    with pytest.raises(ValueError, match=r"model must return a tensor \[B, D\]"):
        ev.embed(Scalar(), torch.zeros(4, 3))
