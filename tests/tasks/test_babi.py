"""bAbI: the released text format, its errors, the folder layouts, the checksummed download,
the 10% validation hold-out and the per-task figures of joint training."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import rnnlab.tasks.babi as babi
from rnnlab.tasks.babi import ANSWER_OFFSET, BabiTask, parse_task_id
from rnnlab.tasks.babi_format import read_babi
from rnnlab.tasks.base import IGNORE_INDEX
from rnnlab.tasks.download import fetch_tar_members
from rnnlab.tasks.registry import TaskOptions, build_task

STORY = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel? \thallway\t4
1 Mary went to the kitchen.
2 How do you go from the kitchen to the garden?\tnorth,west\t1
"""


def write_task(folder: Path, task_id: int, train: str, test: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"qa{task_id}_toy_train.txt").write_text(train)
    (folder / f"qa{task_id}_toy_test.txt").write_text(test if test is not None else train)


def test_the_format_is_read_with_stories_support_and_multiword_answers(tmp_path: Path) -> None:
    path = tmp_path / "qa1_toy_train.txt"
    path.write_text(STORY)
    questions = read_babi(path)
    assert [q.answer for q in questions] == ["bathroom", "hallway", "north,west"]
    second = questions[1]
    assert second.story == (
        ("mary", "moved", "to", "the", "bathroom"),
        ("john", "went", "to", "the", "hallway"),
        ("daniel", "went", "back", "to", "the", "hallway"),
        ("sandra", "moved", "to", "the", "garden"),
    )  # the statements only, not the question before
    assert second.support == (2,) and second.query == ("where", "is", "daniel")
    assert questions[2].story == (("mary", "went", "to", "the", "kitchen"),)  # a new story
    assert questions[2].where == "qa1_toy_train.txt:8"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 Mary moved.\nMary went home.\n", r"qa1_bad\.txt:2: expected 'ID TEXT'"),
        ("1 Where is Mary? \tbathroom\t1\n", r"qa1_bad\.txt:1: a question before any statement"),
        ("1 Mary moved.\n2 Where? \tbathroom\n", r"qa1_bad\.txt:2: a question needs"),
        ("1 Mary moved.\n2 Where is Mary? \tkitchen\t7\n", r"qa1_bad\.txt:2: supporting fact"),
        ("1 Mary moved.\n3 John left.\n", r"qa1_bad\.txt:2: line id 3 follows 1"),
    ],
)
def test_a_broken_file_is_a_one_line_error_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "qa1_bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        read_babi(path)
    assert "\n" not in str(info.value)


def test_an_answer_never_seen_in_training_counts_as_an_error(tmp_path: Path) -> None:
    test = "1 Mary moved to the office.\n2 Where is Mary? \toffice\t1\n" + STORY
    write_task(tmp_path, 1, STORY, test)
    task = BabiTask(str(tmp_path))
    assert task.note is not None and "first at qa1_toy_test.txt:2" in task.note
    data = task.split("test")
    assert int(data.y[0]) == IGNORE_INDEX
    perfect = torch.full((4, task.output_size), -9.0)
    perfect[torch.arange(1, 4), data.y[1:]] = 9.0
    figures = task.metrics(perfect, data)
    assert figures["accuracy"] == 0.75 and figures["loss"] < 1e-3  # wrong, not in the loss


def test_batches_layout_vocabulary_and_hold_out(tmp_path: Path) -> None:
    lines = []
    for k in range(40):  # 40 stories of one question: 4 go to val
        place = ("kitchen", "garden", "office")[k % 3]
        lines += [f"1 Mary went to the {place}.", f"2 John went to the {place}.",
                  f"3 Where is Mary? \t{place}\t1"]  # fmt: skip
    write_task(tmp_path, 1, "\n".join(lines) + "\n", "1 Bob went to the garden.\n"
               "2 Where is Bob? \tgarden\t1\n")  # fmt: skip
    task = BabiTask(str(tmp_path), memory=1)
    assert (task.split("train").size, task.split("val").size, task.split("test").size) == (36, 4, 1)
    assert task.answers == ["garden", "kitchen", "office"] and task.output_size == 3
    assert task.words[ANSWER_OFFSET : ANSWER_OFFSET + 3] == task.answers
    val = task.split("val")
    assert val.story.shape[1] == 1  # memory=1 keeps the most recent statement only
    kept = [task.words[int(i)] for i in val.story[0, 0] if i]
    assert kept == ["john", "went", "to", "the", task.answers[int(val.y[0])]]
    assert not bool(val.support.any())  # the supporting statement fell out of the memory
    test = task.split("test")
    assert int(test.story[0, 0, 0]) == babi.UNK  # "bob" was never seen in training
    other = BabiTask(str(tmp_path), memory=1, seed=1)
    assert not torch.equal(other.split("val").story, val.story)  # val is drawn with the seed
    assert torch.equal(other.split("test").story, test.story)


