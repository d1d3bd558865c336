"""bAbI question answering (Weston et al. 2015): 20 tasks of short stories and questions.

``--task-id N`` trains on task ``N`` (1..20), ``all`` on the 20 at once (joint training).
Data: a folder holding the released ``qa{N}_*_train.txt`` / ``_test.txt`` files (``en``
for 1k questions per task, ``en-10k``; or the folder above them), or ``--download``, which
fetches the v1.2 release into the cache and keeps the ``en`` (1k) files after checking each
one's sha256. 10% of each task's training questions are held out as ``val`` (drawn with
the seed); ``test`` is the test file. Metric: ``accuracy``, the fraction of questions
answered exactly (error = 1 - accuracy); a joint run also reports ``accuracy_t{N}`` per
task.

Batches are :class:`BabiBatch`: each question with the ``T`` (default 50) most recent
statements of its story, oldest first, as word ids. Word ids: 0 is the nil word
(padding), 1 the unknown word (a test word never seen in training), then the answers
(answer class ``a`` is word ``ANSWER_OFFSET + a``, so a model may tie its output to its
word embeddings), then the other words. A test question whose answer never appears in
training (task 8 has one, ``football,apple,milk``) is kept and counts as an error; the run's
summary notes it with the file and line of the first.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.tasks.babi_checksums import BABI_EN_SHA256
from rnnlab.tasks.babi_format import Question, read_babi
from rnnlab.tasks.base import (
    IGNORE_INDEX,
    Task,
    batch_rows,
    batch_to,
    shuffled_epoch_rows,
    task_generator,
)
from rnnlab.tasks.download import cache_root, fetch_tar_members

NIL, UNK, ANSWER_OFFSET = 0, 1, 2
TASK_IDS = tuple(range(1, 21))
BABI_URL = "https://s3.amazonaws.com/text-datasets/babi_tasks_1-20_v1-2.tar.gz"
BABI_MEMBER_DIR = "tasks_1-20_v1-2/en/"  # the 1k files inside the release archive
VAL_FRACTION = 0.1


class BabiBatch(NamedTuple):
    """Questions with their stories (``S`` statements of at most ``J`` words).

    ``story (B, S, J)`` long word ids, oldest statement first, nil-padded after the
    ``lengths`` real ones; ``query (B, Q)`` long; ``y (B,)`` the answer class;
    ``lengths (B,)`` the statements per row (>= 1); ``support (B, S)`` bool, the supporting
    statements; ``task (B,)`` long, the bAbI task id of each row.
    """

    story: Tensor
    query: Tensor
    y: Tensor
    lengths: Tensor
    support: Tensor
    task: Tensor

    def to(self, device: torch.device | str) -> BabiBatch:
        return batch_to(self, device)

    def rows(self, index: Tensor | slice) -> BabiBatch:
        return batch_rows(self, index)

    @property
    def size(self) -> int:
        """The number of questions (``len()`` of a NamedTuple counts its fields)."""
        return int(self.y.shape[0])


def parse_task_id(value: str | int | None) -> tuple[int, ...]:
    """``"3"`` -> ``(3,)``, ``"all"`` -> ``(1, ..., 20)``; anything else a one-line error."""
    if value is None:
        return (1,)
    text = str(value).strip().lower()
    if text == "all":
        return TASK_IDS
    if text.isdigit() and int(text) in TASK_IDS:
        return (int(text),)
    raise ValueError(f"bAbI task id must be 1..20 or 'all', got {value!r}")


def babi_folder(
    data: str | None,
    download: bool = False,
    cache_dir: str | None = None,
    url: str | None = None,
) -> Path:
    """The folder holding the ``qa*_train.txt`` files: ``data`` itself, or its ``en`` or
    ``tasks_1-20_v1-2/en``; with neither, the cache, downloaded into when ``download``."""
    if data is not None:
        root = Path(data).expanduser()
        for folder in (root, root / "en", root / "tasks_1-20_v1-2" / "en"):
            if any(folder.glob("qa*_train.txt")):
                return folder
        raise ValueError(f"no bAbI files (qa*_train.txt) in {root} or its en/ folder")
    folder = cache_root(cache_dir) / "babi" / "en"
    if all((folder / name).is_file() for name in BABI_EN_SHA256):
        return folder
    if not download:
        raise ValueError(
            f"bAbI data not found in {folder}; give --data FOLDER (the released en/ or "
            "en-10k/ files) or --download"
        )
    members = {BABI_MEMBER_DIR + name: sha for name, sha in BABI_EN_SHA256.items()}
    fetch_tar_members(url or BABI_URL, folder, members)
    return folder


def task_files(folder: Path, task_id: int) -> tuple[Path, Path]:
    """``(train, test)`` files of task ``task_id`` in ``folder``."""
    found = []
    for split in ("train", "test"):
        matches = sorted(folder.glob(f"qa{task_id}_*_{split}.txt"))
        if len(matches) != 1:
            raise ValueError(
                f"expected one file qa{task_id}_*_{split}.txt in {folder}, found {len(matches)}"
            )
        found.append(matches[0])
    return found[0], found[1]


class BabiTask(Task):
    """bAbI question answering (see the module docstring).

    Args:
        data: folder of the released files (see :func:`babi_folder`).
        task_ids: the task ids to train on (one, or several for joint training).
        memory: statements kept per question, the most recent (the paper's 50).
        download, cache_dir: fetch the 1k files into the cache when ``data`` is not given.
        seed: fixes the ``val`` hold-out and the training order.
    """

    name = "babi"
    description = "bAbI QA: --task-id N (1..20) or all; --data FOLDER or --download"
    kind = "classify"
    main_metric, higher_is_better = "accuracy", True
    # the recipe of Sukhbaatar et al. (2015) as their official code runs it: MemN2N PE +
    # LS + RN, 3 hops, d = 20; linear start for 20 epochs at SGD 0.005 (one validation
    # each; not "until the val loss stops falling", which ended it after 2-5 epochs and
    # measured worse: benchmarks/RESULTS.md), then 100 epochs with the softmax from 0.005
    # halved every 25; batch 32, loss summed over the batch, global-norm clip 40 (epochs ->
    # steps in training_defaults); the code's position encoding; the softmax over the
    # memory's empty slots too, the memory as long as the longest story (at most 50)
    defaults: ClassVar[dict[str, Any]] = {
        "model": "memn2n",
        "linear_start_evals": 20,
        "encoding": "position-code",
        "empty_slots": True,
        "optimizer": "sgd",
        "momentum": 0.0,
        "lr": 0.005,
        "schedule": "step",
        "batch_size": 32,
        "loss_reduction": "sum",
        "clip": 40.0,
    }
    # the recurrent baseline (story_rnn): Adam on the mean loss, the same epochs
    model_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "story_rnn": {
            "optimizer": "adam",
            "lr": 1e-3,
            "schedule": "constant",
            "loss_reduction": "mean",
            "clip": 5.0,
        }
    }
    paper_epochs: ClassVar[int] = 100
    linear_start_epochs: ClassVar[int] = 20
    decay_epochs: ClassVar[int] = 25
    # joint training (several task ids), as the official code's config_babi_joint.m: d =
    # 50; 30 linear-start epochs at 0.005, then 60 from 0.005 halved every 15
    joint_epochs: ClassVar[int] = 60
    joint_linear_start_epochs: ClassVar[int] = 30
    joint_decay_epochs: ClassVar[int] = 15
    joint_hidden_size: ClassVar[int] = 50

    note: str | None = None

    def __init__(
        self,
        data: str | None = None,
        task_ids: tuple[int, ...] = (1,),
        memory: int = 50,
        download: bool = False,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        if memory < 1:
            raise ValueError(f"memory must be a positive number of statements, got {memory}")
        self.data, self.download, self.cache_dir = data, download, cache_dir
        self.task_ids, self.memory, self.seed = tuple(task_ids), memory, seed
        folder = babi_folder(data, download, cache_dir)
        train: list[tuple[int, Question]] = []
        test: list[tuple[int, Question]] = []
        for t in self.task_ids:
            train_file, test_file = task_files(folder, t)
            train += [(t, q) for q in read_babi(train_file)]
            test += [(t, q) for q in read_babi(test_file)]
        answers = sorted({q.answer for _, q in train})
        known = set(answers)
        unseen = [q.where for _, q in test if q.answer not in known]
        if unseen:  # kept, and counted wrong: no model trained here can give that answer
            self.note = (
                f"{len(unseen)} test question(s) have an answer never seen in training (first "
                f"at {unseen[0]}); they count as errors"
            )
        others = sorted({w for _, q in train for s in (*q.story, q.query) for w in s} - known)
        self.words = ["<nil>", "<unk>", *answers, *others]
        self.answers = answers
        self._ids = {w: i for i, w in enumerate(self.words)}
        everything = train + test
        self.sentence_words = max(len(s) for _, q in everything for s in (*q.story, q.query))
        self.story_slots = min(memory, max(len(q.story) for _, q in everything))
        full = self._encode(train)
        val_rows = self._val_rows(train)
        keep = torch.ones(len(train), dtype=torch.bool)
        keep[val_rows] = False
        test_batch = self._encode(test)
        self._data = {
            "train": full.rows(keep.nonzero().squeeze(1)),
            "val": full.rows(val_rows),
            "test": test_batch,
        }
        self.input_size = len(self.words)
        self.output_size = len(answers)
        common = Counter(q.answer for _, q in train).most_common(1)[0][0]
        self.baseline = sum(q.answer == common for _, q in test) / len(test)
        self.metadata = {"task_ids": list(self.task_ids), "words": self.words}

    def _val_rows(self, train: list[tuple[int, Question]]) -> Tensor:
        """10% of each task's training questions, drawn with the seed."""
        rows = []
        for t in self.task_ids:
            mine = torch.tensor([i for i, (task, _) in enumerate(train) if task == t])
            order = torch.randperm(len(mine), generator=task_generator(self.seed, 10, t))
            rows.append(mine[order[: round(VAL_FRACTION * len(mine))]])
        return torch.cat(rows).sort().values

    def _encode(self, rows: list[tuple[int, Question]]) -> BabiBatch:
        n, J = len(rows), self.sentence_words
        S = min(self.memory, max(len(q.story) for _, q in rows))
        story = torch.zeros(n, S, J, dtype=torch.long)
        query = torch.zeros(n, J, dtype=torch.long)
        support = torch.zeros(n, S, dtype=torch.bool)
        lengths = torch.zeros(n, dtype=torch.long)
        y = torch.zeros(n, dtype=torch.long)
        task = torch.zeros(n, dtype=torch.long)
        ids, answers = self._ids, set(self.answers)
        for i, (t, q) in enumerate(rows):
            first = max(0, len(q.story) - S)  # the S most recent statements
            for k, sentence in enumerate(q.story[first:]):
                story[i, k, : len(sentence)] = torch.tensor([ids.get(w, UNK) for w in sentence])
            query[i, : len(q.query)] = torch.tensor([ids.get(w, UNK) for w in q.query])
            for s in q.support:
                if s >= first:
                    support[i, s - first] = True
            lengths[i] = len(q.story) - first
            y[i] = ids[q.answer] - ANSWER_OFFSET if q.answer in answers else IGNORE_INDEX
            task[i] = t
        return BabiBatch(story, query, y, lengths, support, task)

    def split(self, name: str) -> BabiBatch:  # type: ignore[override]
        if name not in self._data:
            raise ValueError(f"unknown split {name!r}; expected one of train, val, test")
        return self._data[name]

    def train_batch(self, step: int, batch_size: int) -> BabiBatch:  # type: ignore[override]
        """Shuffled epochs of the training questions (a pure function of seed and step)."""
        train = self._data["train"]
        return train.rows(shuffled_epoch_rows(train.size, self.seed, step, batch_size))

    def training_defaults(self, model: str | None = None) -> dict[str, Any]:
        """The recipe with its epochs in steps of this task's training set (MemN2N: 20
        linear-start epochs, then 100 with the step decay; the memory as long as the
        longest story); another family's recipe (``model_defaults``) for 100 epochs. Joint
        training (several task ids) takes the official code's joint recipe: d = 50, 30
        linear-start epochs, then 60 halved every 15."""
        per_epoch = max(1, self.split("train").size // 32)
        joint = len(self.task_ids) > 1
        decay = self.joint_decay_epochs if joint else self.decay_epochs
        epochs = {"decay_every": decay * per_epoch, "eval_every": per_epoch}
        recipe = self.model_defaults.get(model or "")
        if recipe is not None:
            return {**self.defaults, **recipe, "steps": self.paper_epochs * per_epoch, **epochs}
        linear = self.joint_linear_start_epochs if joint else self.linear_start_epochs
        after = self.joint_epochs if joint else self.paper_epochs
        return {
            **self.defaults,
            **epochs,
            **(
                {"hidden_size": self.joint_hidden_size, "linear_start_evals": linear}
                if joint
                else {}
            ),
            "memory_size": self.story_slots,
            "steps": (linear + after) * per_epoch,
            "decay_start": linear * per_epoch,
        }

    def options(self) -> dict[str, Any]:
        given = {"data": self.data, "download": self.download, "cache_dir": self.cache_dir}
        return {
            "task_ids": list(self.task_ids),
            "memory": self.memory,
            **{k: v for k, v in given.items() if v not in (None, False)},
        }

    def loss(self, out: Tensor, batch: Any) -> Tensor:
        """Cross-entropy of the answers (test answers never seen in training left out)."""
        return F.cross_entropy(out, batch.y, ignore_index=IGNORE_INDEX)

    def metrics(self, out: Tensor, batch: Any) -> dict[str, float]:
        """``loss``, ``accuracy`` (a question whose answer was never seen in training is
        wrong) and, for several tasks, ``accuracy_t{N}`` per task."""
        with torch.no_grad():
            hits = (out.argmax(-1) == batch.y).float()
            result = {"loss": float(self.loss(out, batch)), "accuracy": float(hits.mean())}
            if len(self.task_ids) > 1:
                for t in self.task_ids:
                    mine = batch.task == t
                    if bool(mine.any()):
                        result[f"accuracy_t{t}"] = float(hits[mine].mean())
        return result
