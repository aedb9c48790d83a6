"""Fixtures shared by the test folders: MNIST subsets for training, one thread, closing figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures render to memory: no window, whatever MPLBACKEND says

import pytest
import torch

from contrastkit.data import MNISTData, load_mnist


@pytest.fixture(scope="module")
def one_thread():
    """Tiny batches run fastest on one thread, and a busy machine cannot stall a second one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data() -> MNISTData:
    """300 training and 200 test images of the bundled sample."""
    return load_mnist(verbose=False).subset(300, 200, seed=1)


@pytest.fixture(scope="session")
def micro_data(tiny_data: MNISTData) -> MNISTData:
    """For the mechanics (determinism, resume, NaN, callbacks): 120 training images, 6 batches of 20."""
    return tiny_data.subset(120, 60, seed=2)


@pytest.fixture()
def close_figures():
    """Close every pyplot figure a test opened."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def blobs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """120 points in 16-D around 4 well-separated class centres, with 28×28 'images'."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(30)  # [120]
    centres = 6.0 * torch.randn(4, 16, generator=gen)  # [4, 16]
    emb = centres[labels] + 0.3 * torch.randn(120, 16, generator=gen)  # [120, 16]
    images = torch.rand(120, 1, 28, 28, generator=gen)  # [120, 1, 28, 28]
    return emb, labels, images
