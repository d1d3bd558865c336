"""``rnnlab tour``: one measured experiment per claim of the lecture, as one HTML page."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser(
        "tour",
        help="measure each claim of the lecture on this CPU and write one HTML page",
        description="Runs one experiment per claim of the lecture (unfolding, generative "
        "models, conditioning, exposure bias, architecture, multiscale, gradients, unitary "
        "RNNs, memory and attention) and writes DIR/index.html and DIR/results.json. Full: "
        "<= 30 minutes on one CPU thread; --quick: <= 5 minutes.",
    )
    t.add_argument("--quick", action="store_true", help="the small budget (<= 5 minutes)")
    t.add_argument("--out", default="tour", help="output folder (default ./tour)")
    t.add_argument("--only", help="claims to run: numbers or keys, e.g. 1,4 or exposure")
    t.add_argument(
        "--data",
        help="the shared data folder holding babi/ and tinyshakespeare.txt (default "
        "$RNNLAB_DATA or ../shared/data)",
    )
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.tour import FULL, QUICK, run_tour, select_claims
    from rnnlab.tour.data import DATA_ENV

    claims = select_claims(args.only)
    if args.data is not None:
        os.environ[DATA_ENV] = args.data
    outcomes = run_tour(
        QUICK if args.quick else FULL, args.out, claims, log=lambda s: print(s, flush=True)
    )
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"rnnlab tour: claim {o.claim.number} failed: {o.error}", file=sys.stderr)
    return 1 if failed else 0
