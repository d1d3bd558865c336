"""``rnnlab report RUN... --out report.html``: one self-contained HTML page for any set of
run folders (:mod:`rnnlab.report.build`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "report",
        help="one self-contained HTML page for run folders: configuration, learning curves, "
        "final metrics, attention / memory / boundary figures, samples",
    )
    r.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by rnnlab train")
    r.add_argument(
        "--out", required=True, help="the HTML file to write (e.g. report.html); one file"
    )
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.report.build import write_report

    path = write_report(args.runs, args.out)
    size = path.stat().st_size
    print(f"report: {path} ({len(args.runs)} run(s), {size / 1024:.0f} KiB)")
    return 0
