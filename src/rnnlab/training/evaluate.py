"""Evaluation of a model on a task's fixed split."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.decoding.conditional import ConditionalModel, generate
from rnnlab.decoding.seq2seq import decode_sources
from rnnlab.tasks.base import IGNORE_INDEX, Batch, GenerateFn, Task
from rnnlab.tasks.seq2seq import Seq2SeqTask


def predict_batches(
    model: nn.Module, data: Batch, batch_size: int, device: str, teacher_forced: bool = False
) -> torch.Tensor:
    """Model outputs for every row of ``data``, computed in chunks, on the CPU.

    ``teacher_forced``: the model reads ``(x, y)`` (a vec->seq generator given its condition
    and target tokens) rather than ``(x, lengths)``."""
    outputs = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            chunk = data.rows(slice(start, start + batch_size)).to(device)
            second = chunk.y if teacher_forced else chunk.lengths
            outputs.append(model(chunk.x, second).cpu())
    model.train(was_training)
    return torch.cat(outputs)


def evaluate_streams(model: nn.Module, data: Batch, chunk: int, device: str) -> float:
    """Mean next-token cross-entropy (nats) over contiguous streams ``data.x (S, N)``, read
    ``chunk`` steps at a time with the state carried from chunk to chunk (every position is
    predicted from its whole stream prefix, as at generation time)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    state = None
    with torch.no_grad():
        for start in range(0, data.x.shape[1], chunk):
            piece = Batch(data.x[:, start : start + chunk], data.y[:, start : start + chunk])
            piece = piece.to(device)
            logits, state = model.forward_with_state(piece.x, state)  # type: ignore[operator]
            total += float(
                F.cross_entropy(logits.flatten(0, 1), piece.y.flatten(), reduction="sum")
            )
            count += piece.y.numel()
    model.train(was_training)
    return total / max(1, count)


def evaluate_seq2seq(
    model: nn.Module,
    task: Seq2SeqTask,
    split: str,
    batch_size: int = 500,
    device: str = "cpu",
    beam_size: int = 1,
    length_penalty: float = 0.6,
) -> dict[str, float]:
    """An encoder-decoder on ``split``: the teacher-forced ``loss`` (nats per target token)
    and ``token_accuracy``, then ``task.score`` of the decoded outputs (greedy, or beam
    search of ``beam_size``). With ``beam_size > 1`` the greedy figures are added too,
    prefixed ``greedy_``."""
    data = task.split(split)
    was_training = model.training
    model.eval()
    total, hits, count = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            chunk = data.rows(slice(start, start + batch_size)).to(device)
            logits = model(chunk.x, chunk.lengths, chunk.y)
            real = chunk.y != IGNORE_INDEX
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1),
                    chunk.y.flatten(),
                    ignore_index=IGNORE_INDEX,
                    reduction="sum",
                )
            )
            hits += int(((logits.argmax(-1) == chunk.y) & real).sum())
            count += int(real.sum())
    model.train(was_training)
    result = {"loss": total / max(1, count), "token_accuracy": hits / max(1, count)}
    assert data.lengths is not None
    x, lengths = data.x.to(device), data.lengths
    # beam search runs batch_size * beam_size rows per step
    chunk_size = max(1, batch_size // beam_size)
    decoded = decode_sources(
        model,
        x,
        lengths,
        task.max_target_length,
        beam_size=beam_size,
        length_penalty=length_penalty,
        batch_size=chunk_size,
    )
    result.update(task.score(decoded.tokens, split))
    if beam_size > 1:
        greedy = decode_sources(model, x, lengths, task.max_target_length, batch_size=batch_size)
        result.update({f"greedy_{k}": v for k, v in task.score(greedy.tokens, split).items()})
    return result


def generate_fn(model: nn.Module) -> GenerateFn:
    """The :class:`~rnnlab.tasks.base.GenerateFn` that a task's ``model_metrics`` generates
    with: :func:`rnnlab.decoding.conditional.generate` over ``model`` (checked when called,
    so building it for a model that generates nothing costs nothing)."""

    def run(
        conditions: Tensor,
        length: int,
        *,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if not isinstance(model, ConditionalModel):
            raise ValueError(
                "generating from conditions needs a vec->seq model with initial_state("
                f"condition), start(batch) and step(tokens, state), got {type(model).__name__}"
            )
        return generate(model, conditions, length, greedy_decoding=greedy, generator=generator)

    return run


def evaluate(
    model: nn.Module,
    task: Task,
    split: str,
    batch_size: int = 500,
    device: str = "cpu",
    beam_size: int = 1,
    length_penalty: float = 0.6,
) -> dict[str, float]:
    """``loss`` and the task's metrics on ``split`` (``val`` or ``test``).

    Language models (``kind`` lm) are read over the split's contiguous streams with the
    state carried; ``loss`` is in nats per token and ``bpc`` = ``loss / ln 2``. Vec->seq
    generators are teacher-forced on the split's target tokens; the task may add metrics of
    generated sequences (:meth:`Task.model_metrics`).
    Encoder-decoders (``kind`` seq2seq) are scored on decoded outputs, greedy or with beam
    search of ``beam_size`` (:func:`evaluate_seq2seq`).
    """
    data = task.split(split)
    if task.kind == "lm":
        loss = evaluate_streams(model, data, getattr(task, "T", 256), device)
        return {"loss": loss, "bpc": loss / math.log(2)}
    if isinstance(task, Seq2SeqTask):
        return evaluate_seq2seq(model, task, split, batch_size, device, beam_size, length_penalty)
    out = predict_batches(model, data, batch_size, device, teacher_forced=task.kind == "vec2seq")
    return {**task.metrics(out, data), **task.model_metrics(generate_fn(model), split, device)}
