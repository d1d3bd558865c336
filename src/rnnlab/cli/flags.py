"""The flags that set a run's configuration, generated from the config dataclasses.

Model flags come from the fields of every registered model family's config (one flag per
field; a field's ``metadata`` gives the flag's name, ``help``, ``choices`` and a
``negative`` flag that sets ``False`` or ``None``), so a new field or a new family needs no
change here. Families share a flag when their fields do (``--hidden`` is ``hidden_size``
for all); a flag given that the chosen family does not have is a one-line error.
Training flags come from :class:`~rnnlab.training.config.TrainConfig`'s fields the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any

from rnnlab.cli._common import positive_float, positive_int, positive_ints
from rnnlab.models.registry import family_names, model_family, resolve_model_name
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.config import RunConfig, TrainConfig
from rnnlab.training.resolve import resolve_config

_UNSET_TO_NONE = "__none__"  # what a negative flag of an optional field stores


def add_model_flags(parser: argparse.ArgumentParser, only: set[str] | None = None) -> None:
    """``--model`` and one flag per family config field (``only``: these field names)."""
    parser.add_argument(
        "--model",
        help="a model family, or a cell (`rnnlab list`); default: the task's",
    )
    configs = [(name, model_family(name).config) for name in family_names()]
    add_config_flags(parser, configs, "model_", only)


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field that names one."""
    add_config_flags(parser, [("train", TrainConfig)], "train_")


def add_config_flags(
    parser: argparse.ArgumentParser,
    configs: list[tuple[str, type[Any]]],
    prefix: str,
    only: set[str] | None = None,
) -> None:
    """A flag (and its negative) per field of ``configs`` (``(owner, dataclass)`` pairs)
    whose metadata names one; the value lands in ``args.<prefix><field>`` (``None`` when not
    given). A flag that several configs share says in its help what it means for each."""
    flags: dict[str, dict[str, Any]] = {}  # flag -> argparse keywords, in order
    helps: dict[str, list[str]] = {}
    for owner, config in configs:
        hints = typing.get_type_hints(config)
        for f in dataclasses.fields(config):
            if only is not None and f.name not in only:
                continue
            meta, dest = f.metadata, prefix + f.name
            flag, negative = meta.get("flag"), meta.get("negative")
            if flag:
                if flag not in flags:
                    flags[flag] = {"dest": dest, **_argument(hints[f.name], meta)}
                    if "choices" not in flags[flag] and flags[flag].get("action") is None:
                        flags[flag]["metavar"] = flag.upper().replace("-", "_")
                helps.setdefault(flag, []).append(f"{meta.get('help', '')} [{owner}]")
            if negative and negative not in flags:
                none = False if hints[f.name] is bool else _UNSET_TO_NONE
                what = f"undo --{flag} (a task's default too)" if flag else meta.get("help", "")
                flags[negative] = {"dest": dest, "action": "store_const", "const": none}
                helps[negative] = [f"turn off: {what}" if not flag else what]
    for flag, keywords in flags.items():
        texts = helps[flag]
        text = texts[0].rsplit(" [", 1)[0] if len(texts) == 1 else "; ".join(texts)
        parser.add_argument(f"--{flag}", help=text, **keywords)


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
        return {"action": "append", "type": option_pair, "metavar": "NAME=VALUE"}
    if "type" in meta:
        return {"type": meta["type"]}
    if base is int:
        return {"type": positive_int}
    if base is float:
        return {"type": positive_float}
    return {"choices": list(meta["choices"])} if "choices" in meta else {"type": str}


def option_pair(text: str) -> tuple[str, Any]:
    """``p=0.25`` -> ``("p", 0.25)``; the value is read as JSON (numbers, true/false,
    lists) or kept as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def given_fields(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The config fields given on the command line under ``prefix`` (see
    :func:`add_config_flags`)."""
    given: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith(prefix) and value is not None:
            if isinstance(value, list):  # --cell-option, repeated
                value = dict(value)
            given[key[len(prefix) :]] = None if value == _UNSET_TO_NONE else value
    return given


def model_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The model fields given on the command line and ``model``, the name given."""
    given = given_fields(args, "model_")
    if getattr(args, "model", None):
        given["model"] = args.model
    return given


def check_family_fields(name: str | None, fields: dict[str, Any]) -> None:
    """One-line error for a flag the chosen family does not have."""
    if name is None:
        return
    family, _ = resolve_model_name(name)
    known = {f.name for f in dataclasses.fields(family.config)}
    for key in fields:
        if key != "model" and key not in known:
            raise ValueError(f"--{flag_of(key)} does not apply to model family {family.name!r}")


def flag_of(field: str) -> str:
    """The CLI flag of a model config field (its name when no family gives it one)."""
    for name in family_names():
        for f in dataclasses.fields(model_family(name).config):
            if f.name == field:
                return str(f.metadata.get("flag") or f.metadata.get("negative") or field)
    return field


def config_from_flags(task_name: str, task: Task, args: argparse.Namespace) -> RunConfig:
    """Flags given on the command line, else the task's defaults, else the library's."""
    model = model_fields(args)
    check_family_fields(model.get("model") or task.defaults.get("model"), model)
    train = given_fields(args, "train_")
    return resolve_config(task_name, task, task_options(args), model, train)


def task_options(args: argparse.Namespace) -> TaskOptions:
    return TaskOptions(
        T=args.T,
        data=args.data,
        download=args.download,
        cache_dir=args.cache_dir,
        seed=args.train_seed if args.train_seed is not None else 0,
        src=args.src,
        tgt=args.tgt,
        short=args.short,
        task_id=getattr(args, "task_id", None),
        extras=dict(getattr(args, "task_option", None) or []),
    )
