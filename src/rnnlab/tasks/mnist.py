"""Sequential and permuted MNIST (Le, Jaitly & Hinton 2015): a 28x28 digit read one pixel
per step, 784 steps of one feature, classified after the last step.

The data are the four standard IDX files, read from a local folder (``data``) or from the
download cache ``<cache_dir>/mnist``, where ``download=True`` fetches them from
:data:`MNIST_URL` with the checksums of :data:`MNIST_MD5`.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from rnnlab.tasks.base import Batch, DatasetTask
from rnnlab.tasks.download import cache_root, fetch
from rnnlab.tasks.idx import IDX_IMAGES, IDX_LABELS, read_idx
from rnnlab.tasks.splits import (
    TEST_SPLIT_SEED,
    TEST_STREAM,
    VAL_STREAM,
    describe_sizes,
    hold_out,
)

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {  # the original gzipped files; download fetches exactly the files listed here
    f"{TRAIN_IMAGES}.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    f"{TRAIN_LABELS}.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    f"{TEST_IMAGES}.gz": "9fb629c4189551a2d022fa330f9573f3",
    f"{TEST_LABELS}.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

SIDE = 28
PIXELS = SIDE * SIDE
CLASSES = 10
MNIST_VAL = 5000  # held out of the 60000 training images
FALLBACK_TEST_FRACTION = 0.2  # without training files: the 10k test set split 8000/2000
FALLBACK_VAL_FRACTION = 0.1  # of the 8000
PMNIST_SEED = 1234  # fixes the pMNIST pixel permutation for every run


def pmnist_permutation() -> np.ndarray:
    """The fixed pMNIST pixel order, ``(784,)`` int64: step ``t`` shows pixel ``perm[t]``.

    A Fisher-Yates shuffle of ``0..783`` driven by ``random.Random(PMNIST_SEED).random()``,
    whose stream Python keeps stable across versions, so the permutation never changes
    with the run's seed or with library versions. (Papers each use their own permutation,
    so pMNIST numbers are comparable only up to that choice.)
    """
    rng = random.Random(PMNIST_SEED)
    perm = list(range(PIXELS))
    for i in range(PIXELS - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_error(folder: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"MNIST {what} in {folder}: expected {TEST_IMAGES} and {TEST_LABELS} "
        f"(and {TRAIN_IMAGES}, {TRAIN_LABELS} for the full training set), each optionally "
        f".gz; pass --download to fetch them"
    )


def download_mnist(
    folder: str | Path, base_url: str | None = None, md5: dict[str, str] | None = None
) -> Path:
    """Fetch into ``folder`` each gzipped MNIST file of ``md5`` (default :data:`MNIST_MD5`)
    that is not there yet, from ``base_url`` (default :data:`MNIST_URL`)."""
    folder = Path(folder).expanduser()
    base_url = MNIST_URL if base_url is None else base_url
    md5 = MNIST_MD5 if md5 is None else md5
    for name, checksum in md5.items():
        if _find(folder, name.removesuffix(".gz")) is None:
            fetch(base_url + name, folder / name, md5=checksum)
    return folder


def mnist_folder(data: str | None, download: bool, cache_dir: str | None) -> Path:
    """Where the MNIST files are: ``data`` if given, else ``<cache_dir>/mnist``; with
    ``download``, missing files are fetched into ``<cache_dir>/mnist``, which is returned."""
    cache = cache_root(cache_dir) / "mnist"
    folder = Path(data).expanduser() if data is not None else cache
    if download and any(_find(folder, n.removesuffix(".gz")) is None for n in MNIST_MD5):
        return download_mnist(cache)
    return folder


def read_mnist(folder: Path, images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` and labels ``(N,)`` (uint8) from one pair of IDX files."""
    image_path, label_path = _find(folder, images), _find(folder, labels)
    if image_path is None or label_path is None:
        missing = images if image_path is None else labels
        raise _missing_error(folder, f"file {missing} not found")
    x = read_idx(image_path, IDX_IMAGES)
    y = read_idx(label_path, IDX_LABELS)
    if x.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"{image_path}: images of {x.shape[1:]} pixels, expected (28, 28)")
    if len(x) != len(y):
        raise ValueError(f"{label_path}: {len(y)} labels, expected {len(x)} like {image_path}")
    if len(y) and int(y.max()) >= CLASSES:
        raise ValueError(f"{label_path}: label {int(y.max())}, expected 0..9")
    return x, y


