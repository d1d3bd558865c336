"""The flags that set a run's configuration, generated from the config dataclasses.

Model flags come from the fields of every registered model family's config (one flag per
field; a field's ``metadata`` gives the flag's name, ``help``, ``choices`` and a
``negative`` flag that sets ``False`` or ``None``), so a new field or a new family needs no
change here. Families share a flag when their fields do (``--hidden`` is ``hidden_size``
for all); a flag given that the chosen family does not have is a one-line error.
Training flags map onto :class:`~rnnlab.training.config.TrainConfig` by the table below.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from rnnlab.cli._common import positive_int, positive_ints
from rnnlab.models.registry import family_names, model_family, resolve_model_name
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.config import RunConfig
from rnnlab.training.resolve import resolve_config

_UNSET_TO_NONE = "__none__"  # what a negative flag of an optional field stores


@dataclass(frozen=True)
class ModelFlag:
    """One model flag: ``--flag`` sets ``field`` of the families that have it."""

    flag: str  # e.g. "hidden"
    field: str  # e.g. "hidden_size"
    dest: str


def model_flags() -> list[ModelFlag]:
    """Every model flag of every registered family (a flag shared by families once)."""
    flags: dict[str, ModelFlag] = {}
    for name in family_names():
        for f in dataclasses.fields(model_family(name).config):
            for flag in (f.metadata.get("flag"), f.metadata.get("negative")):
                if flag and flag not in flags:
                    dest = "model_" + f.name
                    flags[flag] = ModelFlag(flag, f.name, dest)
    return list(flags.values())


def add_model_flags(parser: argparse.ArgumentParser, only: set[str] | None = None) -> None:
    """``--model`` and one flag per family config field (``only``: these field names)."""
    parser.add_argument(
        "--model",
        help="a model family, or a cell (`rnnlab list`); default: the task's",
    )
    done: set[str] = set()
    for name in family_names():
        config = model_family(name).config
        hints = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            if only is not None and f.name not in only:
                continue
            meta = f.metadata
            dest = "model_" + f.name
            flag, negative = meta.get("flag"), meta.get("negative")
            if flag and flag not in done:
                done.add(flag)
                parser.add_argument(
                    f"--{flag}", dest=dest, help=meta.get("help"), **_argument(hints[f.name], meta)
                )
            if negative and negative not in done:
                done.add(negative)
                none = _UNSET_TO_NONE if hints[f.name] is not bool else False
                parser.add_argument(
                    f"--{negative}",
                    dest=dest,
                    action="store_const",
                    const=none,
                    help=f"not {meta.get('help', f.name)}",
                )


def _argument(kind: Any, meta: Any) -> dict[str, Any]:
    """argparse keywords for a field of type ``kind``."""
    if kind is bool:
        return {"action": "store_const", "const": True, "default": None}
    base = kind
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        base = next(a for a in typing.get_args(kind) if a is not type(None))  # X | None
    if typing.get_origin(base) is tuple:
        return {"type": positive_ints}
    if typing.get_origin(base) is dict or base is dict:
        return {"action": "append", "type": _option_pair, "metavar": "NAME=VALUE"}
    if base is int:
        return {"type": positive_int}
    if base is float:
        return {"type": float}
    return {"choices": list(meta["choices"])} if "choices" in meta else {"type": str}


def _option_pair(text: str) -> tuple[str, Any]:
    """``p=0.25`` -> ``("p", 0.25)``; the value is read as JSON (numbers, true/false,
    lists) or kept as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def model_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The model fields given on the command line (and ``model``: the name given), checked
    against the chosen family: a flag it does not have is a one-line error."""
    given: dict[str, Any] = {}
    if getattr(args, "model", None):
        given["model"] = args.model
    for key, value in vars(args).items():
        if key.startswith("model_") and value is not None:
            field = key[len("model_") :]
            if isinstance(value, list):  # --cell-option, repeated
                value = dict(value)
            given[field] = None if value == _UNSET_TO_NONE else value
    return given


def check_family_fields(name: str | None, fields: dict[str, Any]) -> None:
    """One-line error for a flag the chosen family does not have."""
    if name is None:
        return
    family, _ = resolve_model_name(name)
    known = {f.name: f for f in dataclasses.fields(family.config)}
    for key in fields:
        if key != "model" and key not in known:
            flag = next((m.flag for m in model_flags() if m.field == key), key)
            raise ValueError(f"--{flag} does not apply to model family {family.name!r}")


# CLI flag -> TrainConfig field
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
    model = model_fields(args)
    check_family_fields(model.get("model") or task.defaults.get("model"), model)
    train = {f: getattr(args, flag) for flag, f in TRAIN_FLAGS.items()}
    train = {k: v for k, v in train.items() if v is not None}
    if args.no_clip:
        train["clip"] = None
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
