"""``rnnlab train``: train a model on a task into a run folder (or resume one)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rnnlab.cli._common import positive_int
from rnnlab.cli.flags import (
    add_model_flags,
    add_train_flags,
    config_from_flags,
    option_pair,
    task_options,
)
from rnnlab.tasks.registry import build_task
from rnnlab.training.config import RunConfig, TrainConfig
from rnnlab.training.verdict import baseline_verdict


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser("train", help="train a model on a task into a run folder")
    t.add_argument("task", help="task name (see `rnnlab list`)")
    t.add_argument("--out", help="run folder (default runs/<task>-<model>-<time>)")
    add_model_flags(t)
    add_train_flags(t)
    t.add_argument("--T", type=positive_int, help="sequence length / delay (copy, adding)")
    t.add_argument("--data", help="data file or folder (dataset tasks)")
    t.add_argument(
        "--task-option",
        action="append",
        type=option_pair,
        metavar="NAME=VALUE",
        help="a task's own option (repeatable), e.g. mqar pairs=16",
    )
    t.add_argument("--download", action="store_true", help="download missing data files")
    t.add_argument("--cache-dir", help="download cache (default ~/.cache/rnnlab)")
    t.add_argument("--src", help="translate: source language (en, de, fr; default en)")
    t.add_argument("--tgt", help="translate: target language (default de; fr for Tatoeba)")
    t.add_argument(
        "--short",
        action="store_true",
        help="translate: Tatoeba pairs of the PyTorch tutorial's short-sentence filter",
    )
    t.add_argument("--task-id", help="babi: task 1..20, or all (joint training); default 1")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.training.loop import train
    from rnnlab.training.run_folder import read_config

    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out <run dir> of the run to continue")
        raw = read_config(args.out)
        config = RunConfig.from_dict(raw)
        if args.task != config.task:
            raise ValueError(f"run {args.out} trained task {config.task!r}, not {args.task!r}")
        extend = {f: getattr(args, f"train_{f}") for f in ("steps", "max_time")}
        extend = {f: v for f, v in extend.items() if v}
        if extend:
            fields = {**config.train.__dict__, **extend}
            config = RunConfig(
                config.task, config.task_options, config.model, TrainConfig(**fields)
            )
        task = build_task(config.task, config.task_options)
    else:
        task = build_task(args.task, task_options(args))
        config = config_from_flags(args.task, task, args)
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / f"{args.task}-{_model_name(config)}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    if not args.resume and (out / "config.json").exists() and not args.overwrite:
        raise ValueError(f"run folder {out} already holds a run; use --resume or --overwrite")
    summary = train(config, out, resume=args.resume, progress=not args.quiet, task=task)
    _print_summary(summary, out)
    return 0


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    metric = summary["main_metric"]
    test = summary["metrics"]["test"]
    val = summary["metrics"]["val"]
    baseline = summary["baseline"]
    base = "" if baseline is None else f" (baseline {baseline:.4g})"
    print(
        f"{summary['task']} / {summary['model']}: test {metric} {test[metric]:.4f}, "
        f"val {metric} {val[metric]:.4f}{base}; {summary['steps']} steps in "
        f"{summary['wall_time_s']:.1f} s ({summary['stopped']})"
    )
    verdict = baseline_verdict(summary)
    if verdict:
        print(verdict)
    if "note" in summary:
        print(f"note: {summary['note']}")
    print(f"results: {out}/summary.json")
    print(f"metrics: {out}/metrics.jsonl  weights: {out}/best.safetensors")


def _model_name(config: RunConfig) -> str:
    return str(getattr(config.model, "name", type(config.model).__name__))
