"""``rnnlab list``: tasks and models with one-line descriptions."""

from __future__ import annotations

import argparse
import json

from rnnlab.cells.registry import cell_entry, cell_names
from rnnlab.models.build import STACKS
from rnnlab.tasks.registry import task_entry, task_names


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ls = sub.add_parser("list", help="tasks and models with one-line descriptions")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    tasks = {name: task_entry(name).description for name in task_names()}
    models = {name: cell_entry(name).description for name in cell_names()}
    models.update(STACKS)
    models = dict(sorted(models.items()))
    if args.json:
        print(json.dumps({"tasks": tasks, "models": models}))
        return 0
    print("tasks:")
    for name, text in tasks.items():
        print(f"  {name:<12} {text}")
    print("models (cells):")
    for name, text in models.items():
        print(f"  {name:<12} {text}")
    return 0
