"""What a task tells the rest of rnnlab about itself, and what it asks of a trained model.

A :class:`TaskSpec` describes a task's interface in data: the shape of model it needs
(``kind``, which model families look up their builder by), its sizes, its main metric and
baseline, and what a prediction is. It is saved in every run folder (``config.json``:
``task_info``), so a trained model can be rebuilt and used without the task's data.

An :class:`Evaluator` is how a task measures a model without importing models or decoding:
the trainer passes one (bound to the model, the device and the decoding settings) to
:meth:`rnnlab.tasks.base.Task.evaluate`, and the task picks what it needs: model outputs
over a split, outputs over contiguous streams with the state carried, decoded sources, or
sequences generated from conditions.

Kinds (the model's shape; tasks set ``kind``):

* ``classify`` / ``regress``: seq->vec, ``(B, T, D) -> (B, C)`` logits / ``(B, K)`` values.
* ``tag``: aligned seq->seq, ``(B, T, D) -> (B, T, C)`` logits.
* ``lm``: next-token prediction over token ids, ``(B, T) -> (B, T, V)``.
* ``vec2seq``: tokens generated from a condition vector ``(B, C)``.
* ``seq2seq``: encoder-decoder from source ids to target ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

KINDS = ("classify", "regress", "tag", "lm", "vec2seq", "seq2seq")
PREDICTIONS = ("argmax", "values")

# runs written before the spec was stored: what ``predict`` returned for each kind
_LEGACY_PREDICTION = {"regress": "values"}


@dataclass(frozen=True)
class TaskSpec:
    """A task's interface, as stored in a run folder's ``task_info``.

    Attributes:
        kind: the model shape the task needs (see the module docstring).
        input_size: features per step, or the input vocabulary size of token tasks, or
            the condition's width (vec2seq).
        output_size: classes, values, or the output vocabulary size.
        main_metric: the ``val`` figure that picks the best checkpoint.
        higher_is_better: the main metric's direction.
        baseline: the task's reference value of its main metric (``None``: none known).
        prediction: what ``rnnlab.load(run).predict`` returns from the raw outputs:
            ``argmax`` (class or token ids) or ``values`` (the outputs themselves).
    """

    kind: str
    input_size: int
    output_size: int
    main_metric: str = "loss"
    higher_is_better: bool = False
    baseline: float | None = None
    prediction: str = "argmax"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown task kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(
                f"unknown prediction {self.prediction!r}; expected one of {', '.join(PREDICTIONS)}"
            )

    def predict(self, outputs: Tensor) -> Tensor:
        """Predictions from raw model outputs: ``outputs.argmax(-1)`` or ``outputs``."""
        return outputs.argmax(-1) if self.prediction == "argmax" else outputs

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, info: dict[str, Any]) -> TaskSpec:
        """The spec stored in ``task_info`` (runs written before ``prediction`` was stored
        get their kind's behaviour of the time)."""
        try:
            kind = str(info["kind"])
            return cls(
                kind=kind,
                input_size=int(info["input_size"]),
                output_size=int(info["output_size"]),
                main_metric=str(info["main_metric"]),
                higher_is_better=bool(info["higher_is_better"]),
                baseline=info.get("baseline"),
                prediction=str(info.get("prediction", _LEGACY_PREDICTION.get(kind, "argmax"))),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid task_info: {exc}") from None


class Evaluator(Protocol):
    """A model bound to a device and decoding settings, as tasks see it (implemented by
    :class:`rnnlab.training.evaluate.ModelEvaluator`). Every method runs without gradients
    with the model in eval mode."""

    device: str
    beam_size: int

    def outputs(self, data: Any) -> Iterator[tuple[Any, Tensor]]:
        """``(chunk, outputs)`` over consecutive row chunks of the batch ``data``: the chunk
        on the evaluator's device and the model's outputs on it."""
        ...

    def streams(self, data: Any, chunk: int) -> Iterator[tuple[Any, Tensor]]:
        """``(piece, outputs)`` over ``chunk``-step pieces of contiguous streams
        ``data (S, N)``, the model's state carried from piece to piece."""
        ...

    def decode(
        self, x: Tensor, lengths: Tensor, max_length: int, beam_size: int | None = None
    ) -> list[list[int]]:
        """Decoded target ids of each source row (beam search of ``beam_size``, by default
        the evaluator's; 1: greedy), without ``BOS``/``EOS``."""
        ...

    def generate(
        self,
        conditions: Tensor,
        length: int,
        *,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``(N, length)`` tokens generated from ``conditions (N, C)`` (sampled at
        temperature 1 unless ``greedy``)."""
        ...

    def continuation(
        self, prompt: Tensor, length: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """``(length,)`` tokens a language model samples (temperature 1) after reading the
        token ids ``prompt (P,)``, ``P >= 1``; fewer when the model has a
        ``generation_limit`` (a context of absolute positions) that ``P + length`` passes."""
        ...
