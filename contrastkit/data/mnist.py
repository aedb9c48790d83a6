"""MNIST: the bundled offline sample, the full set on demand, checksums, download.

``load_mnist`` is the one entry point: it returns tensors ready for training (float32 images in
[0, 1] of shape [N, 1, 28, 28], int64 labels). The repository ships the genuine MNIST test set
(10,000 digits) in ``data/mnist-sample/``; ``python -m contrastkit.data download`` (``make data``)
fetches the full 60,000/10,000 set through torchvision.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import math
import shutil
import socket
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from contrastkit._checks import check_positive

__all__ = [
    "MNIST_MD5",
    "DataIntegrityError",
    "DownloadError",
    "MNISTData",
    "download_mnist",
    "load_mnist",
    "read_idx",
    "sample_split",
]

#: MD5 sums of the published MNIST files, as torchvision lists them.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SAMPLE_DIR = "mnist-sample"
FULL_DIR = Path("MNIST") / "raw"  # torchvision's layout under root
SAMPLE_TEST_SIZE = 2000
DOWNLOAD_TIMEOUT_S = 15.0


class DataIntegrityError(RuntimeError):
    """A data file is missing, corrupt or truncated."""


class DownloadError(RuntimeError):
    """The full MNIST could not be downloaded."""


@dataclass(frozen=True)
class MNISTData:
    """A train/test split of MNIST as tensors.

    Attributes:
        x_train: float32 [N, 1, 28, 28], values in [0, 1].
        y_train: int64 [N], digits 0-9.
        x_test: float32 [M, 1, 28, 28].
        y_test: int64 [M].
        source: "sample" (the bundled 8,000/2,000 split) or "full" (60,000/10,000).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str

    def __repr__(self) -> str:
        return f"MNISTData(source={self.source!r}, train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)})"

    def subset(self, n_train: int, n_test: int | None = None, seed: int = 0) -> MNISTData:
        """A smaller, class-stratified copy (same proportions of digits), for quick runs and tests.

        Args:
            n_train: number of training images to keep (at most ``len(x_train)``).
            n_test: number of test images to keep; None keeps all of them.
            seed: which random subset.
        """
        n_test = len(self.y_test) if n_test is None else n_test
        for name, n, total in (("n_train", n_train, len(self.y_train)), ("n_test", n_test, len(self.y_test))):
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total:
                raise ValueError(f"{name} must be an integer in [1, {total}], got {n!r}")
        gen = np.random.default_rng(seed)
        tr = _stratified_pick(self.y_train.numpy(), n_train, gen)
        te = _stratified_pick(self.y_test.numpy(), n_test, gen)
        return MNISTData(self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te], self.source)


def _stratified_pick(labels: np.ndarray, n: int, gen: np.random.Generator) -> torch.Tensor:
    order = gen.permutation(len(labels))
    counts = _largest_remainder(np.bincount(labels[order]), n)
    picked = np.concatenate([order[labels[order] == c][:k] for c, k in enumerate(counts)])
    return torch.from_numpy(np.sort(picked))


