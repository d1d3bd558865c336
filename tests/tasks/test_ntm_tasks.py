"""The NTM tasks' layouts (Graves et al. 2014, section 4) and their bit metrics."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.tasks.ntm import (
    BITS,
    MAX_REPEATS,
    NTMCopyTask,
    NTMRecallTask,
    NTMRepeatCopyTask,
    bits_metrics,
)
from rnnlab.tasks.registry import TaskOptions, build_task


def test_copy_layout() -> None:
    task = NTMCopyTask(T=5)
    batch = task.split("val")
    L = 5
    assert batch.x.shape == (500, 2 * L + 1, BITS + 1) and batch.y.shape[-1] == BITS
    assert torch.equal(batch.y[:, L + 1 :], batch.x[:, :L, :BITS])  # written back in order
    assert bool((batch.x[:, L, BITS] == 1).all()) and not bool(batch.x[:, L, :BITS].any())
    assert not bool(batch.x[:, L + 1 :].any())  # nothing to read while writing
    assert torch.equal(batch.mask[0], torch.arange(2 * L + 1) > L)
    assert task.baseline == 4 * L  # half of the 8L scored bits


def test_training_lengths_cover_one_to_t() -> None:
    task = build_task("ntm-copy", TaskOptions(T=4))
    lengths = {(task.train_batch(step, 2).x.shape[1] - 1) // 2 for step in range(60)}
    assert lengths == {1, 2, 3, 4}


def test_repeat_copy_layout() -> None:
    task = NTMRepeatCopyTask(T=3)
    batch = task.split("val")
    L = 3
    assert batch.lengths is not None
    std = math.sqrt((MAX_REPEATS**2 - 1) / 12)
    for b in range(20):
        count = float(batch.x[b, L + 1, BITS + 1]) * std + (MAX_REPEATS + 1) / 2
        n = round(count)
        assert abs(count - n) < 1e-5 and 1 <= n <= MAX_REPEATS
        assert int(batch.lengths[b]) == L + 2 + n * L + 1
        start, end = L + 2, L + 2 + n * L
        assert torch.equal(batch.y[b, start:end, :BITS], batch.x[b, :L, :BITS].repeat(n, 1))
        assert float(batch.y[b, end, BITS]) == 1.0 and int(batch.y[b, :, BITS].sum()) == 1
        assert torch.equal(batch.mask[b].nonzero().flatten(), torch.arange(start, end + 1))
    repeats = {round(float(v) * std + 5.5) for v in batch.x[:, L + 1, BITS + 1]}
    assert repeats == set(range(1, MAX_REPEATS + 1))


def test_recall_target_is_the_item_after_the_query() -> None:
    task = NTMRecallTask(T=4)
    batch = task.split("val")
    k = 4
    assert batch.x.shape[1] == 4 * k + 8
    for b in range(20):
        items = [batch.x[b, 4 * i + 1 : 4 * i + 4, :6] for i in range(k)]
        assert all(float(batch.x[b, 4 * i, 6]) == 1 for i in range(k))
        q = 4 * k
        assert float(batch.x[b, q, 7]) == 1 and float(batch.x[b, q + 4, 7]) == 1
        query = batch.x[b, q + 1 : q + 4, :6]
        hits = [i for i in range(k - 1) if torch.equal(items[i], query)]
        assert hits, "the query is one of the first k-1 items"
        assert any(torch.equal(batch.y[b, -3:], items[i + 1]) for i in hits)
        assert torch.equal(batch.mask[b].nonzero().flatten(), torch.arange(q + 5, q + 8))


def test_bit_metrics_count_bits_per_sequence() -> None:
    batch = NTMCopyTask(T=3).split("val")
    perfect = 20 * (2 * batch.y - 1)
    m = bits_metrics(perfect, batch)
    assert m["wrong_bits"] == 0 and m["bit_error_rate"] == 0 and m["bits"] < 1e-3
    unsure = torch.zeros_like(batch.y)  # p = 1/2: one bit per scored bit, predicts 0
    m = bits_metrics(unsure, batch)
    assert m["bits"] == pytest.approx(8 * 3)
    ones = float(batch.y[batch.mask].sum()) / len(batch.y)
    assert m["wrong_bits"] == pytest.approx(ones)
    assert m["bit_error_rate"] == pytest.approx(ones / 24)
    flipped = bits_metrics(-perfect, batch)
    assert flipped["wrong_bits"] == 24 and flipped["bit_error_rate"] == 1
    assert NTMCopyTask(T=3).spec.predict(perfect).equal(batch.y.long())
