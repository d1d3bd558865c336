"""selective-copy and mqar: their sequences are what the papers define, their accuracy
counts only the recall steps, and their options are checked in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rnnlab.cli.app import main
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
        assert len(set(values.tolist())) == 6 and bool((values >= 16).all())  # no repeats
        pairs = dict(zip(keys.tolist(), values.tolist(), strict=True))
        asked = (target != IGNORE_INDEX).nonzero().flatten()
        assert len(asked) == 6 and bool((asked >= 12).all())
        assert bool(((asked - 12) % 2 == 0).all())  # zoology: queries on every other step
        for t in asked.tolist():  # each query step holds a key; its target is that key's value
            assert int(target[t]) == pairs[int(row[t])]
        assert sorted(row[asked].tolist()) == sorted(keys.tolist())
        rest = torch.ones(48, dtype=torch.bool)
        rest[:12], rest[asked] = False, False
        assert bool((row[rest] == 0).all())  # blanks elsewhere


def test_mqar_query_gaps_follow_the_power_law() -> None:
    """zoology's p(g) ~ a (g+1)^(a-1): a = 0.01 puts queries near the context, a = 1 spreads
    them uniformly over the (T - 2 pairs) / 2 = 28 slots (mean gap 13.5)."""

    def mean_gap(power_a: float) -> float:
        y = MQARTask(T=64, pairs=4, vocab=32, power_a=power_a).train_batch(0, 512).targets
        asked = (y != IGNORE_INDEX).nonzero()[:, 1]
        return float(((asked - 8) // 2).float().mean())

    assert abs(mean_gap(1.0) - 13.5) < 1.0
    assert mean_gap(0.01) < 10.0


def test_mqar_random_fill() -> None:
    blank = MQARTask(T=64, pairs=4, vocab=32).train_batch(5, 32)
    noisy = MQARTask(T=64, pairs=4, vocab=32, random_fill=True).train_batch(5, 32)
    asked = noisy.targets != IGNORE_INDEX
    assert asked.sum() == 4 * 32
    filled = noisy.x.argmax(-1)[:, 8:][~asked[:, 8:]]
    assert float((filled != 0).float().mean()) > 0.9  # random tokens, not blanks
    assert bool((blank.x.argmax(-1)[:, 8:][~(blank.targets != IGNORE_INDEX)[:, 8:]] == 0).all())


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
    extras = {"pairs": 16, "vocab": 64, "power_a": 1.0, "random_fill": True}
    task = build_task("mqar", TaskOptions(T=64, extras=extras))
    assert isinstance(task, MQARTask) and task.pairs == 16 and task.random_fill
    cases = [
        (lambda: build_task("mqar", TaskOptions(extras={"keys": 3})), "no option 'keys'"),
        (lambda: build_task("copy", TaskOptions(extras={"pairs": 3})), "does not apply"),
        (lambda: MQARTask(T=64, pairs=40, vocab=64), "vocab/2 - 1 >= pairs"),
        (lambda: MQARTask(T=30, pairs=8), "T >= 4 \\* pairs"),
        (lambda: MQARTask(power_a=0.0), "power_a must be in"),
        (lambda: MQARTask(random_fill=1), "random_fill must be"),  # type: ignore[arg-type]
        (lambda: SelectiveCopyTask(T=8, tokens=16), "tokens <= T"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError, match=words) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--T", "0"], "argument --T: expected a positive integer, got '0'"),
        (
            ["--model", "lru", "--cell-option", "r_min=0.9", "--cell-option", "r_max=0.5"],
            "LRU needs 0 <= r_min <= r_max < 1, got r_min=0.9, r_max=0.5",
        ),
        (["--model", "s6", "--cell-option", "dt_max=inf"], "S6 dt_max must be a finite number"),
    ],
)
def test_bad_input_on_the_command_line_is_one_line(
    flags: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "selective-copy", "--T", "32", *flags, "--steps", "1", "--quiet"]
    try:
        code = main([*argv, "--out", str(tmp_path / "run")])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err
