"""The algorithmic tasks of the neural Turing machine paper (Graves, Wayne & Danihelka 2014,
section 4): copy, repeat copy and associative recall, over random binary vectors.

Each is an aligned seq->seq task (kind ``"tag"``) whose outputs are independent bits: the
model emits one logit per bit and step, :math:`p = \\sigma(o)`, and only the answer's steps
are scored (``mask``). Batches are :class:`BitsBatch` ``(x, y, lengths, mask)``:

* ``x (B, T, D)`` float 0/1 inputs (data bits and the task's marker channels),
* ``y (B, T, K)`` float 0/1 targets (zero where not scored),
* ``lengths (B,)`` or ``None`` (rows of a split may differ in length: repeat copy),
* ``mask (B, T)`` bool, the scored steps.

Metrics, per sequence and averaged over the split: ``bits`` (the binary cross-entropy
summed over the scored bits, in bits), ``wrong_bits`` (scored bits wrong after thresholding
:math:`p` at 0.5) and ``bit_error_rate`` (wrong bits over scored bits); ``loss`` is the
cross-entropy per scored bit in nats (what training minimises). The baseline is half the
scored bits per sequence: the wrong bits of a coin flip.

Training batches draw one length (item count) per batch from the training range; ``val``
and ``test`` use the task's ``T`` for every row, so rebuilding a run's task with another
``T`` (``rnnlab eval RUN --length L``) measures generalisation to that length.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.tasks.base import GeneratedTask, task_generator

BITS = 8  # width of a copy / repeat-copy vector
RECALL_BITS = 6  # width of an associative-recall vector
ITEM_STEPS = 3  # vectors per associative-recall item
MAX_REPEATS = 10  # repeat copy: repeats drawn from 1..10 (Graves et al. 2014)


class BitsBatch(NamedTuple):
    """A batch of a bits task (layout in the module docstring)."""

    x: Tensor  # (B, T, D) float 0/1
    y: Tensor  # (B, T, K) float 0/1
    lengths: Tensor | None  # (B,) long, or None when every row has length T
    mask: Tensor  # (B, T) bool: scored steps


def random_bits(generator: torch.Generator, *shape: int) -> Tensor:
    """Independent fair bits as floats."""
    return torch.randint(0, 2, shape, generator=generator).float()


def bits_metrics(logits: Tensor, batch: BitsBatch) -> dict[str, float]:
    """``loss`` (nats per scored bit), ``bits``, ``wrong_bits`` (per sequence) and
    ``bit_error_rate`` of ``logits (B, T, K)`` against ``batch``."""
    with torch.no_grad():
        scored = batch.mask.unsqueeze(-1).expand_as(batch.y)  # (B, T, K)
        nats = F.binary_cross_entropy_with_logits(logits, batch.y, reduction="none")
        nats = nats.masked_fill(~scored, 0.0)
        wrong = ((logits > 0).float() != batch.y) & scored
        rows, total = logits.shape[0], int(scored.sum())
        return {
            "loss": float(nats.sum()) / max(1, total),
            "bits": float(nats.sum()) / math.log(2) / rows,
            "wrong_bits": float(wrong.sum()) / rows,
            "bit_error_rate": float(wrong.sum()) / max(1, total),
        }


class BitsTask(GeneratedTask):
    """Shared parts of the NTM tasks: the bit loss and metrics, the spec, the batch per
    training step (one length per batch). Subclasses set the sizes and implement
    :meth:`sample` and :meth:`scored_bits`.

    The training recipe (``defaults``): the NTM, batches of 8, Adam at 1e-3 with a cosine
    decay to 0 at the end of the run (its steps, or its ``--max-time`` when that comes
    first), the global gradient norm clipped at 10. At a constant 1e-3 every converged seed
    relapsed above 1 wrong bit once after converging (a gradient spike); with the decay the
    480 s run did not (benchmarks/RESULTS.md, "Neural Turing machine"). On one CPU thread a
    step of 8 copies costs about 20 ms against 36 ms for 32 (the step loop's per-step
    overhead dominates both), so batch 8 makes ~1.8x the updates per second; NTM training
    is bound by updates more than by noise (pytorch-ntm trains with batch 1), and batch 8
    is still 4x the rows per step.
    """

    split_sizes: ClassVar[dict[str, int]] = {"val": 500, "test": 1000}
    prediction: ClassVar[str | None] = "bits"  # float 0/1 targets: predict gives bits
    defaults: ClassVar[dict[str, Any]] = dict(
        model="ntm",
        hidden_size=100,
        batch_size=8,
        steps=20000,
        lr=1e-3,
        schedule="cosine",
        optimizer="adam",
        clip=10.0,
        eval_every=200,
    )
    T: int
    shortest: int  # the training range is shortest..T (lengths or item counts)

    def _setup(self, T: int, seed: int, input_size: int, output_size: int) -> None:
        check_positive("T", T)
        if self.shortest > T:
            raise ValueError(f"T must be at least {self.shortest} for {self.name}, got {T}")
        self.T = T
        self.seed = seed
        self.kind = "tag"
        self.input_size = input_size
        self.output_size = output_size
        self.main_metric = "wrong_bits"
        self.higher_is_better = False
        self.baseline = self.scored_bits(T) / 2

    def options(self) -> dict[str, Any]:
        return {"T": self.T}

    def scored_bits(self, T: int) -> float:
        """The mean number of scored bits per sequence of a split at ``T``."""
        raise NotImplementedError

    def sample(self, T: int, batch_size: int, generator: torch.Generator, split: bool) -> BitsBatch:
        """``batch_size`` sequences at length (item count) ``T``; ``split`` rows may vary in
        what the task draws per row (repeat counts)."""
        raise NotImplementedError

    def make_batch(self, batch_size: int, generator: torch.Generator) -> BitsBatch:  # type: ignore[override]
        return self.sample(self.T, batch_size, generator, split=True)

    def train_batch(self, step: int, batch_size: int) -> BitsBatch:  # type: ignore[override]
        generator = task_generator(self.seed, 0, step)
        T = int(torch.randint(self.shortest, self.T + 1, (1,), generator=generator))
        return self.sample(T, batch_size, generator, split=False)

    def loss(self, out: Tensor, batch: Any) -> Tensor:
        """Binary cross-entropy per scored bit (nats)."""
        scored = batch.mask.unsqueeze(-1).expand_as(batch.y)
        return F.binary_cross_entropy_with_logits(out[scored], batch.y[scored])

    def metrics(self, out: Tensor, batch: Any) -> dict[str, float]:
        return bits_metrics(out, batch)


class NTMCopyTask(BitsTask):
    """Copy (Graves et al. 2014, 4.1): read ``L`` random 8-bit vectors and a delimiter,
    then write them back.

    Input ``(2L+1, 9)``: the vectors on channels 0-7 at steps ``0..L-1``, the delimiter on
    channel 8 at step ``L``, zeros after. Target ``(2L+1, 8)``: the vectors at steps
    ``L+1..2L`` (scored), zeros before. Training lengths ``1..T`` (one per batch; ``T=20``
    by default), splits at ``L=T``.
    """

    name: ClassVar[str] = "ntm-copy"
    description: ClassVar[str] = (
        "NTM copy: read 1..T random 8-bit vectors and a delimiter, write them back (T=20)"
    )
    shortest = 1

    def __init__(self, T: int = 20, seed: int = 0) -> None:
        self._setup(T, seed, input_size=BITS + 1, output_size=BITS)

    def scored_bits(self, T: int) -> float:
        return float(BITS * T)

    def sample(self, T: int, batch_size: int, generator: torch.Generator, split: bool) -> BitsBatch:
        seq = random_bits(generator, batch_size, T, BITS)  # (B, L, 8)
        steps = 2 * T + 1
        x = torch.zeros(batch_size, steps, BITS + 1)
        x[:, :T, :BITS] = seq
        x[:, T, BITS] = 1.0  # delimiter
        y = torch.zeros(batch_size, steps, BITS)
        y[:, T + 1 :] = seq
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        mask[:, T + 1 :] = True
        return BitsBatch(x, y, None, mask)


class NTMRepeatCopyTask(BitsTask):
    """Repeat copy (Graves et al. 2014, 4.2): read ``L`` random 8-bit vectors and a repeat
    count ``n``, write the sequence ``n`` times, then an end marker.

    Input channels: 8 bits, the delimiter (8) at step ``L``, the repeat count (9) at step
    ``L+1`` as a scalar normalised to mean 0 and variance 1 over ``1..10``. Target channels:
    8 bits and the end marker (8). Scored steps: the ``nL`` copies and the end marker
    (``L+2 .. L+2+nL``). Training: ``L`` from ``1..T`` (``T=10`` by default) and ``n`` from
    ``1..10``, one of each per batch; splits: ``L=T``, ``n`` drawn per row (rows padded to
    the longest, ``lengths`` given).
    """

    name: ClassVar[str] = "ntm-repeat-copy"
    description: ClassVar[str] = (
        "NTM repeat copy: 1..T 8-bit vectors and a count 1..10, written back that often (T=10)"
    )
    shortest = 1
    repeat_mean = (MAX_REPEATS + 1) / 2
    repeat_std = math.sqrt((MAX_REPEATS**2 - 1) / 12)  # of the uniform 1..10

    def __init__(self, T: int = 10, seed: int = 0) -> None:
        self._setup(T, seed, input_size=BITS + 2, output_size=BITS + 1)

    def scored_bits(self, T: int) -> float:
        return float((BITS + 1) * (T * self.repeat_mean + 1))

    def sample(self, T: int, batch_size: int, generator: torch.Generator, split: bool) -> BitsBatch:
        seq = random_bits(generator, batch_size, T, BITS)  # (B, L, 8)
        if split:
            repeats = torch.randint(1, MAX_REPEATS + 1, (batch_size,), generator=generator)
        else:
            n = int(torch.randint(1, MAX_REPEATS + 1, (1,), generator=generator))
            repeats = torch.full((batch_size,), n)
        lengths = T + 2 + T * repeats + 1  # (B,)
        steps = int(lengths.max())
        x = torch.zeros(batch_size, steps, BITS + 2)
        y = torch.zeros(batch_size, steps, BITS + 1)
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        x[:, :T, :BITS] = seq
        x[:, T, BITS] = 1.0  # delimiter
        x[:, T + 1, BITS + 1] = (repeats.float() - self.repeat_mean) / self.repeat_std
        for b in range(batch_size):
            n = int(repeats[b])
            start, end = T + 2, T + 2 + n * T  # the copies, then the end marker at `end`
            y[b, start:end, :BITS] = seq[b].repeat(n, 1)
            y[b, end, BITS] = 1.0
            mask[b, start : end + 1] = True
        full = bool((lengths == steps).all())
        return BitsBatch(x, y, None if full else lengths, mask)


class NTMRecallTask(BitsTask):
    """Associative recall (Graves et al. 2014, 4.3): read ``k`` items of three 6-bit
    vectors, then a query item; write the item that followed the query.

    Input channels: 6 bits, the item delimiter (6) and the query delimiter (7). Each item
    is a delimiter step and 3 vector steps; then the query delimiter, the query item (one
    of the first ``k-1``), the query delimiter, and 3 steps of zeros on which the next item
    is the (scored) target: ``4k + 8`` steps. Training: ``k`` from ``2..T`` (``T=6`` by
    default), one per batch; splits ``k=T``.
    """

    name: ClassVar[str] = "ntm-recall"
    description: ClassVar[str] = (
        "NTM associative recall: 2..T items of three 6-bit vectors, then a query (T=6)"
    )
    shortest = 2

    def __init__(self, T: int = 6, seed: int = 0) -> None:
        self._setup(T, seed, input_size=RECALL_BITS + 2, output_size=RECALL_BITS)

    def scored_bits(self, T: int) -> float:
        return float(ITEM_STEPS * RECALL_BITS)

    def sample(self, T: int, batch_size: int, generator: torch.Generator, split: bool) -> BitsBatch:
        k, width = T, ITEM_STEPS + 1
        items = random_bits(generator, batch_size, k, ITEM_STEPS, RECALL_BITS)  # (B, k, 3, 6)
        query = torch.randint(0, k - 1, (batch_size,), generator=generator)  # (B,)
        steps = k * width + 2 + ITEM_STEPS + ITEM_STEPS
        x = torch.zeros(batch_size, steps, RECALL_BITS + 2)
        for i in range(k):
            x[:, i * width, RECALL_BITS] = 1.0  # item delimiter
            x[:, i * width + 1 : (i + 1) * width, :RECALL_BITS] = items[:, i]
        rows = torch.arange(batch_size)
        q = k * width  # the query: delimiter, 3 vectors, delimiter
        x[:, q, RECALL_BITS + 1] = 1.0
        x[:, q + 1 : q + 1 + ITEM_STEPS, :RECALL_BITS] = items[rows, query]
        x[:, q + 1 + ITEM_STEPS, RECALL_BITS + 1] = 1.0
        y = torch.zeros(batch_size, steps, RECALL_BITS)
        y[:, -ITEM_STEPS:] = items[rows, query + 1]
        mask = torch.zeros(batch_size, steps, dtype=torch.bool)
        mask[:, -ITEM_STEPS:] = True
        return BitsBatch(x, y, None, mask)
