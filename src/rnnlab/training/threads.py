"""How many threads torch's CPU kernels use while rnnlab trains.

The matrices of a recurrent step are small: a second intra-op thread buys little on a
quiet machine and, on a machine whose cores are shared, threads that wait on each other
are descheduled and a step collapses. Measured on a 2-core machine (2x128 GRU, batch 100,
T=40, one training step): 53 ms with one thread and 41 ms with two when quiet; with two
other CPU-bound processes running, 84 ms with one thread and 131 ms to 6,700 ms with two
(`benchmarks/RESULTS.md`). So unless the user chose (``--threads N`` / ``TrainConfig.threads``,
``OMP_NUM_THREADS``, which ``torchrun`` sets to 1 per process, or ``torch.set_num_threads``
after importing rnnlab), training on the CPU uses one thread. The choice and where it came
from are recorded in the run's ``config.json`` and ``summary.json`` (``threads``), and the
caller's setting is restored when training returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_AT_IMPORT = torch.get_num_threads()  # a different count at training time: the caller's


def choose_threads(requested: int | None, device: torch.device) -> tuple[int, str]:
    """``(threads, source)`` for training on ``device``; see the module docstring."""
    if requested is not None:
        return requested, "threads option"
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    if torch.get_num_threads() != _AT_IMPORT:
        return torch.get_num_threads(), "torch.set_num_threads"
    if device.type != "cpu":
        return torch.get_num_threads(), "torch default (accelerator run)"
    return 1, "rnnlab default for CPU training"


@contextmanager
def training_threads(requested: int | None, device: torch.device) -> Iterator[dict[str, object]]:
    """Set the chosen intra-op thread count inside, restore the caller's after; yields
    ``{"intra_op": n, "source": ...}`` for the run's records."""
    threads, source = choose_threads(requested, device)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield {"intra_op": threads, "source": source}
    finally:
        torch.set_num_threads(before)
