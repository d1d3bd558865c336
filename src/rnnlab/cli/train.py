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
    flag_of,
    given_fields,
    model_fields,
    option_pair,
    task_options,
)
from rnnlab.models.registry import family_of, resolve_model_name
from rnnlab.tasks.registry import build_task
from rnnlab.training.config import RESUMABLE_FIELDS, RunConfig, TrainConfig
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
    t.add_argument(
        "--seeds",
        type=positive_int,
        help="train N seeds (--seed, --seed+1, ...) into OUT/seeds/ and keep the best on val "
        "as OUT (table in OUT/seeds.json)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.training.distributed import is_main_process, world_from_env
    from rnnlab.training.loop import train
    from rnnlab.training.run_folder import read_config
    from rnnlab.training.seeds import SEEDS_DIR, SEEDS_FILE, first_seed_folder, train_seeds

    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out <run dir> of the run to continue")
        if args.seeds is None and (Path(args.out) / SEEDS_FILE).is_file():
            raise ValueError(
                f"run {args.out} is the best of several seeds; resume it with --seeds N"
            )
        saved = first_seed_folder(args.out) if args.seeds is not None else args.out
        config = _resumed_config(args, RunConfig.from_dict(read_config(saved)))
        task = build_task(config.task, config.task_options)
    else:
        task = build_task(args.task, task_options(args))
        config = config_from_flags(args.task, task, args)
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / f"{args.task}-{_model_name(config)}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    held = (out / "config.json").exists() or (out / SEEDS_DIR).is_dir()
    if not args.resume and held and not args.overwrite:
        raise ValueError(f"run folder {out} already holds a run; use --resume or --overwrite")
    if args.seeds is not None:
        if world_from_env().distributed:
            raise ValueError(
                f"--seeds {args.seeds} is not supported under torchrun (WORLD_SIZE > 1): "
                "train the seeds without torchrun, or one --seed per torchrun launch"
            )
        summary = train_seeds(
            config,
            out,
            args.seeds,
            resume=args.resume,
            overwrite=args.overwrite,
            progress=not args.quiet,
            task=task,
        )
        _print_seeds(out)
    else:
        summary = train(config, out, resume=args.resume, progress=not args.quiet, task=task)
    if is_main_process():  # under torchrun, one summary
        _print_summary(summary, out)
    return 0


def _print_seeds(out: Path) -> None:
    from rnnlab._io import read_json
    from rnnlab.training.seeds import SEEDS_FILE

    table = read_json(out / SEEDS_FILE)
    for row in table["rows"]:
        mark = "  <- chosen (best val)" if row["seed"] == table["chosen"] else ""
        if row.get("val") is None:
            print(f"seed {row['seed']}: diverged{mark}")
        else:
            print(
                f"seed {row['seed']}: val {table['metric']} {row['val']:.4f}, "
                f"test {row['test']:.4f}{mark}"
            )


def _resumed_config(args: argparse.Namespace, saved: RunConfig) -> RunConfig:
    """The run in ``--out``'s configuration with the flags a resume may change
    (:data:`RESUMABLE_FIELDS`) applied; any other flag that differs from the run's value is
    a one-line error naming it (it would be ignored otherwise)."""
    if args.task != saved.task:
        raise ValueError(f"run {args.out} trained task {saved.task!r}, not {args.task!r}")
    train = given_fields(args, "train_")
    for name, value in train.items():
        if name not in RESUMABLE_FIELDS and value != getattr(saved.train, name):
            flag = TrainConfig.__dataclass_fields__[name].metadata.get("flag") or name
            _conflict(args.out, f"--{flag} {value}", name, getattr(saved.train, name))
    model = model_fields(args)
    name = model.pop("model", None)
    if name is not None:
        family, shorthand = resolve_model_name(str(name))
        if family.name != family_of(saved.model).name:
            _conflict(args.out, f"--model {name}", "model", family_of(saved.model).name)
        for key, value in shorthand.items():
            if value != getattr(saved.model, key, None):
                _conflict(args.out, f"--model {name}", key, getattr(saved.model, key, None))
    for key, value in model.items():
        had = getattr(saved.model, key, None)
        if value != had and not (isinstance(had, tuple) and tuple(value) == had):
            _conflict(args.out, f"--{flag_of(key)} {value}", key, had)
    given = task_options(args)
    for key in ("T", "data", "src", "tgt"):
        value = getattr(given, key)
        if value is not None and value != getattr(saved.task_options, key):
            _conflict(args.out, f"--{key} {value}", key, getattr(saved.task_options, key))
    extend = {k: v for k, v in train.items() if k in RESUMABLE_FIELDS}
    if not extend:
        return saved
    fields = {**saved.train.__dict__, **extend}
    return RunConfig(saved.task, saved.task_options, saved.model, TrainConfig(**fields))


def _conflict(out: str, given: str, field: str, saved: Any) -> None:
    flags = [TrainConfig.__dataclass_fields__[f].metadata["flag"] for f in RESUMABLE_FIELDS]
    raise ValueError(
        f"{given} conflicts with the run in {out} ({field}={saved!r}); a resume keeps the "
        f"run's configuration and may change only --{', --'.join(flags)}"
    )


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
