"""What the trainer, evaluation, decoding and diagnostics may assume of a model.

Every model is an ``nn.Module`` with one entry point over a task's batch::

    outputs, state = model(batch, state=None)

``batch`` is the task's ``NamedTuple`` batch (the model reads the fields it needs, e.g.
``batch.x`` and ``batch.lengths``), ``state`` the state to start from (``None``: the
model's own initial state; a language model trained with truncated BPTT gets the previous
batch's state back), ``outputs`` what the task's loss reads. Because the trainer only ever
calls ``model(batch, state)`` (through a training objective, itself one module), wrapping
either in ``DistributedDataParallel`` needs no change.

Models that generate token by token add :class:`TokenGenerator`'s ``step`` and
``teacher_tokens``; :mod:`rnnlab.decoding` and the training objectives other than teacher
forcing (scheduled sampling, professor forcing) need nothing else. Encoder-decoders add
``encode``, vec->seq generators ``initial_state(condition)`` and ``start``.

``causal`` says whether the output at step ``t`` depends only on inputs up to ``t`` (false
for a bidirectional reader), which generation and some conformance checks require.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor

State = Any


@runtime_checkable
class Model(Protocol):
    """Any rnnlab model: ``model(batch, state=None) -> (outputs, state)``."""

    causal: bool

    def __call__(self, batch: Any, state: State | None = None) -> tuple[Tensor, State]: ...


@runtime_checkable
class TokenGenerator(Protocol):
    """A model that emits one token distribution per step.

    ``step(tokens (B,), state) -> (logits (B, V), state)`` is the one-step protocol of
    :mod:`rnnlab.decoding`; ``teacher_tokens(batch, state)`` gives the tokens a
    teacher-forced run reads ``(B, T)`` (for a language model the inputs, for a decoder its
    targets shifted behind a start symbol) and the state before the first of them, so that
    stepping through them reproduces ``model(batch, state)``'s outputs.
    """

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]: ...

    def teacher_tokens(self, batch: Any, state: State | None = None) -> tuple[Tensor, State]: ...


def describe(model: Any) -> dict[str, Any]:
    """What a model says about itself in a run's ``summary.json`` (``summary_fields()``,
    e.g. an encoder-decoder's attention), or nothing."""
    fields = getattr(model, "summary_fields", None)
    return dict(fields()) if callable(fields) else {}
