"""bAbI task 19 (path finding) read as graphs, for gated graph neural networks (Li et al.
2016, section 5.1: the bAbI tasks given to a GGNN in their symbolic form).

Each statement of a story is ``The A is D of the B.`` with ``D`` one of north, east,
south, west: the locations are the graph's nodes (in order of first mention), and the
statement is an edge ``B -> A`` of type ``D`` (going ``D`` from ``B`` reaches ``A``; a
GGNN's reverse weights read it the other way). The question ``How do you go from the X to
the Y?`` marks its two nodes in the annotations ``[is X, is Y]``; the answer, two moves
such as ``s,e``, is one of the 16 classes ``4 d1 + d2`` (``n, e, s, w`` = 0..3), read at
the graph level.

Data: the released files (``--data FOLDER``, as the ``babi`` task reads them, or
``--download``). 10% of the training questions are held out as ``val`` (drawn with the
seed); ``test`` is the test file. A statement or question of another shape is a one-line
error naming the file and line.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar

import torch

from rnnlab.tasks.babi import VAL_FRACTION, babi_folder, task_files
from rnnlab.tasks.babi_format import Question, read_babi
from rnnlab.tasks.base import Task, shuffled_epoch_rows, task_generator
from rnnlab.tasks.graphs import Graph, GraphBatch, GraphClassification, graph_batch

DIRECTIONS = ("north", "east", "south", "west")
MOVES = ("n", "e", "s", "w")  # the answers' letters, in the order of DIRECTIONS
TASK_ID = 19
_STATEMENT = re.compile(r"the (\w+) is (north|east|south|west) of the (\w+)")
_QUESTION = re.compile(r"how do you go from the (\w+) to the (\w+)")


def path_graph(question: Question) -> Graph:
    """The graph of one task-19 question (see the module docstring); a statement or
    question of another shape is a ``ValueError`` naming the question's file and line."""
    nodes: dict[str, int] = {}
    edges: list[tuple[int, ...]] = []
    for k, statement in enumerate(question.story):
        match = _STATEMENT.fullmatch(" ".join(statement))
        if match is None:
            raise ValueError(
                f"{question.where}: statement {k + 1} of the story, {' '.join(statement)!r}, "
                "is not 'the A is DIRECTION of the B'"
            )
        a, direction, b = match.groups()
        u, v = nodes.setdefault(b, len(nodes)), nodes.setdefault(a, len(nodes))
        edges.append((u, v, DIRECTIONS.index(direction)))
    match = _QUESTION.fullmatch(" ".join(question.query))
    if match is None:
        raise ValueError(
            f"{question.where}: the question {' '.join(question.query)!r} is not "
            "'how do you go from the X to the Y'"
        )
    source, target = match.groups()
    for place in (source, target):
        if place not in nodes:
            raise ValueError(f"{question.where}: {place!r} is not a location of the story")
    moves = question.answer.split(",")
    if len(moves) != 2 or any(m not in MOVES for m in moves):
        raise ValueError(
            f"{question.where}: answer {question.answer!r}; expected two moves of n, e, s, w "
            "such as 's,e'"
        )
    s, t = nodes[source], nodes[target]
    marks = [[float(v == s), float(v == t)] for v in range(len(nodes))]
    return Graph(len(nodes), edges, marks, 4 * MOVES.index(moves[0]) + MOVES.index(moves[1]))


def answer_text(label: int) -> str:
    """Class ``4 d1 + d2`` -> ``"d1,d2"`` (``5`` -> ``"e,e"``)."""
    return f"{MOVES[label // 4]},{MOVES[label % 4]}"


class BabiPathTask(GraphClassification, Task):
    """bAbI task 19 as graphs (see the module docstring).

    Args:
        data: folder of the released files (see :func:`~rnnlab.tasks.babi.babi_folder`).
        download, cache_dir: fetch the 1k files into the cache when ``data`` is not given.
        seed: fixes the ``val`` hold-out and the training order.
    """

    name = "babi-path"
    description = "bAbI task 19 (path finding) as typed graphs for ggnn; --data FOLDER"
    kind = "classify"
    main_metric, higher_is_better = "accuracy", True
    input_size = 2  # annotations: is the start, is the goal
    output_size = 16  # two moves of four
    defaults: ClassVar[dict[str, Any]] = {
        "model": "ggnn",
        "output": "graph",
        "edge_types": 4,
        "steps": 3000,
        "lr": 3e-3,
        "batch_size": 32,
        "eval_every": 250,
    }

    def __init__(
        self,
        data: str | None = None,
        download: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        self.data, self.download, self.cache_dir, self.seed = data, download, cache_dir, seed
        train_file, test_file = task_files(babi_folder(data, download, cache_dir), TASK_ID)
        train = [path_graph(q) for q in read_babi(train_file)]
        test = [path_graph(q) for q in read_babi(test_file)]
        self.nodes = max(g.n for g in train + test)
        order = torch.randperm(len(train), generator=task_generator(seed, 10, TASK_ID))
        held = set(order[: round(VAL_FRACTION * len(train))].tolist())
        self._data = {
            "train": graph_batch([g for i, g in enumerate(train) if i not in held], self.nodes, 4),
            "val": graph_batch([g for i, g in enumerate(train) if i in held], self.nodes, 4),
            "test": graph_batch(test, self.nodes, 4),
        }
        common = Counter(g.y for g in train).most_common(1)[0][0]
        self.baseline = sum(g.y == common for g in test) / len(test)

    def split(self, name: str) -> GraphBatch:  # type: ignore[override]
        if name not in self._data:
            raise ValueError(f"unknown split {name!r}; expected one of train, val, test")
        return self._data[name]

    def train_batch(self, step: int, batch_size: int) -> GraphBatch:  # type: ignore[override]
        """Shuffled epochs of the training questions (a pure function of seed and step)."""
        train = self._data["train"]
        return train.rows(shuffled_epoch_rows(int(train.y.shape[0]), self.seed, step, batch_size))

    def options(self) -> dict[str, Any]:
        given = {"data": self.data, "download": self.download, "cache_dir": self.cache_dir}
        return {k: v for k, v in given.items() if v not in (None, False)}
