"""selective-copy and mqar: their sequences are what the papers define, their accuracy
counts only the recall steps, and their options are checked in one line."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.tasks.base import IGNORE_INDEX
from rnnlab.tasks.mqar import MQARTask
from rnnlab.tasks.registry import TaskOptions, build_task
from rnnlab.tasks.selective_copy import SelectiveCopyTask
from rnnlab.training.resolve import resolve_config


def test_selective_copy_sequences() -> None:
    task = SelectiveCopyTask(T=40, tokens=5, vocab=7)
    batch = task.train_batch(0, 16)
    seq = batch.x.argmax(-1)  # (B, 45)
    assert batch.x.shape == (16, 45, 9)
    for row, target in zip(seq, batch.targets, strict=True):
        region = row[:40]
        symbols = region[region != 0]  # the scattered symbols, in order
        assert len(symbols) == 5 and bool((symbols <= 7).all())
        assert bool((row[40:] == 8).all())  # markers
        assert torch.equal(target[40:], symbols)
        assert bool((target[:40] == IGNORE_INDEX).all())
    # positions differ between rows (the task is selective, not a fixed delay)
    assert len({tuple((r[:40] != 0).nonzero().flatten().tolist()) for r in seq}) > 1


def test_selective_copy_mingru_recipe() -> None:
    task = build_task("selective-copy", TaskOptions(T=64))
    config = resolve_config("selective-copy", task, TaskOptions(T=64), {"model": "mingru"})
    assert config.model.chrono_delay == 64
    assert (config.train.lr, config.train.schedule) == (1e-2, "cosine")
    default = resolve_config("selective-copy", task, TaskOptions(T=64))  # mingru too
    assert default.model.chrono_delay == 64 and default.train.lr == 1e-2
    lstm = resolve_config("selective-copy", task, TaskOptions(T=64), {"model": "lstm"})
    assert lstm.model.chrono_delay is None and lstm.train.lr == 3e-3
    assert lstm.train.schedule == "constant"


def test_mqar_sequences() -> None:
    task = MQARTask(T=48, pairs=6, vocab=32)
    batch = task.train_batch(3, 16)
    seq, y = batch.x.argmax(-1), batch.targets
    for row, target in zip(seq, y, strict=True):
        keys, values = row[0:12:2], row[1:12:2]
        assert len(set(keys.tolist())) == 6 and bool((keys >= 1).all() and (keys < 16).all())
        assert bool((values >= 16).all())
        pairs = dict(zip(keys.tolist(), values.tolist(), strict=True))
        asked = (target != IGNORE_INDEX).nonzero().flatten()
        assert len(asked) == 6 and bool((asked >= 12).all())
        for t in asked.tolist():  # each query step holds a key; its target is that key's value
            assert int(target[t]) == pairs[int(row[t])]
        assert sorted(row[asked].tolist()) == sorted(keys.tolist())


@pytest.mark.parametrize(
    "task", [SelectiveCopyTask(T=30, tokens=4, vocab=6), MQARTask(T=30, pairs=4, vocab=16)]
)
def test_accuracy_counts_recall_steps_only(task: SelectiveCopyTask | MQARTask) -> None:
    batch = task.split("val")
    real = batch.targets != IGNORE_INDEX
    perfect = F.one_hot(batch.targets.clamp(min=0), task.output_size).float()
    assert task.metrics(perfect, batch)["accuracy"] == 1.0
    # right on the recall steps only: still perfect; wrong there: zero
    assert task.metrics(perfect.masked_fill(~real.unsqueeze(-1), 0.0), batch)["accuracy"] == 1.0
    wrong = F.one_hot((batch.targets.clamp(min=0) + 1) % task.output_size, task.output_size)
    assert task.metrics(wrong.float(), batch)["accuracy"] == 0.0
    assert 0 < task.baseline < 0.5


def test_options_through_the_registry() -> None:
    task = build_task("mqar", TaskOptions(T=64, extras={"pairs": 16, "vocab": 64}))
    assert isinstance(task, MQARTask) and task.pairs == 16
    cases = [
        (lambda: build_task("mqar", TaskOptions(extras={"keys": 3})), "no option 'keys'"),
        (lambda: build_task("copy", TaskOptions(extras={"pairs": 3})), "does not apply"),
        (lambda: MQARTask(T=64, pairs=40, vocab=64), "vocab/2 - 1 >= pairs"),
        (lambda: MQARTask(T=20, pairs=8), "T >= 3 \\* pairs"),
        (lambda: SelectiveCopyTask(T=8, tokens=16), "tokens <= T"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words) as info:
            call()
        assert "\n" not in str(info.value)
