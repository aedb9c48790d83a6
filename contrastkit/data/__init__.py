"""Data: MNIST as tensors (the bundled sample, the full set on demand) and the batches built from it.

- :mod:`~contrastkit.data.mnist`: ``load_mnist`` (float32 images [N, 1, 28, 28] in [0, 1], int64
  labels, checksummed), ``download_mnist`` (``python -m contrastkit.data download``), ``MNISTData``.
- :mod:`~contrastkit.data.sampling`: ``PairDataset`` and ``TripletDataset`` (fixed, reproducible pairs
  and triplets) and ``ClassBalancedBatchSampler`` (P classes × K samples per batch, for online mining).
"""

from contrastkit.data.mnist import (
    MNIST_MD5,
    DataIntegrityError,
    DownloadError,
    MNISTData,
    download_mnist,
    load_mnist,
    read_idx,
    sample_split,
)
from contrastkit.data.sampling import ClassBalancedBatchSampler, PairDataset, TripletDataset

__all__ = [
    "MNIST_MD5",
    "ClassBalancedBatchSampler",
    "DataIntegrityError",
    "DownloadError",
    "MNISTData",
    "PairDataset",
    "TripletDataset",
    "download_mnist",
    "load_mnist",
    "read_idx",
    "sample_split",
]
