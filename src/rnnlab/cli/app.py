"""The ``rnnlab`` parser, assembled from one module per subcommand, and :func:`main`.

Each subcommand module has ``add_parser(subparsers)`` (its arguments, with
``func=run`` as the default) and ``run(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rnnlab.cli import bench, diagnose, params, sample, train, translate
from rnnlab.cli import eval as eval_
from rnnlab.cli import list as list_
from rnnlab.cli._common import Parser
from rnnlab.training.checkpoint import CheckpointError

# in the order `rnnlab --help` lists them
SUBCOMMANDS = (train, eval_, diagnose, sample, params, translate, list_, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rnnlab", description="Recurrent networks, memory and attention on PyTorch."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (ValueError, FileNotFoundError, CheckpointError, TypeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"rnnlab: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130
