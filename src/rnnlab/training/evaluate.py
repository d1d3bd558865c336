"""Evaluation of a model on a task's fixed split."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.tasks.base import Batch, Task


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


def evaluate(
    model: nn.Module, task: Task, split: str, batch_size: int = 500, device: str = "cpu"
) -> dict[str, float]:
    """``loss`` and the task's metrics on ``split`` (``val`` or ``test``).

    Language models (``kind`` lm) are read over the split's contiguous streams with the
    state carried; ``loss`` is in nats per token and ``bpc`` = ``loss / ln 2``. Vec->seq
    generators are teacher-forced on the split's target tokens; the task may add metrics of
    generated sequences (:meth:`Task.model_metrics`).
    """
    data = task.split(split)
    if task.kind == "lm":
        loss = evaluate_streams(model, data, getattr(task, "T", 256), device)
        return {"loss": loss, "bpc": loss / math.log(2)}
    out = predict_batches(model, data, batch_size, device, teacher_forced=task.kind == "vec2seq")
    return {**task.metrics(out, data), **task.model_metrics(model, split, device)}
