"""Run the speed benchmarks without the CLI: ``python benchmarks/speed.py [select]``."""

from __future__ import annotations

import sys

from rnnlab.bench import format_table, run_benchmarks

if __name__ == "__main__":
    print(format_table(run_benchmarks(select=sys.argv[1] if len(sys.argv) > 1 else None)))
