"""``rnnlab list``: tasks and models with one-line descriptions."""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Any

from rnnlab.cells.registry import cell_entry, cell_names
from rnnlab.models.registry import family_names, model_family
from rnnlab.models.rnn import STACKS
from rnnlab.tasks.registry import task_entry, task_names


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ls = sub.add_parser("list", help="tasks and models with one-line descriptions")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    tasks = {name: task_entry(name).description for name in task_names()}
    models = {name: cell_entry(name).description for name in cell_names()}
    models.update({name: text for name, text in STACKS.items() if name != "plain"})
    models = dict(sorted(models.items()))
    families = {name: model_family(name).description for name in family_names()}
    if args.json:
        options = {name: _options(name) for name in cell_names()}
        print(
            json.dumps(
                {"tasks": tasks, "models": models, "families": families, "cell_options": options}
            )
        )
        return 0
    print("tasks:")
    for name, text in tasks.items():
        print(f"  {name:<12} {text}")
    print("models (cells):")
    for name, text in models.items():
        print(f"  {name:<12} {text}")
    print("model families (--model NAME):")
    for name, text in families.items():
        print(f"  {name:<12} {text}")
    return 0


def _options(cell: str) -> dict[str, Any]:
    """A cell's builder options and their defaults (``--cell-option NAME=VALUE``)."""
    return {
        k: (None if v is inspect.Parameter.empty else v if _jsonable(v) else repr(v))
        for k, v in cell_entry(cell).options().items()
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True
