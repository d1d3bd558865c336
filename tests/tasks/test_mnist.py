from __future__ import annotations

import gzip
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.tasks import TaskOptions, build_task, pmnist_permutation, read_idx
from rnnlab.tasks import mnist as mnist_module
from rnnlab.tasks.base import Batch
from rnnlab.tasks.download import file_digest
from rnnlab.tasks.idx import IDX_IMAGES, IDX_LABELS
from rnnlab.tasks.mnist import PermutedMNISTTask, SequentialMNISTTask

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
T10K_IMAGES_GZ_SHA256 = "9fe7630f90c0e670227960a294637bc2e78a29d724810e24204eb342c9f033a1"


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    header = magic.to_bytes(4, "big") + np.array(array.shape, dtype=">i4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_mnist(folder: Path, prefix: str, n: int, seed: int, gz: bool = False) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, IDX_IMAGES)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, IDX_LABELS)


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    assert "\n" not in str(e.value)
    return str(e.value)


def row_keys(*batches: Batch) -> Counter[bytes]:
    return Counter(
        b.x[i].numpy().tobytes() + bytes([int(b.y[i])]) for b in batches for i in range(len(b))
    )


# -- IDX parsing ----------------------------------------------------------------------------
def test_read_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    for name in ("a.idx", "a.idx.gz"):
        got = read_idx(write_idx(tmp_path / name, images, IDX_IMAGES), IDX_IMAGES)
        assert got.shape == (2, 28, 28) and got.dtype == np.uint8
        assert np.array_equal(got, images)


def test_read_idx_rejects_corrupt_files(tmp_path: Path) -> None:
    labels = write_idx(tmp_path / "labels", np.arange(10), IDX_LABELS)
    with pytest.raises(ValueError, match="magic number 2049, expected 2051") as e:
        read_idx(labels, IDX_IMAGES)
    assert "labels" in one_line(e)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(labels.read_bytes()[:-3])
    with pytest.raises(ValueError, match="15 bytes, expected 18") as e:
        read_idx(truncated, IDX_LABELS)
    assert "truncated" in one_line(e)
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="expected an IDX header"):
        read_idx(short, IDX_LABELS)
    bad_gz = tmp_path / "bad.gz"
    bad_gz.write_bytes(gzip.compress(labels.read_bytes())[:-8])
    with pytest.raises(ValueError, match="gzip") as e:
        read_idx(bad_gz, IDX_LABELS)
    assert "bad.gz" in one_line(e)


# -- folders and splits (synthetic files) ---------------------------------------------------
def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--download") as e:
        SequentialMNISTTask(data=str(tmp_path / "nowhere"))
    assert "nowhere" in one_line(e) and "t10k-images-idx3-ubyte" in str(e.value)
    write_mnist(tmp_path, "t10k", 20, seed=0)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte not found") as e:
        SequentialMNISTTask(data=str(tmp_path))
    assert str(tmp_path) in one_line(e)


