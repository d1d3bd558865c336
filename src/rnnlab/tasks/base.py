"""What every task provides: data splits, a training stream, its loss, metrics, baseline
and how it measures a model.

A task declares its interface as a :class:`~rnnlab.tasks.spec.TaskSpec` (:attr:`Task.spec`,
built from ``kind``, the sizes, the main metric and the baseline it sets), its batches as a
``NamedTuple`` of tensors (:class:`Batch` for every task today: ``x``, ``y``, ``lengths``;
a task may declare its own, e.g. a story, a question and an answer), moved and sliced
generically (:func:`batch_to`, :func:`batch_rows`). The layout of :class:`Batch` by kind:

* ``"classify"``: one label per sequence; ``y (B,)`` long; model output ``(B, C)`` logits.
* ``"regress"``: one real vector per sequence; ``y (B, K)`` float; model output ``(B, K)``.
* ``"tag"``: one label per step (aligned seq->seq); ``y (B, T)`` long, ``-100`` on padding;
  model output ``(B, T, C)`` logits. The NTM tasks tag every step with ``C`` independent
  bits instead: ``y (B, T, C)`` float 0/1 and a ``mask (B, T)`` of scored steps
  (:class:`rnnlab.tasks.ntm.BitsBatch`).
* ``"lm"``: next-token prediction; ``x (B, T)`` long token ids, ``y (B, T)`` long (``x``
  shifted by one); model output ``(B, T, V)`` logits; metrics ``loss`` (nats per token)
  and ``bpc`` (bits per token).
* ``"vec2seq"``: a sequence generated from a vector; ``x (B, C)`` float condition, ``y (B, T)``
  long tokens; the model reads ``y`` shifted behind a start symbol (teacher forcing) and
  outputs ``(B, T, V)`` logits; metrics ``loss`` and ``bpc`` as for ``"lm"``, plus what
  the task measures on generated sequences.
* ``"seq2seq"``: encoder-decoder; ``x (B, S)`` long source ids, ``lengths (B,)``, ``y (B, T)``
  long target ids ending with EOS, ``-100`` on padding; model output ``(B, T, V)``
  teacher-forced logits (see :mod:`rnnlab.tasks.seq2seq`).

Inputs are float ``x (B, T, D)`` (long ``(B, T)`` ids for ``"lm"``) with optional
``lengths (B,)``.

A task measures a model through :meth:`Task.evaluate` and an
:class:`~rnnlab.tasks.spec.Evaluator`, so no code outside ``rnnlab.tasks`` branches on the
kind of a task.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._tree import map_state
from rnnlab.tasks.spec import KINDS, Evaluator, TaskSpec

IGNORE_INDEX = -100  # target value of padded steps in tagging tasks

__all__ = ["KINDS", "Batch", "Task", "TaskSpec"]


class Batch(NamedTuple):
    """The batch of every built-in task (the layout by kind is in the module docstring);
    ``y`` is ``None`` when a model is only asked for its outputs."""

    x: Tensor  # (B, T, D) float | (B, T) long | (B, C) float
    y: Tensor | None = None  # (B,) long | (B, K) float | (B, T) long
    lengths: Tensor | None = None  # (B,) long, or None when every row has length T

    def to(self, device: torch.device | str) -> Batch:
        return batch_to(self, device)

    def rows(self, index: Tensor | slice) -> Batch:
        return batch_rows(self, index)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def targets(self) -> Tensor:
        """``y``, which a loss or a metric needs; a one-line error when it is missing."""
        if self.y is None:
            raise ValueError("this batch has no targets (y is None)")
        return self.y


B_ = TypeVar("B_", bound=tuple)


def batch_to(batch: B_, device: torch.device | str) -> B_:
    """Any NamedTuple batch with every tensor moved to ``device``."""
    moved: B_ = map_state(lambda t: t.to(device), batch)
    return moved


def batch_rows(batch: B_, index: Tensor | slice) -> B_:
    """Rows ``index`` of every tensor of a NamedTuple batch (batch dimension first)."""
    picked: B_ = map_state(lambda t: t[index], batch)
    return picked


def batch_length(batch: tuple) -> int:
    """The number of rows of a NamedTuple batch (its first tensor's first dimension)."""
    for value in batch:
        if isinstance(value, Tensor):
            return int(value.shape[0])
        if isinstance(value, tuple):
            return batch_length(value)
    raise ValueError(f"batch {type(batch).__name__} holds no tensor")


def task_generator(seed: int, *stream: int) -> torch.Generator:
    """A torch generator seeded from ``seed`` and a stream id (e.g. the split or the step)."""
    ss = np.random.SeedSequence([seed, *stream])
    return torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> 1))


