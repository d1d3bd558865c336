"""Evaluation of a model on a task's fixed split: the task measures, the model runs.

:class:`ModelEvaluator` is the :class:`~rnnlab.tasks.spec.Evaluator` the tasks see: it runs
the model (in eval mode, without gradients) over a split in chunks, over contiguous streams
with its state carried, decodes sources (greedy or beam search) and generates from
conditions. Each task's :meth:`~rnnlab.tasks.base.Task.evaluate` picks what it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from rnnlab._tree import map_state
from rnnlab.cells.base import decoding
from rnnlab.decoding.conditional import ConditionalModel, generate
from rnnlab.decoding.sampling import sample
from rnnlab.decoding.seq2seq import decode_sources
from rnnlab.models.base import TokenGenerator
from rnnlab.tasks.base import Batch, Task, batch_length, batch_rows, batch_to


class ModelEvaluator:
    """A model bound to a device, a chunk size and decoding settings.

    Args:
        model: any rnnlab model (``model(batch, state) -> (outputs, state)``).
        batch_size: rows per forward pass.
        device: where the model lives.
        beam_size: encoder-decoders: beam width of :meth:`decode` (1: greedy).
        length_penalty: beam search's GNMT length penalty alpha.
        progress: show a progress bar (named ``label``) over the chunks of
            :meth:`outputs` and :meth:`streams`.
    """

    def __init__(
        self,
        model: nn.Module,
        batch_size: int = 500,
        device: str = "cpu",
        beam_size: int = 1,
        length_penalty: float = 0.6,
        progress: bool = False,
        label: str = "eval",
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.progress = progress
        self.label = label

    def _chunks(self, total: int, size: int) -> Iterator[int]:
        starts = range(0, total, size)
        return iter(tqdm(starts, desc=self.label, leave=False, disable=not self.progress))

    def outputs(self, data: Any) -> Iterator[tuple[Any, Tensor]]:
        for start in self._chunks(batch_length(data), self.batch_size):
            chunk = batch_to(batch_rows(data, slice(start, start + self.batch_size)), self.device)
            out, _ = self.model(chunk)
            yield chunk, out

    def streams(self, data: Any, chunk: int) -> Iterator[tuple[Any, Tensor]]:
        state = None
        for start in self._chunks(data.x.shape[1], chunk):
            steps = map_state(lambda t: t[:, start : start + chunk], data)  # noqa: B023
            piece = batch_to(steps, self.device)
            out, state = self.model(piece, state)
            yield piece, out

    def decode(
        self, x: Tensor, lengths: Tensor, max_length: int, beam_size: int | None = None
    ) -> list[list[int]]:
        beam = self.beam_size if beam_size is None else beam_size
        decoded = decode_sources(
            self.model,
            x.to(self.device),
            lengths,
            max_length,
            beam_size=beam,
            length_penalty=self.length_penalty,
            batch_size=max(1, self.batch_size // beam),  # beam search runs B * K rows
        )
        return [list(t) for t in decoded.tokens]

    def generate(
        self,
        conditions: Tensor,
        length: int,
        *,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        model = self.model
        if not isinstance(model, ConditionalModel):
            raise ValueError(
                "generating from conditions needs a vec->seq model with initial_state("
                f"condition), start(batch) and step(tokens, state), got {type(model).__name__}"
            )
        return generate(
            model,
            conditions.to(self.device),
            length,
            greedy_decoding=greedy,
            generator=generator,
        )

    def continuation(
        self, prompt: Tensor, length: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        model = self.model
        if not isinstance(model, TokenGenerator):
            raise ValueError(
                f"continuing a text needs a language model with step(tokens, state), got "
                f"{type(model).__name__}"
            )
        ids = prompt.to(self.device).unsqueeze(0)  # (1, P)
        limit = getattr(model, "generation_limit", None)  # a context that cannot slide
        if limit is not None:
            length = min(length, limit - ids.shape[1])
            if length < 1:
                return torch.zeros(0, dtype=torch.long, device=self.device)
        with evaluating(self.model), decoding(self.model):
            _, state = model.teacher_tokens(Batch(ids))  # the state before the prompt
            if ids.shape[1] > 1:  # read the prompt but its last token, which starts sampling
                _, state = self.model(Batch(ids[:, :-1]), state)
            return sample(model.step, state, ids[:, -1], length, generator=generator)[0]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def evaluate(
    model: nn.Module,
    task: Task,
    split: str,
    batch_size: int = 500,
    device: str = "cpu",
    beam_size: int = 1,
    length_penalty: float = 0.6,
    progress: bool = False,
) -> dict[str, float]:
    """``loss`` and the task's metrics on ``split`` (``val`` or ``test``), as the task
    measures them (:meth:`~rnnlab.tasks.base.Task.evaluate`): outputs over the split for
    most tasks, contiguous streams with the state carried for language models, decoded
    outputs (greedy, or beam search of ``beam_size``) for encoder-decoders, and generated
    sequences where the task scores them. ``progress`` shows a bar over the split."""
    evaluator = ModelEvaluator(
        model, batch_size, device, beam_size, length_penalty, progress, f"eval {split}"
    )
    with evaluating(model):
        return task.evaluate(split, evaluator)
