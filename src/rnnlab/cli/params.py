"""``rnnlab params``: the parameter count of a model, or the hidden size matching a count."""

from __future__ import annotations

import argparse
import json

from rnnlab.cli._common import positive_int, positive_ints
from rnnlab.cli.flags import PARAMS_FLAGS
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
    pa.add_argument("--model", help="cell name; default: the task's")
    pa.add_argument("--cell", help="the cell inside a stack model such as dilated")
    pa.add_argument("--dilations", type=positive_ints, help="dilated: per-layer dilations")
    pa.add_argument("--hidden", type=positive_int, help="hidden units per layer")
    pa.add_argument("--layers", type=positive_int, help="stacked layers")
    pa.add_argument("--skip-connections", action="store_true", default=None)
    pa.add_argument("--deep-output", type=positive_int)
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
    model = {f: getattr(args, flag) for flag, f in PARAMS_FLAGS.items()}
    config = resolve_config(
        args.task, task, options, {k: v for k, v in model.items() if v is not None}
    ).model
    sizes = (task.kind, task.input_size, task.output_size)
    if args.target is not None:
        if args.hidden is not None:
            raise ValueError("give --hidden (count its parameters) or --target, not both")
        hidden = hidden_size_for(config, *sizes, args.target)
        config = dataclasses.replace(config, hidden_size=hidden)
    params = count_model_parameters(config, *sizes)
    name = config.cell + (f"({config.inner_cell})" if config.inner_cell else "")
    result = {
        "task": args.task,
        "model": name,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "params": params,
    }
    if args.json:
        print(json.dumps(result))
    else:
        target = "" if args.target is None else f" (target {args.target:,})"
        print(
            f"{args.task} / {name}: hidden {config.hidden_size} x {config.num_layers} "
            f"layer(s), {params:,} parameters{target}"
        )
    return 0
