"""The ``rnnlab`` parser, assembled from one module per subcommand, and :func:`main`.

Each subcommand module has ``add_parser(subparsers)`` (its arguments, with
``func=run`` as the default) and ``run(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rnnlab._plugins import load_plugin
from rnnlab.cli import bench, diagnose, params, report, sample, tour, train, translate
from rnnlab.cli import eval as eval_
from rnnlab.cli import list as list_
from rnnlab.cli._common import Parser
from rnnlab.training.checkpoint import CheckpointError
from rnnlab.training.numerics import NonFiniteError


def load_plugin_flags(argv: list[str]) -> list[str]:
    """Import every ``--plugin X`` / ``--plugin=X`` of ``argv``; return the other arguments."""
    rest: list[str] = []
    items = iter(argv)
    for arg in items:
        if arg == "--plugin":
            spec = next(items, None)
            if spec is None:
                raise FileNotFoundError("--plugin needs a module name or a .py file")
            load_plugin(spec)
        elif arg.startswith("--plugin="):
            load_plugin(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest


# in the order `rnnlab --help` lists them
SUBCOMMANDS = (train, eval_, diagnose, sample, params, translate, list_, bench, report, tour)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rnnlab",
        description="Recurrent networks, memory and attention on PyTorch.",
        epilog="--plugin MODULE_OR_FILE.py (anywhere, repeatable) imports code that registers "
        "cells, model families or tasks before the command runs; installed packages do so "
        "through the entry points rnnlab.cells, rnnlab.models and rnnlab.tasks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        # plugins first: the flags of the model families they register join the parser
        args_list = load_plugin_flags(args_list)
    except (ImportError, FileNotFoundError) as exc:
        print(f"rnnlab: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        code: int = args.func(args)
        return code
    except BrokenPipeError:  # `rnnlab ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (ValueError, OSError, EOFError, CheckpointError, TypeError, ImportError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"rnnlab: error: {message}", file=sys.stderr)
        return 2
    except NonFiniteError as exc:
        print(f"rnnlab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130
