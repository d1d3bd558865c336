"""bAbI task 19 as graphs: the edges and answers a story gives, the errors for other
shapes, the splits, and a GGNN that learns it while the answer is not in the annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnlab.cli import main
from rnnlab.tasks.babi_format import read_babi
from rnnlab.tasks.babi_path import BabiPathTask, answer_text, path_graph
from rnnlab.tasks.registry import TaskOptions, build_task

STORY = """1 The office is east of the hallway.
2 The kitchen is north of the office.
3 The garden is west of the bedroom.
4 The office is west of the garden.
5 The bathroom is north of the garden.
6 How do you go from the kitchen to the garden?\ts,e\t2 4
"""


def _write(folder: Path, train: str, test: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qa19_path-finding_train.txt").write_text(train, encoding="utf-8")
    (folder / "qa19_path-finding_test.txt").write_text(test or train, encoding="utf-8")
    return folder


def test_a_story_becomes_typed_edges_and_the_moves_one_class(tmp_path: Path) -> None:
    (question,) = read_babi(_write(tmp_path, STORY) / "qa19_path-finding_train.txt")
    g = path_graph(question)
    # nodes in order of first mention: "A is D of B" mentions B first
    hallway, office, kitchen, bedroom, garden, bathroom = range(6)
    north, east, south, west = range(4)
    assert g.n == 6
    assert g.edges == [
        (hallway, office, east),  # going east from the hallway reaches the office
        (office, kitchen, north),
        (bedroom, garden, west),
        (garden, office, west),
        (garden, bathroom, north),
    ]
    assert g.annotations[kitchen] == [1.0, 0.0] and g.annotations[garden] == [0.0, 1.0]
    assert g.y == 4 * south + east and answer_text(g.y) == "s,e"
    # the answer is right: from the kitchen south to the office, then east to the garden
    step = {(u, d): v for u, v, d in g.edges} | {(v, (d + 2) % 4): u for u, v, d in g.edges}
    assert step[(step[(kitchen, south)], east)] == garden


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3 The garden is near the bedroom.", r"train\.txt:6: statement 3 .* is not 'the A is"),
        ("3 The garden is up of the bedroom.", r"statement 3 of the story"),
    ],
)
def test_a_statement_of_another_shape_names_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    lines = STORY.splitlines()
    lines[2] = line
    folder = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        BabiPathTask(data=str(folder))


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("Where is the kitchen?\ts,e\t2", r"train\.txt:6: the question 'where is the kitchen'"),
        ("How do you go from the cellar to the garden?\ts,e\t2", r"'cellar' is not a loca"),
        ("How do you go from the kitchen to the garden?\ts\t2", r"answer 's'; expected two"),
        ("How do you go from the kitchen to the garden?\ts,x\t2", r"answer 's,x'"),
    ],
)
def test_a_question_of_another_shape_names_file_and_line(
    tmp_path: Path, question: str, message: str
) -> None:
    folder = _write(tmp_path, STORY.replace(STORY.splitlines()[-1][2:], question))
    with pytest.raises(ValueError, match=message):
        BabiPathTask(data=str(folder))


def _babi(shared_data: Path) -> Path:
    folder = shared_data / "babi"
    if not any(folder.glob("en/qa19_*_train.txt")):
        pytest.skip(f"shared bAbI data not found in {folder}")
    return folder


def _shared_task(shared_data: Path, seed: int = 0) -> BabiPathTask:
    task = build_task("babi-path", TaskOptions(data=str(_babi(shared_data)), seed=seed))
    assert isinstance(task, BabiPathTask)
    return task


def test_the_released_files_split_900_100_1000_and_val_follows_the_seed(
    shared_data: Path,
) -> None:
    task, other = _shared_task(shared_data, 0), _shared_task(shared_data, 1)
    sizes = {name: int(task.split(name).y.shape[0]) for name in ("train", "val", "test")}
    assert sizes == {"train": 900, "val": 100, "test": 1000}
    assert not torch.equal(task.split("val").y, other.split("val").y)
    assert torch.equal(task.split("test").y, other.split("test").y)
    # every graph marks one start and one goal, and has one edge per statement (5 here)
    for name in ("train", "test"):
        batch = task.split(name)
        assert (batch.annotations.sum(1) == 1).all()
        assert (batch.adjacency.sum((1, 2, 3)) == 5).all()
    assert 0.05 < task.baseline < 0.15  # the commonest of 16 answers on test


@pytest.mark.slow
def test_ggnn_learns_path_finding_from_the_released_files(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end from the CLI: a GGNN answers task 19 (the paper's GGS-NN: 100% from 50
    examples); the answer depends on the edge types, which the annotations do not hold."""
    folder = _babi(shared_data)
    out = tmp_path / "run"
    argv = ["train", "babi-path", "--data", str(folder), "--steps", "1500", "--quiet"]
    assert main([*argv, "--eval-every", "500", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["test"]["accuracy"] > 0.95
