"""MNIST-1D (Greydanus 2020): ten 1-D digit templates, padded, sheared, shifted and noised.

The data are generated offline by the ``mnist1d`` package with its default arguments
(``seed=42``, 5000 sequences of length 40, the first 4000 for training and the last 1000
for testing), which reproduces the published dataset without downloading it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import random
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from rnnlab.tasks.base import Batch, DatasetTask
from rnnlab.tasks.download import cache_root, save_npz_atomic
from rnnlab.tasks.splits import VAL_STREAM, describe_sizes, hold_out

MNIST1D_SEED = 42  # the mnist1d package's default, which gives the published dataset
MNIST1D_LENGTH = 40
MNIST1D_CLASSES = 10
VAL_FRACTION = 0.1  # of the 4000 training sequences

_ARRAY_KEYS = ("x", "y", "x_test", "y_test")
_IN_MEMORY: dict[int, dict[str, np.ndarray]] = {}  # seed -> arrays, one copy per process


def generate_mnist1d(seed: int = MNIST1D_SEED) -> dict[str, np.ndarray]:
    """Generate MNIST-1D with ``mnist1d.data.make_dataset`` and its default arguments.

    Returns ``x (4000, 40)`` float32, ``y (4000,)`` int64, ``x_test (1000, 40)``,
    ``y_test (1000,)``. ``make_dataset`` reseeds the global ``numpy`` and ``random``
    generators; their states are saved and restored around it. Takes about a second.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (matplotlib)

    args = get_dataset_args()
    args.seed = seed
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }


def _cache_file(cache_dir: str | os.PathLike[str] | None, seed: int) -> Path:
    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return cache_root(cache_dir) / "mnist1d" / f"mnist1d-{version}-seed{seed}.npz"


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in _ARRAY_KEYS}
    except (OSError, KeyError, ValueError):
        return None  # missing or unreadable: regenerate
    return arrays


def load_mnist1d(
    cache_dir: str | os.PathLike[str] | None = None, seed: int = MNIST1D_SEED
) -> dict[str, np.ndarray]:
    """MNIST-1D arrays (see :func:`generate_mnist1d`), cached in memory per process and on
    disk as ``<cache_dir>/mnist1d/mnist1d-<version>-seed<seed>.npz``.

    A cache folder that cannot be written is skipped silently. The arrays are read-only.
    """
    if seed not in _IN_MEMORY:
        path = _cache_file(cache_dir, seed)
        arrays = _read_cache(path)
        if arrays is None:
            arrays = generate_mnist1d(seed)
            with contextlib.suppress(OSError):  # a read-only cache costs regeneration next time
                save_npz_atomic(path, arrays)
        for a in arrays.values():
            a.flags.writeable = False
        _IN_MEMORY[seed] = arrays
    return _IN_MEMORY[seed]


def _batch(x: np.ndarray, y: np.ndarray) -> Batch:
    return Batch(torch.tensor(x).unsqueeze(-1), torch.tensor(y))  # x (N, 40, 1), y (N,)


class MNIST1DTask(DatasetTask):
    """MNIST-1D classification: a length-40 univariate sequence to one of 10 digits.

    Splits: ``test`` is the dataset's 1000 test sequences; ``val`` is 10% (400) of the
    4000 training sequences, held out by a permutation seeded with ``seed``; training
    epochs are shuffled over the remaining 3600. Metric: accuracy (chance 0.1).
    """

    name: ClassVar[str] = "mnist1d"
    description: ClassVar[str] = "MNIST-1D: classify 40-step 1-D digit signals (Greydanus 2020)"
    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=128,
        num_layers=2,
        batch_size=64,
        steps=4000,
        lr=2e-3,
        optimizer="adamw",
        weight_decay=1e-2,
        clip=1.0,
        eval_every=250,
        schedule="cosine",
    )

    def __init__(self, cache_dir: str | None = None, seed: int = 0) -> None:
        self.cache_dir = cache_dir
        self.seed = seed
        self.kind = "classify"
        self.input_size = 1
        self.output_size = MNIST1D_CLASSES
        self.main_metric = "accuracy"
        self.higher_is_better = True
        self.baseline = 1.0 / MNIST1D_CLASSES
        arrays = load_mnist1d(cache_dir)
        full = _batch(arrays["x"], arrays["y"])
        train, val = hold_out(full, round(len(full) * VAL_FRACTION), seed, VAL_STREAM)
        test = _batch(arrays["x_test"], arrays["y_test"])
        self._set_data(train, val, test)
        self.note = (
            f"MNIST-1D ({describe_sizes(train, val, test)}): val held out of the 4000 "
            f"training sequences with seed {seed}; test is the standard 1000"
        )

    def options(self) -> dict[str, Any]:
        return {} if self.cache_dir is None else {"cache_dir": self.cache_dir}
