"""The flags that set a run's configuration: CLI flag -> field tables, and the
:class:`~rnnlab.training.config.RunConfig` and task options they give (``train``, ``params``)."""

from __future__ import annotations

import argparse

from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.config import RunConfig
from rnnlab.training.resolve import resolve_config

# CLI flag -> (section, field) of RunConfig
MODEL_FLAGS = {
    "model": "cell",
    "hidden": "hidden_size",
    "layers": "num_layers",
    "bidirectional": "bidirectional",
    "dropout": "dropout",
    "residual": "residual",
    "chrono": "chrono_delay",
    "cell": "inner_cell",
    "dilations": "dilations",
    "skip_connections": "skip_connections",
    "deep_output": "deep_output",
    "feed_condition": "feed_condition",
    "embedding": "embedding_size",
    "attention": "attention",
    "input_feeding": "input_feeding",
}
# the model flags `rnnlab params` takes (a subset of train's)
PARAMS_FLAGS = {
    flag: MODEL_FLAGS[flag]
    for flag in (
        "model",
        "hidden",
        "layers",
        "cell",
        "dilations",
        "skip_connections",
        "deep_output",
    )
}
TRAIN_FLAGS = {
    "optimizer": "optimizer",
    "lr": "lr",
    "manifold_lr": "manifold_lr",
    "weight_decay": "weight_decay",
    "schedule": "schedule",
    "warmup": "warmup_steps",
    "steps": "steps",
    "batch_size": "batch_size",
    "clip": "clip",
    "eval_every": "eval_every",
    "patience": "patience",
    "max_time": "max_time",
    "seed": "seed",
    "device": "device",
    "scheduled_sampling": "scheduled_sampling",
    "ss_k": "ss_k",
    "ss_c": "ss_c",
    "ss_min": "ss_min",
    "professor_forcing": "professor_forcing",
    "pf_weight": "pf_weight",
    "pf_lr": "pf_lr",
    "pf_hidden": "pf_hidden",
    "pf_mlp": "pf_mlp",
    "pf_d_max_acc": "pf_d_max_acc",
    "pf_g_min_acc": "pf_g_min_acc",
    "beam": "beam_size",
    "bf16": "bf16",
    "length_penalty": "length_penalty",
}


def config_from_flags(task_name: str, task: Task, args: argparse.Namespace) -> RunConfig:
    """Flags given on the command line, else the task's defaults, else the library's."""
    model = {f: getattr(args, flag) for flag, f in MODEL_FLAGS.items()}
    train = {f: getattr(args, flag) for flag, f in TRAIN_FLAGS.items()}
    model = {k: v for k, v in model.items() if v is not None}
    train = {k: v for k, v in train.items() if v is not None}
    if args.no_clip:
        train["clip"] = None
    if args.no_fast:
        model["fast"] = False
    if args.no_chrono:
        model["chrono_delay"] = None
    if args.no_feed_condition:
        model["feed_condition"] = False
    if args.unidirectional:
        model["bidirectional"] = False
    return resolve_config(task_name, task, task_options(args), model, train)


def task_options(args: argparse.Namespace) -> TaskOptions:
    return TaskOptions(
        T=args.T,
        data=args.data,
        download=args.download,
        cache_dir=args.cache_dir,
        seed=args.seed if args.seed is not None else 0,
        src=args.src,
        tgt=args.tgt,
        short=args.short,
    )