def _largest_remainder(class_counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` across classes in proportion to ``class_counts``, summing exactly to ``n``."""
    exact = class_counts * n / class_counts.sum()
    take = np.floor(exact).astype(np.int64)
    # hand the leftover units to the largest fractional parts (ties: lower class id first)
    order = np.lexsort((np.arange(len(exact)), -(exact - take)))
    take[order[: n - int(take.sum())]] += 1
    return take


def md5sum(path: Path) -> str:
    """MD5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _restore_hint(path: Path) -> str:
    if path.parent.name == SAMPLE_DIR:
        return "restore the bundled copy with `git checkout -- data/mnist-sample`"
    return "delete it and download again with `make data` (python -m contrastkit.data download)"


def verify_file(path: Path) -> None:
    """Raise ``DataIntegrityError`` unless ``path`` exists and has its published MD5 sum."""
    expected = MNIST_MD5[path.name]
    if not path.is_file():
        raise DataIntegrityError(f"{path} is missing (expected MD5 {expected}); {_restore_hint(path)}")
    actual = md5sum(path)
    if actual != expected:
        raise DataIntegrityError(
            f"{path} is corrupt or truncated: MD5 {actual}, expected {expected}; {_restore_hint(path)}"
        )


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzip-compressed) IDX file into a uint8 array, checking its header against its size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: a corrupt compressed stream
        raise DataIntegrityError(f"{path} cannot be read ({err}); {_restore_hint(path)}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataIntegrityError(f"{path} is not an unsigned-byte IDX file; {_restore_hint(path)}")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataIntegrityError(f"{path} is truncated inside its header; {_restore_hint(path)}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) - offset != math.prod(dims):  # Python ints: a corrupt header cannot overflow
        raise DataIntegrityError(f"{path} is truncated: header says {dims}, got {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _load_pair(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images_path = folder / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = folder / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        verify_file(path)
    images = read_idx(images_path)  # [N, 28, 28] uint8
    labels = read_idx(labels_path)  # [N] uint8
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # [N, 1, 28, 28]
    y = torch.from_numpy(labels.astype(np.int64))  # [N]
    return x, y


def sample_split(labels: np.ndarray, test_size: int = SAMPLE_TEST_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of the bundled sample, with no random number generator.

    Each class gets its share of ``test_size`` (largest-remainder rounding, so the total is exact)
    taken at evenly spaced positions among that class's images, so the split is the same on every
    call, machine and library version.

    Returns:
        ``(train_idx, test_idx)``, sorted int64 index arrays.
    """
    counts = np.bincount(labels, minlength=10)
    per_class = _largest_remainder(counts, test_size)
    test_idx = []
    for c, k in enumerate(per_class):
        members = np.flatnonzero(labels == c)
        positions = ((np.arange(k) * 2 + 1) * len(members)) // (2 * k)  # centres of k equal slices
        test_idx.append(members[positions])
    test = np.sort(np.concatenate(test_idx))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def _full_present(root: Path) -> bool:
    return all((root / FULL_DIR / name).is_file() for name in MNIST_MD5)


def load_mnist(root: str | Path = "data", source: str = "auto", verbose: bool = True) -> MNISTData:
    """Load MNIST as tensors.

    Args:
        root: the data folder (the repository's ``data/``). A relative path that does not exist
            from the working directory is also looked up from the repository root, so notebooks in
            ``notebooks/`` find ``data/`` too.
        source: "sample" for the bundled 10,000 digits split 8,000 train / 2,000 test (stratified,
            identical everywhere); "full" for the 60,000/10,000 MNIST under ``root/MNIST/raw``
            (torchvision's layout, from ``make data``); "auto" for the full set when present, else
            the sample, printing one line that says which.
        verbose: print that line in "auto" mode.

    Returns:
        ``MNISTData`` with x_train float32 [N, 1, 28, 28] in [0, 1], y_train int64 [N], x_test,
        y_test and ``source``.

    Raises:
        DataIntegrityError: a file is missing, corrupt or truncated (the message names the file,
            the expected checksum and how to restore it).
    """
    if source not in ("auto", "sample", "full"):
        raise ValueError(f"source must be 'auto', 'sample' or 'full', got {source!r}")
    root = _resolve_root(Path(root))
    if source == "auto":
        source = "full" if _full_present(root) else "sample"
        if verbose:
            if source == "full":
                print(
                    f"contrastkit: using the full MNIST (60,000/10,000) from {root / FULL_DIR}; "
                    "pass source='sample' for the bundled 8,000/2,000 sample"
                )
            else:
                print(
                    "contrastkit: using the bundled MNIST sample (8,000 train / 2,000 test); "
                    "run `make data` for the full 60,000/10,000 set"
                )
    if source == "full":
        if not _full_present(root):
            missing = [n for n in MNIST_MD5 if not (root / FULL_DIR / n).is_file()]
            raise DataIntegrityError(
                f"the full MNIST is not in {root / FULL_DIR} (missing {', '.join(missing)}); "
                "get it with `make data` (python -m contrastkit.data download) or use source='sample'"
            )
        x_train, y_train = _load_pair(root / FULL_DIR, "train")
        x_test, y_test = _load_pair(root / FULL_DIR, "t10k")
        return MNISTData(x_train, y_train, x_test, y_test, "full")
    x, y = _load_pair(root / SAMPLE_DIR, "t10k")
    train_idx, test_idx = sample_split(y.numpy())
    tr, te = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return MNISTData(x[tr], y[tr], x[te], y[te], "sample")


def _resolve_root(root: Path) -> Path:
    if root.is_absolute() or (root / SAMPLE_DIR).is_dir() or _full_present(root):
        return root
    repo_root = Path(__file__).resolve().parents[2]  # contrastkit/data/mnist.py -> the repository
    candidate = repo_root / root
    return candidate if candidate.is_dir() else root


def download_mnist(root: str | Path = "data", timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the full MNIST with torchvision into ``root/MNIST/raw`` and verify it.

    Downloads into a temporary folder inside ``root`` and moves the finished, verified files into
    place, so an interrupted or failed download leaves nothing half-written. Without a network it
    fails within about ``timeout`` seconds.

    Returns:
        The folder holding the raw files.

    Raises:
        DownloadError: the download failed (no network, server error, bad checksum).
    """
    timeout = check_positive("timeout", timeout)  # before anything is created
    root = _resolve_root(Path(root))
    if root.exists() and not root.is_dir():
        raise DownloadError(f"--root {root} is a file, not a folder; pass the data folder (default: data)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create the data folder {root} ({err})") from err
    from torchvision.datasets import MNIST  # imported here: torchvision is slow to import

    final = root / FULL_DIR
    if _full_present(root):
        for name in MNIST_MD5:
            verify_file(final / name)
        print(f"contrastkit: the full MNIST is already in {final}")
        return final
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # torchvision's urllib calls have no timeout of their own
    try:
        try:
            MNIST(str(tmp), train=True, download=True)
            MNIST(str(tmp), train=False, download=True)
        except Exception as err:  # torchvision raises RuntimeError/URLError/OSError depending on the mirror
            reason = " ".join(str(err).split())  # torchvision's message spans several lines
            raise DownloadError(
                f"could not download MNIST ({type(err).__name__}: {reason}). Check your internet connection "
                "and try `make data` again; meanwhile load_mnist(source='sample') uses the bundled "
                "8,000/2,000 sample."
            ) from err
        got = tmp / FULL_DIR
        for name in MNIST_MD5:
            try:
                verify_file(got / name)
            except DataIntegrityError as err:
                raise DownloadError(f"downloaded file failed its checksum: {err}") from err
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        shutil.move(str(got), str(final))
    finally:
        socket.setdefaulttimeout(old_timeout)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"contrastkit: downloaded the full MNIST (60,000/10,000) into {final}")
    return final


def main(argv: list[str] | None = None) -> int:
    """``python -m contrastkit.data download [--root data]``; ``... verify`` checks the files."""
    parser = argparse.ArgumentParser(prog="python -m contrastkit.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="download the full MNIST (60,000/10,000) through torchvision")
    dl.add_argument("--root", default="data", help="data folder (default: data)")
    dl.add_argument("--timeout", type=float, default=DOWNLOAD_TIMEOUT_S, help="network timeout in seconds")
    ver = sub.add_parser("verify", help="check the checksums of the bundled sample (and the full set if present)")
    ver.add_argument("--root", default="data")
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            download_mnist(args.root, timeout=args.timeout)
        else:
            for source in ("sample", "full") if _full_present(_resolve_root(Path(args.root))) else ("sample",):
                d = load_mnist(args.root, source=source)
                print(f"{source}: OK, train {tuple(d.x_train.shape)}, test {tuple(d.x_test.shape)}")
    except (DownloadError, DataIntegrityError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
