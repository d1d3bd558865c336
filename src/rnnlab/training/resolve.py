"""Resolving a run's configuration: explicit choices, else the task's defaults, else the
library's."""

from __future__ import annotations

import dataclasses
from typing import Any

from rnnlab.models.registry import family_names, model_family, resolve_model_name
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.config import UNBOUNDED_STEPS, RunConfig, TrainConfig

DEFAULT_MODEL = "gru"


def resolve_config(
    task_name: str,
    task: Task,
    options: TaskOptions,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
) -> RunConfig:
    """A :class:`RunConfig` from explicit ``model`` fields (``"model"``: a family or a name
    it claims, such as a cell, plus the family config's fields) and ``train`` fields
    (:class:`TrainConfig`'s), the rest filled from ``task.training_defaults(name)``.

    A task default that is a field of neither the chosen family's config nor
    :class:`TrainConfig` is a recipe for another family and is left out.

    Example::

        task = build_task("copy", TaskOptions(T=200))
        config = resolve_config("copy", task, TaskOptions(T=200), {"model": "gru"})
    """
    given = dict(model or {})
    name = given.pop("model", None) or task.defaults.get("model") or DEFAULT_MODEL
    family, shorthand = resolve_model_name(str(name))
    model_keys = {f.name for f in dataclasses.fields(family.config)}
    model_fields: dict[str, Any] = {}
    train_fields: dict[str, Any] = {}
    for key, value in task.training_defaults(str(name)).items():
        if key in model_keys:
            model_fields[key] = value
        elif key in TrainConfig.__dataclass_fields__:
            train_fields[key] = value
        elif key != "model" and not _known_elsewhere(key):
            raise ValueError(f"task {task_name!r} has an unknown default {key!r}")
    for key, value in shorthand.items():
        if key in given and given[key] != value:
            raise ValueError(
                f"model {name!r} is {key}={value!r}, which {key}={given[key]!r} contradicts; "
                f"give --model {family.name} (or a stack such as dilated) with that {key}"
            )
    model_fields.update(shorthand)
    model_fields.update(given)
    complete = getattr(family.config, "complete", None)
    if callable(complete):
        model_fields = complete(model_fields, set(given) | set(shorthand))
    train_fields.update(train or {})
    given_train = train or {}
    if given_train.get("max_time") is not None and "steps" not in given_train:
        # a time budget the caller chose is the budget: the task's default steps do not cut it
        train_fields["steps"] = UNBOUNDED_STEPS
    return RunConfig(
        task=task_name,
        task_options=options,
        model=family.make_config(model_fields),
        train=TrainConfig(**train_fields),
    )


def _known_elsewhere(key: str) -> bool:
    """Whether ``key`` is an option of some registered model family."""
    return any(
        key in {f.name for f in dataclasses.fields(model_family(n).config)} for n in family_names()
    )
