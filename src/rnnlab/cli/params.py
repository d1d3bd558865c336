"""``rnnlab params``: the parameter count of a model, or the hidden size matching a count."""

from __future__ import annotations

import argparse
import json

from rnnlab.cli._common import positive_int
from rnnlab.cli.flags import add_model_flags, check_family_fields, model_fields
from rnnlab.tasks.registry import TaskOptions, build_task
from rnnlab.training.resolve import resolve_config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pa = sub.add_parser(
        "params",
        help="parameter count of a model for a task, or the hidden size matching a count",
        description="Count the parameters of the model `rnnlab train TASK` would build with "
        "these flags; with --target N, find the hidden size whose count is closest to N "
        "(to compare models at equal parameter count).",
    )
    pa.add_argument("task", help="task name (see `rnnlab list`)")
    add_model_flags(
        pa,
        only={
            "cell",
            "stack",
            "cell_options",
            "dilations",
            "hidden_size",
            "num_layers",
            "deep_output",
        },
    )
    pa.add_argument("--target", type=positive_int, help="find the hidden size for this count")
    pa.add_argument("--T", type=positive_int, help="sequence length / delay (copy, adding)")
    pa.add_argument("--data", help="data file or folder (dataset tasks; sets the vocabulary)")
    pa.add_argument("--download", action="store_true", help="download missing data files")
    pa.add_argument("--json", action="store_true", help="one line of JSON")
    pa.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from rnnlab.models.params import count_model_parameters, hidden_size_for

    options = TaskOptions(T=args.T, data=args.data, download=args.download)
    task = build_task(args.task, options)
    model = model_fields(args)
    check_family_fields(model.get("model") or task.defaults.get("model"), model)
    config = resolve_config(args.task, task, options, model).model
    if args.target is not None:
        if "hidden_size" in model:
            raise ValueError("give --hidden (count its parameters) or --target, not both")
        hidden = hidden_size_for(config, task.spec, args.target)
        config = dataclasses.replace(config, hidden_size=hidden)
    params = count_model_parameters(config, task.spec)
    name = getattr(config, "name", type(config).__name__)
    hidden_size = getattr(config, "hidden_size", None)
    num_layers = getattr(config, "num_layers", 1)
    result = {
        "task": args.task,
        "model": name,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "params": params,
    }
    if args.json:
        print(json.dumps(result))
    else:
        target = "" if args.target is None else f" (target {args.target:,})"
        print(
            f"{args.task} / {name}: hidden {hidden_size} x {num_layers} "
            f"layer(s), {params:,} parameters{target}"
        )
    return 0
