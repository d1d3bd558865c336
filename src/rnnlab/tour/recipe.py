"""A training run of the tour: the fields ``rnnlab train`` would get, the run it trains
in-process (:func:`rnnlab.training.train`) and the command that reproduces it.

The configuration is resolved exactly as the command line resolves it
(:func:`rnnlab.training.resolve.resolve_config`: the given fields, else the task's
defaults), so ``Recipe.command(out)`` pasted into a shell trains the same run.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.models.registry import family_names, model_family
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions, build_task
from rnnlab.training.config import RunConfig, TrainConfig
from rnnlab.training.loop import train
from rnnlab.training.resolve import resolve_config


@dataclass(frozen=True)
class Recipe:
    """``rnnlab train TASK`` with these model and training fields.

    Attributes:
        task: the task's name.
        model: model-family fields by field name (``{"model": "lstm", "hidden_size": 32}``).
        train: :class:`~rnnlab.training.TrainConfig` fields by name (``steps``, ``seed``...).
        T: the task's length or delay (``--T``).
        data: a data file or folder (``--data``).
        task_id: bAbI's task (``--task-id``).
        src, tgt: a translation's languages (``--src``, ``--tgt``).
        extras: the task's own options (``--task-option NAME=VALUE``).
    """

    task: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    T: int | None = None
    data: str | None = None
    task_id: str | None = None
    src: str | None = None
    tgt: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def options(self) -> TaskOptions:
        return TaskOptions(
            T=self.T,
            data=self.data,
            seed=int(self.train.get("seed", 0)),
            task_id=self.task_id,
            src=self.src,
            tgt=self.tgt,
            extras=dict(self.extras),
        )

    def build_task(self) -> Task:
        return build_task(self.task, self.options())

    def config(self, task: Task | None = None) -> RunConfig:
        task = task if task is not None else self.build_task()
        return resolve_config(self.task, task, self.options(), dict(self.model), dict(self.train))

    def with_train(self, **fields: Any) -> Recipe:
        return dataclasses.replace(self, train={**self.train, **fields})

    def with_model(self, **fields: Any) -> Recipe:
        return dataclasses.replace(self, model={**self.model, **fields})

    def command(self, out: str | Path) -> str:
        """The ``rnnlab train`` command line that trains this run into ``out``."""
        words = ["rnnlab", "train", self.task]
        if self.T is not None:
            words += ["--T", str(self.T)]
        if self.data is not None:
            words += ["--data", self.data]
        if self.task_id is not None:
            words += ["--task-id", self.task_id]
        for flag, lang in (("--src", self.src), ("--tgt", self.tgt)):
            if lang is not None:
                words += [flag, lang]
        for name, value in self.extras.items():
            words += ["--task-option", f"{name}={_text(value)}"]
        if "model" in self.model:
            words += ["--model", str(self.model["model"])]
        for name, value in self.model.items():
            if name != "model":
                words += _flag_words(_model_field(name), value)
        for name, value in self.train.items():
            words += _flag_words(TrainConfig.__dataclass_fields__[name], value)
        words += ["--out", str(out)]
        return " ".join(shlex.quote(w) for w in words)


def _model_field(name: str) -> dataclasses.Field[Any]:
    for family in family_names():
        fields = model_family(family).config.__dataclass_fields__
        if name in fields:
            return fields[name]
    raise ValueError(f"no model family has a field {name!r}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def _flag_words(f: dataclasses.Field[Any], value: Any) -> list[str]:
    flag, negative = f.metadata.get("flag"), f.metadata.get("negative")
    if value is None or value is False:
        if negative:
            return [f"--{negative}"]
        if value is False and f.default is False:
            return []
        raise ValueError(f"field {f.name}={value!r} has no command-line flag")
    if not flag:
        raise ValueError(f"field {f.name} has no command-line flag")
    if value is True:
        return [f"--{flag}"]
    if isinstance(value, dict):
        words: list[str] = []
        for k, v in value.items():
            words += [f"--{flag}", f"{k}={_text(v)}"]
        return words
    return [f"--{flag}", _text(value)]


@dataclass
class TrainedRecipe:
    """What :func:`run_recipe` gives back: the run folder, its summary, the command."""

    recipe: Recipe
    run_dir: Path
    summary: dict[str, Any]
    command: str

    @property
    def metric(self) -> str:
        return str(self.summary["main_metric"])

    def test(self, name: str | None = None) -> float:
        return float(self.summary["metrics"]["test"][name or self.metric])

    @property
    def params(self) -> int:
        return int(self.summary.get("params", 0))

    @property
    def cut_by_time(self) -> bool:
        return str(self.summary.get("stopped", "")) == "max_time"


def run_recipe(recipe: Recipe, runs_dir: Path, name: str) -> TrainedRecipe:
    """Train ``recipe`` in-process into ``runs_dir/name`` (replaced if it exists)."""
    out = Path(runs_dir) / name
    if out.exists():
        import shutil

        shutil.rmtree(out)
    task = recipe.build_task()
    config = recipe.config(task)
    summary = train(config, out, progress=False, task=task)
    return TrainedRecipe(recipe, out, summary, recipe.command(f"runs/{name}"))


def count_params(recipe: Recipe, task: Task | None = None) -> int:
    """Parameters of the model ``recipe`` builds (without training it)."""
    from rnnlab.models.registry import build_model

    task = task if task is not None else recipe.build_task()
    model = build_model(recipe.config(task).model, task.spec)
    return sum(p.numel() for p in model.parameters())


def match_params(recipe: Recipe, target: int, low: int = 2, high: int = 2048) -> Recipe:
    """``recipe`` with the ``hidden_size`` whose parameter count is nearest ``target``
    (parameters grow with the hidden size, so a bisection finds it)."""
    task = recipe.build_task()

    def params(h: int) -> int:
        return count_params(recipe.with_model(hidden_size=h), task)

    while low < high:
        mid = (low + high) // 2
        if params(mid) < target:
            low = mid + 1
        else:
            high = mid
    best = min((max(2, low - 1), low), key=lambda h: abs(params(h) - target))
    return recipe.with_model(hidden_size=best)
