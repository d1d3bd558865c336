"""The ``rnnlab`` command line: train, eval, diagnose, sample, translate, list, bench, report.

One module per subcommand (:mod:`rnnlab.cli.train`, ...); :mod:`rnnlab.cli.app` assembles
the parser, :mod:`rnnlab.cli.flags` holds the flags that set a run's configuration.
"""

from __future__ import annotations

from rnnlab.cli.app import build_parser, main
from rnnlab.cli.translate import read_input_lines

__all__ = ["build_parser", "main", "read_input_lines"]
