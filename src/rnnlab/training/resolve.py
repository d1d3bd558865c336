"""Resolving a run's configuration: explicit choices, else the task's defaults, else the
library's."""

from __future__ import annotations

from typing import Any

from rnnlab.models.build import ModelConfig, check_model
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.config import RunConfig, TrainConfig

# keys of Task.training_defaults() that configure the model; the rest configure training
_MODEL_KEYS = {
    "model": "cell",
    "hidden_size": "hidden_size",
    "num_layers": "num_layers",
    "bidirectional": "bidirectional",
    "dropout": "dropout",
    "residual": "residual",
    "chrono_delay": "chrono_delay",
    "inner_cell": "inner_cell",
    "dilations": "dilations",
    "skip_connections": "skip_connections",
    "deep_output": "deep_output",
    "feed_condition": "feed_condition",
    "embedding_size": "embedding_size",
    "attention": "attention",
    "input_feeding": "input_feeding",
}


def resolve_config(
    task_name: str,
    task: Task,
    options: TaskOptions,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
) -> RunConfig:
    """A :class:`RunConfig` from explicit ``model``/``train`` fields (``ModelConfig`` and
    ``TrainConfig`` names), filling the rest from ``task.training_defaults(cell)``.

    Example::

        task = build_task("copy", TaskOptions(T=200))
        config = resolve_config("copy", task, TaskOptions(T=200), {"cell": "gru"})
    """
    model = dict(model or {})
    train = dict(train or {})
    cell = model.get("cell") or task.defaults.get("model") or ModelConfig.cell
    check_model(cell, model.get("inner_cell"))  # an unknown name -> one-line error
    model_fields: dict[str, Any] = {}
    train_fields: dict[str, Any] = {}
    for key, value in task.training_defaults(cell).items():
        if key in _MODEL_KEYS:
            model_fields[_MODEL_KEYS[key]] = value
        elif key in TrainConfig.__dataclass_fields__:
            train_fields[key] = value
        else:
            raise ValueError(f"task {task_name!r} has an unknown default {key!r}")
    model_fields.update(model)
    model_fields["cell"] = cell
    train_fields.update(train)
    if model_fields.get("dilations") is not None:
        model_fields["dilations"] = tuple(model_fields["dilations"])
        if model.get("num_layers") is None:  # the dilations say how deep the stack is
            model_fields["num_layers"] = len(model_fields["dilations"])
    return RunConfig(
        task=task_name,
        task_options=options,
        model=ModelConfig(**model_fields),
        train=TrainConfig(**train_fields),
    )
