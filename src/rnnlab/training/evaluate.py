"""Evaluation of a model on a task's fixed split."""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.tasks.base import Batch, Task


def predict_batches(model: nn.Module, data: Batch, batch_size: int, device: str) -> torch.Tensor:
    """Model outputs for every row of ``data``, computed in chunks, on the CPU."""
    outputs = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            chunk = data.rows(slice(start, start + batch_size)).to(device)
            outputs.append(model(chunk.x, chunk.lengths).cpu())
    model.train(was_training)
    return torch.cat(outputs)


def evaluate(
    model: nn.Module, task: Task, split: str, batch_size: int = 500, device: str = "cpu"
) -> dict[str, float]:
    """``loss`` and the task's metrics on ``split`` (``val`` or ``test``)."""
    data = task.split(split)
    out = predict_batches(model, data, batch_size, device)
    return task.metrics(out, data)
