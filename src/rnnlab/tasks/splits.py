"""Seeded hold-out splits of fixed arrays, shared by the dataset tasks.

Convention used by every dataset task: a ``test`` split carved out of user or fallback
data is drawn with the constant :data:`TEST_SPLIT_SEED`, so runs with different seeds are
scored on the same test set; the ``val`` split is drawn with the run's seed.
"""

from __future__ import annotations

import torch

from rnnlab.tasks.base import Batch, task_generator

TEST_SPLIT_SEED = 0  # fixes every carved-out test split, whatever the run's seed
VAL_STREAM = 10  # task_generator stream ids; DatasetTask's training stream is (1, epoch)
TEST_STREAM = 11


def hold_out(batch: Batch, n_out: int, seed: int, stream: int) -> tuple[Batch, Batch]:
    """Split ``batch`` into ``(rest, held)`` with ``held`` = ``n_out`` rows chosen by a
    permutation drawn from ``task_generator(seed, stream)``; both keep the original order.
    """
    n = len(batch)
    if not 0 <= n_out <= n:
        raise ValueError(f"cannot hold out {n_out} of {n} rows; expected 0..{n}")
    order = torch.randperm(n, generator=task_generator(seed, stream))
    held = order[:n_out].sort().values
    rest = order[n_out:].sort().values
    return batch.rows(rest), batch.rows(held)


def describe_sizes(train: Batch, val: Batch, test: Batch) -> str:
    """``"train 3600, val 400, test 1000"``."""
    return f"train {len(train)}, val {len(val)}, test {len(test)}"