def mnist_batch(images: np.ndarray, labels: np.ndarray, permutation: np.ndarray | None) -> Batch:
    """``x (N, 784, 1)`` = pixel / 255 in row-major order (or ``permutation`` order)."""
    x = images.reshape(len(images), PIXELS).astype(np.float32)
    x /= 255.0
    if permutation is not None:
        x = x[:, permutation]
    return Batch(torch.from_numpy(x).unsqueeze(-1), torch.from_numpy(labels.astype(np.int64)))


class SequentialMNISTTask(DatasetTask):
    """Sequential MNIST: classify a digit from its 784 pixels, one per step (row-major).

    Splits, with the training files: train = 55000 of the 60000 training images, ``val``
    the other 5000 (held out with ``seed``; half of a smaller training file), ``test`` the
    standard 10000. With only the
    ``t10k`` files, a warning is issued and the 10000 are split into a fixed 2000 ``test``
    (constant seed, 20%) and 8000, of which 10% (800, with ``seed``) is ``val``; ``note``
    says which split was used. Metric: accuracy (chance 0.1).
    """

    name: ClassVar[str] = "smnist"
    description: ClassVar[str] = "sequential MNIST: classify a digit read one pixel per step (784)"
    permute: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = dict(
        model="lstm",
        hidden_size=128,
        num_layers=1,
        batch_size=64,
        steps=4000,
        lr=1e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=500,
    )

    def __init__(
        self,
        data: str | None = None,
        download: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        self.data, self.download, self.cache_dir = data, download, cache_dir
        self.seed = seed
        self.kind = "classify"
        self.input_size = 1
        self.output_size = CLASSES
        self.main_metric = "accuracy"
        self.higher_is_better = True
        self.baseline = 1.0 / CLASSES

        folder = mnist_folder(data, download, cache_dir)
        if not folder.is_dir():
            raise _missing_error(folder, "folder not found")
        perm = pmnist_permutation() if self.permute else None
        test = mnist_batch(*read_mnist(folder, TEST_IMAGES, TEST_LABELS), perm)
        if _find(folder, TRAIN_IMAGES) or _find(folder, TRAIN_LABELS):
            full = mnist_batch(*read_mnist(folder, TRAIN_IMAGES, TRAIN_LABELS), perm)
            train, val = hold_out(full, min(MNIST_VAL, len(full) // 2), seed, VAL_STREAM)
            self.note = (
                f"MNIST from {folder} ({describe_sizes(train, val, test)}): val held out "
                f"of the training images with seed {seed}; test is the standard test set"
            )
        else:
            n_test = round(len(test) * FALLBACK_TEST_FRACTION)
            rest, test = hold_out(test, n_test, TEST_SPLIT_SEED, TEST_STREAM)
            n_val = round(len(rest) * FALLBACK_VAL_FRACTION)
            train, val = hold_out(rest, n_val, seed, VAL_STREAM)
            self.note = (
                f"MNIST training files not found in {folder}: using only the 10k test set, "
                f"split {describe_sizes(train, val, test)} (fixed test, val with seed {seed});"
                f" scores are not comparable with published {self.name} results"
            )
            warnings.warn(self.note, UserWarning, stacklevel=2)
        self._set_data(train, val, test)

    def options(self) -> dict[str, Any]:
        given = {"data": self.data, "download": self.download, "cache_dir": self.cache_dir}
        return {k: v for k, v in given.items() if v not in (None, False)}


class PermutedMNISTTask(SequentialMNISTTask):
    """Permuted MNIST: sequential MNIST with the pixels in the fixed order of
    :func:`pmnist_permutation`, which spreads each stroke over the whole sequence."""

    name: ClassVar[str] = "pmnist"
    description: ClassVar[str] = "permuted MNIST: sequential MNIST with a fixed pixel permutation"
    permute: ClassVar[bool] = True
