"""Copy and adding generators: shapes, the marker rules, and their closed-form baselines."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.tasks import AddingTask, CopyTask, copy_baseline, make_adding_batch, make_copy_batch
from rnnlab.tasks.base import task_generator


@pytest.mark.parametrize("T", [1, 5, 100])
def test_copy_layout(T: int) -> None:
    batch = make_copy_batch(T, 64, torch.Generator().manual_seed(0))
    assert batch.x.shape == (64, T + 20, 10) and batch.y.shape == (64, T + 20)
    tokens = batch.x.argmax(-1)
    symbols = tokens[:, :10]
    assert bool(((symbols >= 1) & (symbols <= 8)).all())
    assert bool((tokens[:, 10 : 10 + T - 1] == 0).all())  # T - 1 blanks
    assert bool((tokens[:, 10 + T - 1] == 9).all())  # the marker
    assert bool((tokens[:, -10:] == 0).all())  # 10 blanks
    assert bool((batch.y[:, : T + 10] == 0).all())
    assert torch.equal(batch.y[:, -10:], symbols)


def test_copy_baseline_values() -> None:
    # the published figures (uRNN paper definition): 10 ln 8 / (T + 20)
    for T, expected in [(100, 0.1733), (200, 0.0945), (500, 0.0400), (1000, 0.0204)]:
        assert copy_baseline(T) == pytest.approx(expected, abs=6e-5)


def test_copy_memoryless_baseline_on_a_large_sample() -> None:
    T = 30
    batch = make_copy_batch(T, 20_000, torch.Generator().manual_seed(1))
    # the best memoryless predictor at each position is the empirical marginal there
    counts = torch.nn.functional.one_hot(batch.y, 9).float().mean(0)  # (T+20, 9)
    entropy = -(counts * counts.clamp_min(1e-12).log()).sum(-1).mean()
    assert float(entropy) == pytest.approx(copy_baseline(T), rel=0.01)


def test_copy_metrics_of_a_perfect_and_a_memoryless_model() -> None:
    task = CopyTask(T=20)
    batch = task.split("val")
    perfect = torch.nn.functional.one_hot(batch.y, 9).float() * 50.0
    metrics = task.metrics(perfect, batch)
    assert metrics["accuracy"] == 1.0 and metrics["ce"] < 1e-6
    memoryless = torch.full((len(batch), 40, 9), -1e9)
    memoryless[:, :30, 0] = 0.0
    memoryless[:, 30:, 1:] = 0.0  # uniform over the 8 symbols
    assert task.metrics(memoryless, batch)["ce"] == pytest.approx(task.baseline, rel=1e-5)


@pytest.mark.parametrize("T", [2, 3, 10, 201])
def test_adding_markers(T: int) -> None:
    batch = make_adding_batch(T, 500, torch.Generator().manual_seed(0))
    assert batch.x.shape == (500, T, 2) and batch.y.shape == (500, 1)
    markers = batch.x[..., 1]
    half = T // 2
    assert bool((markers[:, :half].sum(1) == 1).all())
    assert bool((markers[:, half:].sum(1) == 1).all())
    values = batch.x[..., 0]
    assert bool(((values >= 0) & (values <= 1)).all())
    torch.testing.assert_close(batch.y[:, 0], (values * markers).sum(1))


def test_adding_baseline_on_a_large_sample() -> None:
    batch = make_adding_batch(50, 100_000, torch.Generator().manual_seed(2))
    mse_of_one = float(((batch.y - 1.0) ** 2).mean())
    assert mse_of_one == pytest.approx(1 / 6, rel=0.02)
    assert AddingTask().baseline == pytest.approx(0.1667, abs=1e-4)


def test_splits_fixed_by_seed_and_distinct() -> None:
    a, b = CopyTask(T=10, seed=3), CopyTask(T=10, seed=3)
    assert torch.equal(a.split("val").x, b.split("val").x)
    assert not torch.equal(a.split("val").x, a.split("test").x)
    assert not torch.equal(a.split("val").x, CopyTask(T=10, seed=4).split("val").x)
    assert torch.equal(a.train_batch(7, 8).x, b.train_batch(7, 8).x)
    assert not torch.equal(a.train_batch(7, 8).x, a.train_batch(8, 8).x)
    with pytest.raises(ValueError, match="unknown split"):
        a.split("train")


def test_bad_sequence_length() -> None:
    with pytest.raises(ValueError, match="T must be a positive integer, got 0"):
        CopyTask(T=0)
    with pytest.raises(ValueError, match="at least 2"):
        make_adding_batch(1, 4, task_generator(0, 0))
    assert math.isfinite(copy_baseline(1))
