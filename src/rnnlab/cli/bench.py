"""``rnnlab bench``: speed benchmarks, as ratios against a baseline (:mod:`rnnlab.bench`)."""

from __future__ import annotations

import argparse
import json

from rnnlab.cli._common import positive_int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("bench", help="speed benchmarks, as ratios against a baseline")
    b.add_argument("--select", help="only benchmarks whose name contains this")
    b.add_argument("--repeats", type=positive_int, default=5)
    b.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    b.add_argument(
        "--threads", type=int, default=1, help="torch threads while timing (0: torch's default)"
    )
    b.add_argument("--json", action="store_true", help="one JSON object per line")
    b.add_argument(
        "--data",
        help="Multi30k folder: the beam-search benchmark decodes its validation set (val.en)",
    )
    b.add_argument(
        "--calibrate",
        action="store_true",
        help="--select scan: time the linear-scan kernels and write the dispatch table to "
        "the cache folder",
    )
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.bench import format_table, run_benchmarks

    threads = None if args.threads == 0 else args.threads
    if args.calibrate:
        return calibrate_scan(args, threads)
    results = run_benchmarks(
        select=args.select, repeats=args.repeats, quick=args.quick, threads=threads, data=args.data
    )
    if not results:
        raise ValueError(f"no benchmark name contains {args.select!r}")
    if args.json:
        for r in results:
            print(json.dumps(r.__dict__))
    else:
        print(format_table(results))
    return 0


def calibrate_scan(args: argparse.Namespace, threads: int | None) -> int:
    """``--calibrate``: the linear-scan kernels timed, the fastest per size written as the
    dispatch table (:mod:`rnnlab.cells.scan_table`)."""
    from rnnlab.bench.scan import calibrate

    if args.select is None or "scan" not in args.select:
        raise ValueError(
            f"--calibrate measures the linear scans: use --select scan, not {args.select!r}"
        )

    def report(row: dict[str, object]) -> None:
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            mark = "  <- chosen" if row["chosen"] else ""
            where = f"B={row['B']} W={row['W']} T={row['T']}"
            print(f"{where} {row['form']:>13}: {row['ms']} ms{mark}", flush=True)

    _, path = calibrate(repeats=args.repeats, quick=args.quick, threads=threads, report=report)
    print(f"dispatch table written to {path}")
    return 0