def test_joint_training_reports_each_task(tmp_path: Path) -> None:
    write_task(tmp_path, 1, STORY)
    write_task(tmp_path, 2, STORY.replace("Mary", "Fred"))
    task = build_task("babi", TaskOptions(data=str(tmp_path), task_id="1"))
    assert task.metrics(torch.zeros(3, task.output_size), task.split("test")).keys() == {
        "loss",
        "accuracy",
    }
    joint = BabiTask(str(tmp_path), task_ids=(1, 2))
    test = joint.split("test")
    logits = torch.full((test.size, joint.output_size), -5.0)
    logits[test.task == 1, :] = 0.0
    logits[torch.arange(test.size), test.y] += (test.task == 1).float()  # task 1 right
    figures = joint.metrics(logits, test)
    assert figures["accuracy_t1"] == 1.0 and figures["accuracy_t2"] < 1.0
    assert figures["accuracy"] == pytest.approx(0.5 * (1 + figures["accuracy_t2"]))


def test_joint_training_takes_the_joint_recipe(tmp_path: Path) -> None:
    write_task(tmp_path, 1, STORY * 40)
    write_task(tmp_path, 2, STORY.replace("Mary", "Fred") * 40)
    single = BabiTask(str(tmp_path), task_ids=(1,)).training_defaults()
    assert "hidden_size" not in single and single["decay_start"] == 20 * single["eval_every"]
    joint = BabiTask(str(tmp_path), task_ids=(1, 2))
    recipe = joint.training_defaults()  # the official code's config_babi_joint.m
    epoch = joint.split("train").size // 32
    assert recipe["eval_every"] == epoch and recipe["hidden_size"] == 50
    assert recipe["linear_start_evals"] == 30 and recipe["decay_start"] == 30 * epoch
    assert recipe["steps"] == 90 * epoch and recipe["decay_every"] == 15 * epoch
    assert "hidden_size" not in joint.training_defaults("story_rnn")


def test_task_ids_and_folders(tmp_path: Path) -> None:
    assert parse_task_id("all") == tuple(range(1, 21)) and parse_task_id(" 7") == (7,)
    for bad in ("0", "21", "two", "1,2"):
        with pytest.raises(ValueError, match=r"1\.\.20 or 'all'"):
            parse_task_id(bad)
    write_task(tmp_path / "tasks_1-20_v1-2" / "en", 1, STORY)
    assert BabiTask(str(tmp_path)).split("test").size == 3  # the release's layout
    with pytest.raises(ValueError, match="expected one file qa3_"):
        BabiTask(str(tmp_path), task_ids=(3,))
    with pytest.raises(ValueError, match="give --data FOLDER"):
        BabiTask(cache_dir=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="does not apply to task 'copy'"):
        build_task("copy", TaskOptions(task_id="3"))


def _archive(folder: Path, files: dict[str, bytes]) -> Path:
    path = folder / "babi.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_download_keeps_only_checksummed_files(
    tmp_path: Path, serve: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train, test = STORY.encode(), STORY.encode()
    files = {
        "tasks_1-20_v1-2/en/qa1_toy_train.txt": train,
        "tasks_1-20_v1-2/en/qa1_toy_test.txt": test,
        "tasks_1-20_v1-2/en-10k/qa1_toy_train.txt": b"not wanted",
    }
    site = tmp_path / "site"
    site.mkdir()
    _archive(site, files)
    url = serve(site) + "babi.tar.gz"
    sums = {
        "qa1_toy_train.txt": hashlib.sha256(train).hexdigest(),
        "qa1_toy_test.txt": hashlib.sha256(test).hexdigest(),
    }
    monkeypatch.setattr(babi, "BABI_EN_SHA256", sums)
    monkeypatch.setattr(babi, "BABI_URL", url)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="--download"):
        BabiTask(cache_dir=str(cache))
    task = build_task("babi", TaskOptions(download=True, cache_dir=str(cache)))
    assert task.split("test").size == 3
    assert sorted(p.name for p in (cache / "babi" / "en").iterdir()) == sorted(sums)
    # a wrong checksum leaves nothing behind
    bad = tmp_path / "bad"
    with pytest.raises(ValueError, match=r"checksum mismatch for .*qa1_toy_test\.txt"):
        fetch_tar_members(url, bad, {**{f"tasks_1-20_v1-2/en/{k}": v for k, v in sums.items()},
                                     "tasks_1-20_v1-2/en/qa1_toy_test.txt": "0" * 64})  # fmt: skip
    assert not bad.exists() or not any(bad.iterdir())
    with pytest.raises(OSError, match="cannot extract"):
        fetch_tar_members(url, bad, {"tasks_1-20_v1-2/en/missing.txt": "0" * 64})


def test_the_shared_files_load(shared_data: Path) -> None:
    folder = shared_data / "babi"
    if not (folder / "en" / "qa2_two-supporting-facts_train.txt").is_file():
        pytest.skip(f"shared bAbI files not found in {folder}")
    task = BabiTask(str(folder), task_ids=(2,))
    assert (task.split("train").size, task.split("val").size, task.split("test").size) == (
        900,
        100,
        1000,
    )
    test = task.split("test")
    assert bool((test.support.sum(1) == 2).all())  # task 2: two supporting facts each
    recipe = task.training_defaults()  # the official code's: 20 linear-start epochs, 100 more
    assert recipe["steps"] == 120 * (900 // 32) and recipe["decay_start"] == 20 * (900 // 32)
    assert recipe["memory_size"] == max(int(task.split(s).lengths.max()) for s in ("train", "test"))
    assert task.training_defaults("story_rnn")["steps"] == 100 * (900 // 32)
