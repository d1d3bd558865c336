"""Runs ``rnnlab train`` command lines one after another in each process that ``torchrun``
starts (one launch for several runs: starting processes costs more than these runs).

    python -m torch.distributed.run --nproc_per_node=2 tests/training/ddp_worker.py RUNS.json

``RUNS.json`` holds a list of argument lists, each given to ``rnnlab.cli.main`` as the
command line ``rnnlab ARGS...``; the worker exits with the first non-zero status. It joins
the process group once for all of them (a group left cannot be joined again in the same
process), so each run finds it joined and leaves it be.
"""

from __future__ import annotations

import json
import sys

import torch.distributed as dist

from rnnlab.cli import main


def run_all(path: str) -> int:
    with open(path) as f:
        runs = json.load(f)
    dist.init_process_group("gloo")
    try:
        for argv in runs:
            code = main([str(a) for a in argv])
            if code != 0:
                return code
        return 0
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(run_all(sys.argv[1]))
