"""Per-task MemN2N on bAbI (en, 1k): the paper's error table (Sukhbaatar et al. 2015).

Trains the ``babi`` task's default recipe (MemN2N PE + LS + RN, 3 hops, d = 20, as the
official code: 20 linear-start epochs at SGD 0.005, then 100 from 0.005 halved every 25;
batch 32, summed loss, clip 40) on each task with ``--seeds`` seeds through
:func:`rnnlab.train_seeds` (``OUT/t{N}`` is the seed best on validation accuracy, as the
paper chose the best of 10; ``OUT/t{N}/seeds.json`` the table), and writes ``errors.json``
/ ``errors.md`` in ``--out``: test error % per task, the mean, the tasks failed (error >
5%), the seeds, and the CPU time. Also measures, on task 2, the fraction of test questions
whose most attended sentence of each hop is a supporting fact. ``--model story_rnn`` (with
``--train max_time=S``) trains the LSTM baseline instead; ``benchmarks/babi_table.py``
puts two such tables side by side.

Usage (from the repository root, one thread)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/babi_memn2n.py \\
        --data ../shared/data/babi --tasks 1-20 --seeds 1 --out runs/babi-memn2n
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import rnnlab
from babi_table import PAPER_PE_LS_RN
from rnnlab.diagnostics.memory_hops import supporting_fact_hits
from rnnlab.tasks.babi import BabiTask
from rnnlab.tasks.registry import TaskOptions
from rnnlab.training.resolve import resolve_config


def task_list(text: str) -> list[int]:
    ids: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        ids += list(range(int(lo), int(hi or lo) + 1))
    return ids


def train_task(args: argparse.Namespace, t: int, out: Path) -> dict[str, Any]:
    """Task ``t``'s ``--seeds`` seeds in ``out/t{t}``, the best on val chosen."""
    folder = out / f"t{t}"
    table = folder / "seeds.json"
    done = table.is_file() and json.loads(table.read_text())["chosen"] is not None
    if args.resume and done and len(json.loads(table.read_text())["rows"]) >= args.seeds:
        summary = json.loads((folder / "summary.json").read_text())  # an earlier call's
    else:
        options = TaskOptions(data=args.data, task_id=str(t))
        task = BabiTask(args.data, task_ids=(t,))
        train = {**({"steps": args.steps} if args.steps else {}), **dict(args.train or [])}
        model = {"model": args.model, **dict(args.set or [])}
        config = resolve_config("babi", task, options, model, train)
        resume = args.resume and (folder / "seeds").is_dir()
        summary = rnnlab.train_seeds(
            config, folder, args.seeds, resume=resume, overwrite=True, progress=False, task=task
        )
    rows = json.loads(table.read_text())["rows"]
    chosen = summary["seed_choice"]["chosen"]
    return {
        "task": t,
        "seed": chosen,
        "val_accuracy": summary["metrics"]["val"]["accuracy"],
        "error": 100 * (1 - summary["metrics"]["test"]["accuracy"]),
        "errors_by_seed": [round(100 * (1 - r["test"]), 1) for r in rows if r["val"] is not None],
        "val_errors_by_seed": [
            round(100 * (1 - r["val"]), 1) for r in rows if r["val"] is not None
        ],
        "linear_start_done": summary.get("linear_start_done"),
        "steps": summary["steps"],
        "train_time_s": round(sum(r.get("train_time_s", 0) for r in rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/babi")
    parser.add_argument("--tasks", default="1-20", help="e.g. 1-20 or 1,2,3")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per task; best on val")
    parser.add_argument("--model", default="memn2n")
    parser.add_argument("--steps", type=int, help="override the recipe's steps (quick checks)")
    parser.add_argument(
        "--set",
        action="append",
        type=lambda text: (text.split("=")[0], json.loads(text.split("=", 1)[1])),
        help="a model option, NAME=JSON (e.g. linear_start_evals=20); repeatable",
    )
    parser.add_argument(
        "--train",
        action="append",
        type=lambda text: (text.split("=")[0], json.loads(text.split("=", 1)[1])),
        help="a training option, NAME=JSON (e.g. max_time=8); repeatable",
    )
    parser.add_argument("--out", default="runs/babi-memn2n")
    parser.add_argument(
        "--resume", action="store_true", help="reuse and finish the runs already in --out"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    rows = []
    for t in task_list(args.tasks):
        row = train_task(args, t, out)
        rows.append(row)
        print(
            f"task {t:2d}: error {row['error']:5.1f}% (seeds {row['errors_by_seed']})", flush=True
        )
    errors = [r["error"] for r in rows]
    result: dict[str, Any] = {
        "model": args.model,
        "seeds": args.seeds,
        "tasks": rows,
        "mean_error": sum(errors) / len(errors),
        "failed": sum(e > 5 for e in errors),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "wall_s": round(time.perf_counter() - wall0, 1),
        "threads": os.environ.get("OMP_NUM_THREADS"),
    }
    (out / "errors.json").write_text(json.dumps(result, indent=2))
    two = next((r for r in rows if r["task"] == 2), None)
    if two is not None and args.model == "memn2n":
        run = rnnlab.load(out / "t2")
        result["task2_supporting_fact_hits"] = supporting_fact_hits(run.model, run.task(), "test")
        (out / "errors.json").write_text(json.dumps(result, indent=2))
    lines = [
        "| task | error % | paper PE LS RN | seeds' test errors | seeds' val errors |",
        "|---:|---:|---:|---|---|",
    ]
    for r in rows:
        paper = PAPER_PE_LS_RN.get(r["task"], float("nan"))
        lines.append(
            f"| {r['task']} | {r['error']:.1f} | {paper:.1f} | {r['errors_by_seed']} "
            f"| {r['val_errors_by_seed']} |"
        )
    lines.append(f"| mean | {result['mean_error']:.1f} | | failed (> 5%): {result['failed']} | |")
    (out / "errors.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"cpu {result['cpu_s']} s, wall {result['wall_s']} s")
    if "task2_supporting_fact_hits" in result:
        print("task 2 top sentence is a supporting fact:", result["task2_supporting_fact_hits"])


if __name__ == "__main__":
    main()
