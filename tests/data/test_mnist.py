"""The bundled MNIST sample, its split, checksums, and the download path (with a fake network)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import contrastkit as ck
import contrastkit.data
from contrastkit.data import mnist as ckdata
from contrastkit.data.mnist import DataIntegrityError, read_idx

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "mnist-sample"


@pytest.fixture(scope="module")
def sample() -> ckdata.MNISTData:
    return ckdata.load_mnist(REPO / "data", source="sample")


def test_bundled_files_match_torchvision_md5() -> None:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert ckdata.md5sum(SAMPLE / name) == ckdata.MNIST_MD5[name]
    listed = dict(line.split()[::-1] for line in (SAMPLE / "MD5SUMS").read_text().splitlines())
    assert listed == {k: v for k, v in ckdata.MNIST_MD5.items() if k.startswith("t10k")}


def test_sample_shapes_dtypes_range(sample: ckdata.MNISTData) -> None:
    assert sample.source == "sample"
    assert sample.x_train.shape == (8000, 1, 28, 28) and sample.x_test.shape == (2000, 1, 28, 28)
    assert sample.y_train.shape == (8000,) and sample.y_test.shape == (2000,)
    assert sample.x_train.dtype == torch.float32 and sample.y_train.dtype == torch.int64
    for x in (sample.x_train, sample.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert set(sample.y_train.tolist()) == set(range(10)) == set(sample.y_test.tolist())


def test_sample_split_is_stratified(sample: ckdata.MNISTData) -> None:
    train_counts = torch.bincount(sample.y_train, minlength=10).numpy()
    test_counts = torch.bincount(sample.y_test, minlength=10).numpy()
    share = test_counts / (train_counts + test_counts)
    assert np.all(np.abs(share - 0.2) < 0.003), share
    # train and test are disjoint and together the whole sample
    train_idx, test_idx = ckdata.sample_split(sample_labels := _raw_labels())
    assert len(np.intersect1d(train_idx, test_idx)) == 0
    assert len(train_idx) + len(test_idx) == len(sample_labels) == 10000


def _raw_labels() -> np.ndarray:
    return ckdata.read_idx(SAMPLE / "t10k-labels-idx1-ubyte.gz").astype(np.int64)


def test_sample_split_is_identical_everywhere(sample: ckdata.MNISTData) -> None:
    again = ckdata.load_mnist(REPO / "data", source="sample")
    assert torch.equal(again.x_train, sample.x_train) and torch.equal(again.y_test, sample.y_test)
    # pinned fingerprint of the split: any change of the split algorithm shows here
    _, test_idx = ckdata.sample_split(_raw_labels())
    assert test_idx[:6].tolist() == [12, 13, 14, 19, 22, 23]
    assert hashlib.sha256(test_idx.astype("<i8").tobytes()).hexdigest()[:16] == SPLIT_FINGERPRINT


# sha256 of the sorted test indices (little-endian int64) of the published split
SPLIT_FINGERPRINT = "79339d8ab0b25cdf"


def test_subset_is_stratified_and_seeded(sample: ckdata.MNISTData) -> None:
    small = sample.subset(500, 100, seed=3)
    assert small.x_train.shape == (500, 1, 28, 28) and small.y_test.shape == (100,)
    assert torch.bincount(small.y_train, minlength=10).min() >= 40
    assert torch.equal(sample.subset(500, 100, seed=3).y_train, small.y_train)
    with pytest.raises(ValueError, match="n_train"):
        sample.subset(0)


def test_auto_uses_sample_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    d = ckdata.load_mnist(REPO / "data", source="auto")
    assert d.source == "sample"
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "sample" in out[0] and "make data" in out[0]


def test_relative_root_is_found_from_another_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # as a notebook in notebooks/ would be
    assert ckdata.load_mnist("data", source="sample", verbose=False).source == "sample"


def test_bad_source() -> None:
    with pytest.raises(ValueError, match="'auto', 'sample' or 'full'"):
        ckdata.load_mnist(source="imagenet")


def _copy_sample(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(SAMPLE, root / "mnist-sample")
    return root


def test_corrupt_file_names_file_checksum_and_fix(tmp_path: Path) -> None:
    root = _copy_sample(tmp_path)
    images = root / "mnist-sample" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(images.read_bytes())
    raw[5000] ^= 0xFF
    images.write_bytes(bytes(raw))
    with pytest.raises(ckdata.DataIntegrityError) as err:
        ckdata.load_mnist(root, source="sample")
    message = str(err.value)
    assert str(images) in message and ckdata.MNIST_MD5[images.name] in message and "git checkout" in message


def test_truncated_file_raises(tmp_path: Path) -> None:
    root = _copy_sample(tmp_path)
    labels = root / "mnist-sample" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:1000])
    with pytest.raises(ckdata.DataIntegrityError, match="corrupt or truncated"):
        ckdata.load_mnist(root, source="sample")


def test_missing_full_set_explains_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ckdata.DataIntegrityError, match="make data"):
        ckdata.load_mnist(_copy_sample(tmp_path), source="full")


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every DNS lookup and connection fails at once, as on a machine without a network."""
    import torchvision.datasets  # noqa: F401 - import before the clock starts

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.usefixtures("no_network")
def test_download_without_network_fails_fast_and_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    start = time.perf_counter()
    with pytest.raises(ckdata.DownloadError, match="internet connection") as err:
        ckdata.download_mnist(root, timeout=2)
    assert time.perf_counter() - start < 10
    assert "sample" in str(err.value)
    assert list(root.iterdir()) == []  # no half-written files left behind


