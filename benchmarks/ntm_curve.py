"""The validation curve of a run on a bit task: when ``wrong_bits`` first fell below a
threshold (step, training seconds), the worst evaluation after that (a relapse check) and
the last one.

    python benchmarks/ntm_curve.py runs/ntm-copy --threshold 0.1 --relapse 1.0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--metric", default="wrong_bits")
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--relapse", type=float, default=1.0, help="a later figure above this")
    args = parser.parse_args()
    for folder in args.runs:
        rows = [json.loads(line) for line in Path(folder, "metrics.jsonl").read_text().splitlines()]
        val = [r for r in rows if r.get("split") == "val" and args.metric in r]
        first = next((r for r in val if r[args.metric] < args.threshold), None)
        summary: dict[str, object] = {
            "run": folder,
            "evaluations": len(val),
            "best": min(r[args.metric] for r in val),
            "last": {k: val[-1][k] for k in ("step", "train_time_s", args.metric)},
        }
        if first is None:
            summary["reached"] = None
        else:
            after = [r for r in val if r["step"] > first["step"]]
            worst = max(after, key=lambda r: r[args.metric]) if after else None
            summary["reached"] = {k: first[k] for k in ("step", "train_time_s", args.metric)}
            summary["worst_after"] = (
                None if worst is None else {k: worst[k] for k in ("step", args.metric)}
            )
            summary["relapsed"] = worst is not None and worst[args.metric] > args.relapse
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
