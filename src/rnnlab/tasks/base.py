"""What every task provides: data splits, a training stream, its loss, metrics and baseline.

A task is one of three kinds, which fixes the model head and the target layout:

* ``"classify"``: one label per sequence; ``y (B,)`` long; model output ``(B, C)`` logits.
* ``"regress"``: one real vector per sequence; ``y (B, K)`` float; model output ``(B, K)``.
* ``"tag"``: one label per step (aligned seq->seq); ``y (B, T)`` long, ``-100`` on padding;
  model output ``(B, T, C)`` logits.
* ``"lm"``: next-token prediction; ``x (B, T)`` long token ids, ``y (B, T)`` long (``x``
  shifted by one); model output ``(B, T, V)`` logits; metrics ``loss`` (nats per token)
  and ``bpc`` (bits per token).
* ``"vec2seq"``: a sequence generated from a vector; ``x (B, C)`` float condition, ``y (B, T)``
  long tokens; the model reads ``y`` shifted behind a start symbol (teacher forcing) and
  outputs ``(B, T, V)`` logits; metrics ``loss`` and ``bpc`` as for ``"lm"``, plus what
  :meth:`Task.model_metrics` measures on generated sequences (through a
  :class:`GenerateFn`: tasks import no model and no decoder).
* ``"seq2seq"``: encoder-decoder; ``x (B, S)`` long source ids, ``lengths (B,)``, ``y (B, T)``
  long target ids ending with EOS, ``-100`` on padding; model output ``(B, T, V)``
  teacher-forced logits (see :mod:`rnnlab.tasks.seq2seq`).

Inputs are float ``x (B, T, D)`` (long ``(B, T)`` ids for ``"lm"``) with optional
``lengths (B,)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100  # target value of padded steps in tagging tasks

KINDS = ("classify", "regress", "tag", "lm", "vec2seq", "seq2seq")


class Batch(NamedTuple):
    x: Tensor  # (B, T, D) float
    y: Tensor  # (B,) long | (B, K) float | (B, T) long
    lengths: Tensor | None = None  # (B,) long, or None when every row has length T

    def to(self, device: torch.device | str) -> Batch:
        lengths = None if self.lengths is None else self.lengths.to(device)
        return Batch(self.x.to(device), self.y.to(device), lengths)

    def rows(self, index: Tensor | slice) -> Batch:
        lengths = None if self.lengths is None else self.lengths[index]
        return Batch(self.x[index], self.y[index], lengths)

    def __len__(self) -> int:
        return int(self.x.shape[0])


class GenerateFn(Protocol):
    """Sequences from a trained vec->seq model, as :meth:`Task.model_metrics` sees it.

    ``conditions (N, C)`` float -> ``(N, length)`` long tokens: greedy with ``greedy``, else
    sampled with ``generator`` (the model in eval mode, without gradients). The trainer
    builds one from the model (:func:`rnnlab.training.evaluate.generate_fn`).
    """

    def __call__(
        self,
        conditions: Tensor,
        length: int,
        *,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor: ...


def task_generator(seed: int, *stream: int) -> torch.Generator:
    """A torch generator seeded from ``seed`` and a stream id (e.g. the split or the step)."""
    ss = np.random.SeedSequence([seed, *stream])
    return torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> 1))


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

    def model_metrics(self, generate: GenerateFn, split: str, device: str) -> dict[str, float]:
        """Metrics of sequences the model generates (``generate``, on ``device``) rather than
        of its outputs on the split; none by default."""
        return {}

    # -- loss and metrics, by kind ------------------------------------------------------
    def loss(self, out: Tensor, batch: Batch) -> Tensor:
        """The training objective (nats for cross-entropies)."""
        if self.kind == "classify":
            return F.cross_entropy(out, batch.y)
        if self.kind == "regress":
            return F.mse_loss(out, batch.y)
        # tag and lm: cross-entropy per step over (B, T, C) logits, padded steps ignored
        return F.cross_entropy(out.flatten(0, 1), batch.y.flatten(), ignore_index=IGNORE_INDEX)

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
                result["accuracy"] = float((out.argmax(-1) == batch.y).float().mean())
            elif self.kind == "regress":
                result["mse"] = result["loss"]
            elif self.kind in ("lm", "vec2seq"):
                result["bpc"] = result["loss"] / math.log(2)
            else:
                real = batch.y != IGNORE_INDEX
                hits = (out.argmax(-1) == batch.y) & real
                result["accuracy"] = float(hits.sum() / real.sum().clamp(min=1))
        return result


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
        n = len(train)
        per_epoch = max(1, n // batch_size)
        epoch, k = divmod(step, per_epoch)
        order = torch.randperm(n, generator=task_generator(self.seed, 1, epoch))
        return train.rows(order[k * batch_size : (k + 1) * batch_size])

    def epochs(self, batch_size: int) -> Iterator[Batch]:
        step = 0
        while True:
            yield self.train_batch(step, batch_size)
            step += 1
