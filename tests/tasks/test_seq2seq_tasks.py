"""The generated seq2seq tasks: reverse, sort, dates; layout, determinism and scoring."""

from __future__ import annotations

import datetime

import pytest
import torch

from rnnlab.tasks.base import IGNORE_INDEX
from rnnlab.tasks.dates import FIRST, FORMATS, LAST, DatesTask, _alphabet, ordinal
from rnnlab.tasks.registry import TaskOptions, build_task, task_names
from rnnlab.tasks.seq2seq import source_ids, target_ids
from rnnlab.tasks.symbolic import ReverseTask, SortTask
from rnnlab.tasks.tokens import EOS, PAD


def test_registered() -> None:
    assert {"reverse", "sort", "dates"} <= set(task_names())
    assert build_task("reverse").T == 50
    assert build_task("sort", TaskOptions(T=7)).T == 7
    with pytest.raises(ValueError, match="does not apply"):
        build_task("dates", TaskOptions(T=5))


@pytest.mark.parametrize(("cls", "fn"), [(ReverseTask, lambda s: s[::-1]), (SortTask, sorted)])
def test_symbol_tasks(cls: type, fn: object) -> None:
    task = cls(T=12, seed=3)
    assert task.kind == "seq2seq" and task.main_metric == "exact_match"
    assert task.input_size == task.output_size == 4 + 26
    batch = task.train_batch(5, 16)
    assert batch.lengths is not None
    lengths = batch.lengths.tolist()
    assert all(2 <= n <= 13 for n in lengths)  # 1..T symbols plus EOS
    sources = source_ids(batch.x, batch.lengths)
    targets = target_ids(batch.y)
    for src, tgt, row in zip(sources, targets, batch.x.tolist(), strict=True):
        assert tgt == fn(src)  # type: ignore[operator]
        assert row[len(src)] == EOS and all(v == PAD for v in row[len(src) + 1 :])
    # deterministic per (seed, step); val and test differ
    assert torch.equal(task.train_batch(5, 16).x, batch.x)
    assert not torch.equal(task.split("val").x[:16], task.split("test").x[:16])
    assert len(task.split("val")) == 1000
    # exact match: the references themselves score 1, one changed token costs one row
    refs = task.references("val")
    assert task.score(refs, "val") == {"exact_match": 1.0}
    wrong = [list(r) for r in refs]
    wrong[0] = wrong[0][:-1]
    assert task.score(wrong, "val")["exact_match"] == pytest.approx(0.999)
    assert task.score(refs[:2], "val", rows=[0, 1]) == {"exact_match": 1.0}
    with pytest.raises(ValueError, match="one per row"):
        task.score(refs[:3], "val")


def test_symbol_task_text_round_trip() -> None:
    task = ReverseTask(T=5)
    ids = task.encode_source("c a b")
    assert task.decode_target([*ids[::-1], EOS, 7]) == "b a c"
    with pytest.raises(ValueError, match="min_length"):
        ReverseTask(T=3, min_length=4)
    with pytest.raises(ValueError, match="symbols"):
        ReverseTask(symbols=27)


def test_ordinals() -> None:
    expected = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th"}
    expected.update({21: "21st", 22: "22nd", 23: "23rd", 31: "31st"})
    assert {d: ordinal(d) for d in expected} == expected


def test_date_formats_are_unambiguous_and_covered_by_the_vocabulary() -> None:
    seen: dict[str, int] = {}
    for n in range(FIRST.toordinal(), LAST.toordinal() + 1):
        day = datetime.date.fromordinal(n)
        for fmt in FORMATS:
            assert seen.setdefault(fmt(day), n) == n, f"{fmt(day)!r} names two dates"
    assert set("".join(seen)) <= set(_alphabet())
    examples = {fmt(datetime.date(1998, 3, 3)) for fmt in FORMATS}
    assert {"3 March 1998", "03/03/98", "March 3rd, 1998", "Tue 3 Mar 1998"} <= examples
    assert "1998.03.03" in examples


def test_dates_task() -> None:
    task = DatesTask(seed=1)
    batch = task.train_batch(0, 32)
    assert batch.lengths is not None
    targets = target_ids(batch.y)
    for src, tgt in zip(source_ids(batch.x, batch.lengths), targets, strict=True):
        iso = task.decode_target(tgt)
        date = datetime.date.fromisoformat(iso)
        assert FIRST <= date <= LAST
        text = "".join(task.src_vocab.decode(src))
        assert text in {fmt(date) for fmt in FORMATS}
    assert batch.y.shape[1] == 11 and bool((batch.y != IGNORE_INDEX).all())
    assert task.max_target_length == 11
    assert task.codec.decode_target(task.codec.tgt_vocab.encode(list("2001-02-03"))) == "2001-02-03"