def test_download_cli_reports_error(no_network: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ckdata.main(["download", "--root", str(tmp_path), "--timeout", "2"]) == 1
    assert "could not download MNIST" in capsys.readouterr().err


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    # mtime=0: gzip otherwise stamps the current second into the header, and two writes of the same file
    # on either side of a second boundary would get different checksums
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


class _FakeTorchvisionMNIST:
    """Writes small valid IDX files where torchvision would put the real ones."""

    def __init__(self, root: str, train: bool, download: bool) -> None:
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        prefix, n = ("train", 60) if train else ("t10k", 20)
        rng = np.random.default_rng(n)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def test_download_moves_verified_files_into_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeTorchvisionMNIST)
    scratch = tmp_path / "scratch"
    _FakeTorchvisionMNIST(str(scratch), True, True)
    _FakeTorchvisionMNIST(str(scratch), False, True)
    fake_md5 = {name: ckdata.md5sum(scratch / "MNIST" / "raw" / name) for name in ckdata.MNIST_MD5}
    monkeypatch.setattr(ckdata, "MNIST_MD5", fake_md5)

    root = _copy_sample(tmp_path)
    final = ckdata.download_mnist(root)
    assert final == root / "MNIST" / "raw"
    assert sorted(p.name for p in root.iterdir()) == ["MNIST", "mnist-sample"]  # temp folder gone
    full = ckdata.load_mnist(root, source="auto", verbose=False)
    assert full.source == "full" and full.x_train.shape == (60, 1, 28, 28) and full.x_test.shape == (20, 1, 28, 28)


def test_download_with_bad_checksum_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeTorchvisionMNIST)
    root = _copy_sample(tmp_path)
    with pytest.raises(ckdata.DownloadError, match="checksum"):
        ckdata.download_mnist(root)
    assert sorted(p.name for p in root.iterdir()) == ["mnist-sample"]


def test_package_exposes_helpers() -> None:
    assert ck.__version__ == "0.1.0"
    assert ck.data is contrastkit.data and ck.data.mnist is ckdata
    for name in ("MNISTData", "load_mnist", "download_mnist", "read_idx", "sample_split", "MNIST_MD5"):
        assert getattr(ck.data, name) is getattr(ckdata, name), name
    assert ck.data.DataIntegrityError is ckdata.DataIntegrityError and ck.data.DownloadError is ckdata.DownloadError


def test_python_m_contrastkit_data_runs_the_data_command() -> None:
    """``python -m contrastkit.data`` (``make data``) still reaches the data command line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    verify = subprocess.run(
        [sys.executable, "-m", "contrastkit.data", "verify", "--root", str(REPO / "data")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "sample: OK" in verify.stdout


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_read_idx_reports_corrupt_gzip_and_overflowing_headers(tmp_path) -> None:
    bad_gzip = tmp_path / "x-idx1-ubyte.gz"
    bad_gzip.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    with pytest.raises(DataIntegrityError, match="cannot be read"):
        read_idx(bad_gzip)
    huge = tmp_path / "h-idx3-ubyte"
    huge.write_bytes(bytes([0, 0, 8, 3]) + (0xFFFFFFFF).to_bytes(4, "big") * 3 + b"\x00" * 10)
    with pytest.raises(DataIntegrityError, match="truncated"):
        read_idx(huge)
    short = tmp_path / "s-idx3-ubyte"
    short.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataIntegrityError, match="truncated"):
        read_idx(short)
    packed = tmp_path / "p-idx1-ubyte.gz"
    with gzip.open(packed, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + b"\x01\x02\x03")
    assert read_idx(packed).tolist() == [1, 2, 3]


@pytest.mark.parametrize("timeout", ["-1", "nan", "inf", "0"])
def test_download_refuses_bad_timeouts_before_creating_anything(tmp_path, timeout: str) -> None:
    root = tmp_path / "data"
    out = subprocess.run(
        [sys.executable, "-m", "contrastkit.data", "download", f"--timeout={timeout}", "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1 and "timeout" in out.stderr and "Traceback" not in out.stderr
    assert not root.exists()


def test_download_refuses_a_file_as_root(tmp_path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "contrastkit.data", "download", "--root", str(afile)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1 and "is a file" in out.stderr and "Traceback" not in out.stderr
