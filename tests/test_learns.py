"""Slow "learns the task" tests, at a size CI can afford (marked ``slow``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig

pytestmark = pytest.mark.slow


def test_lstm_learns_adding_short(tmp_path: Path) -> None:
    config = RunConfig(
        task="adding",
        task_options=TaskOptions(T=10),
        model=RNNConfig(cell="lstm", hidden_size=32),
        train=TrainConfig(steps=600, batch_size=64, lr=1e-2, eval_every=200),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    # ten times better than always predicting 1 (MSE 0.167)
    assert summary["metrics"]["test"]["mse"] < summary["baseline"] / 10


def test_gru_learns_copy_short(tmp_path: Path) -> None:
    config = RunConfig(
        task="copy",
        task_options=TaskOptions(T=3),
        model=RNNConfig(cell="gru", hidden_size=64),
        train=TrainConfig(steps=600, batch_size=64, lr=1e-2, eval_every=200),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    test = summary["metrics"]["test"]
    # below the memoryless cross-entropy: it recalls some symbols (chance accuracy 1/8)
    assert test["ce"] < 0.85 * summary["baseline"]
    assert test["accuracy"] > 0.25


def test_gru_learns_mnist1d(tmp_path: Path) -> None:
    config = RunConfig(
        task="mnist1d",
        model=RNNConfig(cell="gru", hidden_size=64),
        train=TrainConfig(steps=300, batch_size=64, lr=3e-3, eval_every=300),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    assert summary["metrics"]["test"]["accuracy"] > 0.3  # chance is 0.1


def test_bidirectional_stacked_elman_beats_chance_on_adding(tmp_path: Path) -> None:
    config = RunConfig(
        task="adding",
        task_options=TaskOptions(T=6),
        model=RNNConfig(
            cell="elman", hidden_size=32, num_layers=2, bidirectional=True, residual=True
        ),
        train=TrainConfig(steps=400, batch_size=64, lr=3e-3, eval_every=200),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    assert summary["metrics"]["test"]["mse"] < summary["baseline"] / 3


def test_gru_learns_to_spell_codes(tmp_path: Path) -> None:
    config = RunConfig(
        task="code2seq",
        model=RNNConfig(cell="gru", hidden_size=64, feed_condition=True),
        train=TrainConfig(steps=400, batch_size=64, lr=3e-3, eval_every=400),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    test = summary["metrics"]["test"]
    assert test["bpc"] < 0.2 * summary["baseline"]  # ignoring the code costs 2 bits
    assert test["exact"] > 0.5  # whole 8-symbol sequences right (chance 4^-8)


def test_lstm_generator_uses_the_history_of_mnist1d_signals(tmp_path: Path) -> None:
    config = RunConfig(
        task="mnist1d-gen",
        model=RNNConfig(cell="lstm", hidden_size=32, feed_condition=True),
        train=TrainConfig(steps=150, batch_size=64, lr=1e-2, eval_every=150),
    )
    summary = rnnlab.train(config, tmp_path, progress=False)
    # below the best history-free model (per-class, per-position histograms)
    assert summary["metrics"]["test"]["bpc"] < summary["baseline"] - 0.5
