"""Encoder-decoder diagnostics: which runs the metric-by-length curve accepts (the curve
itself is checked through ``rnnlab diagnose length`` in ``tests/test_cli_seq2seq.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnlab
from rnnlab import RNNConfig, RunConfig, TaskOptions, TrainConfig
from rnnlab.diagnostics.seq2seq import ScoresDecodes, diagnose_length
from rnnlab.tasks.registry import build_task


def test_length_curves_need_a_task_that_scores_decoded_outputs() -> None:
    assert isinstance(build_task("reverse", TaskOptions(T=4)), ScoresDecodes)
    for name in ("copy", "adding", "hmm"):
        assert not isinstance(build_task(name, TaskOptions(T=4)), ScoresDecodes)


def test_diagnose_length_rejects_other_runs(tmp_path: Path) -> None:
    config = RunConfig(
        task="hmm",
        task_options=TaskOptions(T=6),
        model=RNNConfig(cell="gru", hidden_size=8),
        train=TrainConfig(steps=2, batch_size=4, eval_every=2),
    )
    rnnlab.train(config, tmp_path / "hmm", progress=False)
    with pytest.raises(ValueError, match="is not an encoder-decoder \\(task kind 'lm'\\)"):
        diagnose_length([str(tmp_path / "hmm")], tmp_path / "out")