def shuffled_epoch_rows(size: int, seed: int, step: int, batch_size: int) -> Tensor:
    """The rows of training batch ``step`` over a fixed split of ``size`` examples: each
    epoch of ``size // batch_size`` batches walks one permutation drawn from ``(seed,
    epoch)`` (a pure function of seed and step, so a resumed run sees the same batches;
    the last ``size % batch_size`` rows of a permutation are skipped that epoch)."""
    per_epoch = max(1, size // batch_size)
    epoch, k = divmod(step, per_epoch)
    order = torch.randperm(size, generator=task_generator(seed, 1, epoch))
    return order[k * batch_size : (k + 1) * batch_size]


class Task(ABC):
    """Base class of every task.

    Subclasses set ``name``, ``description``, ``kind``, ``input_size``, ``output_size``,
    ``main_metric``, ``higher_is_better``, ``baseline`` and ``defaults`` (training
    hyperparameters that work for the task), and implement :meth:`split` and
    :meth:`train_batch`. The training stream is a pure function of ``(seed, step)`` so a
    resumed run sees exactly the batches it would have seen.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    kind: str
    input_size: int
    output_size: int
    main_metric: str
    higher_is_better: bool
    baseline: float | None
    defaults: ClassVar[dict[str, Any]] = {}
    model_defaults: ClassVar[dict[str, dict[str, Any]]] = {}  # per-cell recipes over defaults
    # stateful: consecutive training batches continue the same streams, so the trainer
    # carries the recurrent state between them, resetting it where resets_state() says
    stateful: ClassVar[bool] = False
    # what `predict` returns, when not the kind's own ("values" for regress, else "argmax")
    prediction: ClassVar[str | None] = None
    # the test split is the val split itself (a text with no separate test file): a final
    # evaluation measures it once
    test_is_val: bool = False

    @abstractmethod
    def split(self, name: str) -> Batch:
        """The fixed ``"val"`` or ``"test"`` split (CPU tensors)."""

    @abstractmethod
    def train_batch(self, step: int, batch_size: int) -> Batch:
        """Training batch number ``step`` (deterministic given the task's seed)."""

    def resets_state(self, step: int, batch_size: int) -> bool:
        """Whether a stateful task's batch ``step`` starts new streams (reset the state)."""
        return False

    def training_defaults(self, model: str | None = None) -> dict[str, Any]:
        """Hyperparameters that work for this task with the cell ``model`` (the class's
        ``defaults`` unless a task overrides this method)."""
        return {**self.defaults, **self.model_defaults.get(model or "", {})}

    def options(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this task (stored in ``config.json``)."""
        return {}

    @property
    def spec(self) -> TaskSpec:
        """The task's interface (kind, sizes, main metric, baseline, prediction)."""
        return TaskSpec(
            kind=self.kind,
            input_size=self.input_size,
            output_size=self.output_size,
            main_metric=self.main_metric,
            higher_is_better=self.higher_is_better,
            baseline=self.baseline,
            prediction=self.prediction or ("values" if self.kind == "regress" else "argmax"),
        )

    def info(self) -> dict[str, Any]:
        """What a run folder records of its task (``config.json``: ``task_info``): the
        spec, the options that rebuild it, and whatever a trained model needs without the
        data (a language model's vocabulary, an encoder-decoder's codec, the corpus
        metadata)."""
        info: dict[str, Any] = {**self.spec.to_json(), "options": self.options()}
        vocab = getattr(self, "vocab", None)
        if vocab is not None:
            info["vocab"] = vocab.to_json()
        codec = getattr(self, "codec", None)
        if codec is not None:
            info["codec"] = codec.to_json()
        metadata = getattr(self, "metadata", None)
        if metadata:
            info["metadata"] = metadata
        return info

    def preview(self, evaluator: Evaluator) -> str | None:
        """A short human-readable view of what the model does now (a language model's
        sample), shown and kept (``samples.txt``) at each evaluation during training; by
        default none."""
        return None

    def evaluate(self, split: str, evaluator: Evaluator) -> dict[str, float]:
        """``loss`` and the task's metrics of a model on ``split`` (``val`` or ``test``):
        by default :meth:`metrics` of the model's outputs over the whole split."""
        data = self.split(split)
        outputs = torch.cat([out.cpu() for _, out in evaluator.outputs(data)])
        return self.metrics(outputs, data)

    # -- loss and metrics, by kind ------------------------------------------------------
    def loss(self, out: Tensor, batch: Batch) -> Tensor:
        """The training objective (nats for cross-entropies)."""
        if self.kind == "classify":
            return F.cross_entropy(out, batch.targets)
        if self.kind == "regress":
            return F.mse_loss(out, batch.targets)
        # tag and lm: cross-entropy per step over (B, T, C) logits, padded steps ignored
        return F.cross_entropy(
            out.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE_INDEX
        )

    def dependency_loss(self, out: Tensor, batch: Batch) -> Tensor:
        """The loss whose gradient shows the task's long-range dependency (for gradient
        flow diagnostics): the training loss by default, which for seq->vec tasks is taken
        at the end of the sequence."""
        return self.loss(out, batch)

    def metrics(self, out: Tensor, batch: Batch) -> dict[str, float]:
        """``loss`` and the task's metrics on a whole split's outputs."""
        with torch.no_grad():
            result = {"loss": float(self.loss(out, batch))}
            if self.kind == "classify":
                result["accuracy"] = float((out.argmax(-1) == batch.targets).float().mean())
            elif self.kind == "regress":
                result["mse"] = result["loss"]
            elif self.kind in ("lm", "vec2seq"):
                result["bpc"] = result["loss"] / math.log(2)
            else:
                real = batch.targets != IGNORE_INDEX
                hits = (out.argmax(-1) == batch.targets) & real
                result["accuracy"] = float(hits.sum() / real.sum().clamp(min=1))
        return result


class StreamEvaluation(Task):
    """Evaluation of next-token tasks (kind ``lm``) over each split's contiguous streams,
    read :attr:`eval_chunk` steps at a time with the model's state carried, so every
    position is predicted from its whole stream prefix, as at generation time.
    ``loss`` is in nats per token and ``bpc`` = ``loss / ln 2``."""

    eval_chunk: int = 256

    def evaluate(self, split: str, evaluator: Evaluator) -> dict[str, float]:
        return stream_metrics(evaluator, self.split(split), self.eval_chunk)


def stream_metrics(evaluator: Evaluator, data: Batch, chunk: int) -> dict[str, float]:
    """``loss`` (mean next-token cross-entropy, nats) and ``bpc`` of a model over contiguous
    streams ``data.x``/``data.y`` ``(S, N)``, read ``chunk`` steps at a time with the state
    carried (every position is predicted from its whole stream prefix)."""
    total, count = 0.0, 0
    for piece, logits in evaluator.streams(data, chunk):
        y = piece.targets
        total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        count += y.numel()
    loss = total / max(1, count)
    return {"loss": loss, "bpc": loss / math.log(2)}


class GeneratedTask(Task):
    """A task whose sequences are generated in code: fresh data for every training batch,
    ``val`` and ``test`` drawn once from their own seeded streams.

    Subclasses implement :meth:`make_batch`.
    """

    seed: int
    split_sizes: ClassVar[dict[str, int]] = {"val": 1000, "test": 1000}

    @abstractmethod
    def make_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` fresh examples drawn with ``generator``."""

    def split(self, name: str) -> Batch:
        if name not in self.split_sizes:
            raise ValueError(f"unknown split {name!r}; expected val or test")
        cache: dict[str, Batch] = self.__dict__.setdefault("_split_cache", {})
        if name not in cache:
            stream = 1 if name == "val" else 2
            cache[name] = self.make_batch(self.split_sizes[name], task_generator(self.seed, stream))
        return cache[name]

    def train_batch(self, step: int, batch_size: int) -> Batch:
        return self.make_batch(batch_size, task_generator(self.seed, 0, step))


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    n_val = round(n * val_fraction)
    n_test = round(n * test_fraction)
    return n - n_val - n_test, n_val, n_test


class DatasetTask(Task):
    """A task over fixed arrays: shuffled epochs for training, fixed ``val``/``test``.

    Subclasses call :meth:`_set_data` with the three splits.
    """

    seed: int
    _data: dict[str, Batch]

    def _set_data(self, train: Batch, val: Batch, test: Batch) -> None:
        self._data = {"train": train, "val": val, "test": test}

    def split(self, name: str) -> Batch:
        if name not in self._data:
            raise ValueError(f"unknown split {name!r}; expected one of train, val, test")
        return self._data[name]

    def train_batch(self, step: int, batch_size: int) -> Batch:
        train = self._data["train"]
        return train.rows(shuffled_epoch_rows(len(train), self.seed, step, batch_size))

    def epochs(self, batch_size: int) -> Iterator[Batch]:
        step = 0
        while True:
            yield self.train_batch(step, batch_size)
            step += 1