def test_full_training_set_split(tmp_path: Path) -> None:
    write_mnist(tmp_path, "train", 60, seed=1)
    write_mnist(tmp_path, "t10k", 20, seed=2, gz=True)
    task = SequentialMNISTTask(data=str(tmp_path), seed=5)
    train, val, test = (task.split(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (30, 30, 20)  # val: min(5000, half)
    assert "standard test set" in task.note
    assert torch.equal(test.y, torch.arange(20) % 10)  # the t10k files, in order
    images = read_idx(tmp_path / "train-images-idx3-ubyte", IDX_IMAGES)
    full = Batch(torch.tensor(images.reshape(60, 784, 1) / 255.0, dtype=torch.float32),
                 torch.arange(60) % 10)  # fmt: skip
    assert row_keys(train, val) == row_keys(full)


def test_fallback_split_warns(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 100, seed=3)
    with pytest.warns(UserWarning, match="training files not found"):
        task = build_task("smnist", TaskOptions(data=str(tmp_path)))
    assert "10k test set" in task.note and "not comparable" in task.note
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [72, 8, 20]


def test_registry_options(tmp_path: Path) -> None:
    write_mnist(tmp_path, "t10k", 20, seed=0)
    with pytest.warns(UserWarning):
        task = build_task("pmnist", TaskOptions(data=str(tmp_path), cache_dir=str(tmp_path)))
    assert isinstance(task, PermutedMNISTTask)
    assert task.options() == {"data": str(tmp_path), "cache_dir": str(tmp_path)}
    assert task.defaults["model"] == "lstm" and task.defaults["eval_every"] == 500
    with pytest.raises(ValueError, match="does not apply"):
        build_task("smnist", TaskOptions(T=5))


def test_pmnist_permutation_fixed_bijection() -> None:
    perm = pmnist_permutation()
    assert perm.shape == (784,) and perm.dtype == np.int64
    assert np.array_equal(np.sort(perm), np.arange(784))
    assert np.array_equal(perm, pmnist_permutation())
    assert perm[:6].tolist() == PERM_HEAD  # pinned: changing it would invalidate checkpoints


PERM_HEAD = [426, 273, 97, 750, 6, 291]


# -- the real 10k test set (shared/data/mnist) ---------------------------------------------
def test_real_test_set_labels_and_pixels(mnist_dir: Path) -> None:
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz", IDX_LABELS)
    assert np.bincount(labels).tolist() == TEST_COUNTS
    with pytest.warns(UserWarning, match="training files not found"):
        task = SequentialMNISTTask(data=str(mnist_dir), seed=0)
    splits = [task.split(s) for s in ("train", "val", "test")]
    assert [len(b) for b in splits] == [7200, 800, 2000]
    for b in splits:
        assert b.x.shape[1:] == (784, 1) and b.x.dtype == torch.float32
        assert b.y.dtype == torch.int64 and b.lengths is None
    x = torch.cat([b.x for b in splits])
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    counts = torch.bincount(torch.cat([b.y for b in splits]), minlength=10)
    assert counts.tolist() == TEST_COUNTS  # a partition of the 10k
    assert task.input_size == 1 and task.output_size == 10 and task.baseline == 0.1

    with pytest.warns(UserWarning):
        other = SequentialMNISTTask(data=str(mnist_dir), seed=1)
    assert torch.equal(other.split("test").x, task.split("test").x)  # fixed test split
    assert not torch.equal(other.split("val").y, task.split("val").y)  # val follows seed
    assert row_keys(*splits) == row_keys(*(other.split(s) for s in ("train", "val", "test")))
    assert sum(row_keys(*splits).values()) == 10000

    with pytest.warns(UserWarning):
        permuted = PermutedMNISTTask(data=str(mnist_dir), seed=0)
    perm = torch.from_numpy(pmnist_permutation())
    for s in ("train", "val", "test"):
        assert torch.equal(permuted.split(s).x, task.split(s).x[:, perm])
        assert torch.equal(permuted.split(s).y, task.split(s).y)


def test_download_end_to_end(
    tmp_path: Path,
    mnist_dir: Path,
    serve: Callable[[Path], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    www = tmp_path / "www"  # a copy, so the server cannot touch the shared folder
    www.mkdir()
    for name in names:
        shutil.copy(mnist_dir / name, www / name)
    monkeypatch.setattr(mnist_module, "MNIST_URL", serve(www))
    monkeypatch.setattr(mnist_module, "MNIST_MD5", {n: file_digest(www / n, "md5") for n in names})
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match="training files not found"):
        task = build_task("smnist", TaskOptions(download=True, cache_dir=str(cache)))
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == names
    assert file_digest(cache / "mnist" / names[0]) == T10K_IMAGES_GZ_SHA256
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [7200, 800, 2000]
    assert task.options() == {"download": True, "cache_dir": str(cache)}

    monkeypatch.setattr(mnist_module, "MNIST_URL", "http://127.0.0.1:9/")  # nothing to fetch
    with pytest.warns(UserWarning):
        again = build_task("smnist", TaskOptions(download=True, cache_dir=str(cache)))
    assert torch.equal(again.split("test").x, task.split("test").x)

    monkeypatch.setattr(mnist_module, "MNIST_MD5", {names[0]: "0" * 32, "extra.gz": "0" * 32})
    with pytest.raises(OSError, match=r"extra\.gz"):
        build_task("smnist", TaskOptions(download=True, cache_dir=str(cache)))
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == names
