"""MQAR recall against the number of key-value pairs: seven models at about the same
parameter count (~100k) and the same training time each, one table and one figure.

``run`` trains every (model, pairs) cell of the grid that has no ``summary.json`` yet,
``--per-lock`` ``rnnlab train`` runs (one thread each) per acquisition of the short-lane
CPU lock, writing the ``uptime`` before each run beside its folder; ``collect`` reads the
folders' test accuracy into a markdown table and draws accuracy against pairs, one line
per model.

Usage::

    python benchmarks/mqar_table.py run --out /tmp/mqar/grid --pairs 4 16 8 --max-time 80
    python benchmarks/mqar_table.py collect --out /tmp/mqar/grid --figure /tmp/mqar/mqar.png
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

LOCK = "/tmp/rnnlab-cpu.lock"

# two layers each, sized to ~100k parameters with vocab 64 (the `params` column says each)
MODELS: dict[str, list[str]] = {
    "lstm": ["--model", "lstm", "--hidden", "80"],
    "gru": ["--model", "gru", "--hidden", "96"],
    "transformer": ["--model", "transformer", "--hidden", "64", "--heads", "4"],
    "mingru": ["--model", "mingru", "--hidden", "176"],
    "lru": ["--model", "lru", "--hidden", "112"],
    "s6": ["--model", "s6", "--hidden", "192"],
    "deltanet": ["--model", "deltanet", "--hidden", "144", "--cell-option", "heads=2"],
}
# the learning rate where it differs from --lr: the Transformer's best of 1e-3, 3e-3 and
# 1e-2 (warmup 200) in 55 s probes at pairs=8 (benchmarks/RESULTS.md)
LR: dict[str, float] = {"transformer": 1e-3}


def command(model: str, pairs: int, args: argparse.Namespace, folder: Path) -> list[str]:
    """The ``rnnlab train`` command of one grid cell."""
    return [
        sys.executable, "-m", "rnnlab", "train", "mqar", *MODELS[model],
        "--layers", "2", "--T", str(args.T),
        "--task-option", f"pairs={pairs}", "--task-option", f"vocab={args.vocab}",
        "--lr", str(LR.get(model, args.lr)), "--batch-size", str(args.batch_size),
        "--max-time", str(args.max_time), "--eval-every", str(args.eval_every),
        "--threads", "1", "--quiet", "--overwrite", "--out", str(folder),
    ]  # fmt: skip


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    todo = [
        (model, pairs, out / f"{model}-p{pairs}")
        for pairs in args.pairs
        for model in args.models
        if not (out / f"{model}-p{pairs}" / "summary.json").is_file()
    ]
    for start in range(0, len(todo), args.per_lock):
        shell = []
        for model, pairs, folder in todo[start : start + args.per_lock]:
            train = " ".join(command(model, pairs, args, folder))
            print(f"[{model} pairs={pairs}] {train}", flush=True)
            shell.append(f"uptime > {folder}.uptime; {train}")
        subprocess.run(["flock", LOCK, "sh", "-c", "; ".join(shell)], env=env, check=False)


def rows(out: Path) -> dict[str, dict[int, dict[str, float]]]:
    """model -> pairs -> {accuracy, params, steps, seconds} from the grid's summaries."""
    table: dict[str, dict[int, dict[str, float]]] = {}
    for summary_file in sorted(out.glob("*-p*/summary.json")):
        model, _, pairs = summary_file.parent.name.rpartition("-p")
        s = json.loads(summary_file.read_text())
        table.setdefault(model, {})[int(pairs)] = {
            "accuracy": float(s["metrics"]["test"]["accuracy"]),
            "params": float(s["params"]),
            "steps": float(s["steps"]),
            "seconds": float(s["wall_time_s"]),
        }
    return table


def markdown(table: dict[str, dict[int, dict[str, float]]]) -> str:
    """Test accuracy per model (rows) and pairs (columns), with params and steps run."""
    pairs = sorted({p for cells in table.values() for p in cells})
    head = "| model | params | " + " | ".join(f"{p} pairs" for p in pairs) + " | steps |"
    lines = [head, "|---|---:|" + "---:|" * len(pairs) + "---|"]
    order = [m for m in MODELS if m in table] + sorted(set(table) - set(MODELS))
    for model in order:
        cells = table[model]
        params = next(iter(cells.values()))["params"]
        accs = [f"{cells[p]['accuracy']:.3f}" if p in cells else "-" for p in pairs]
        steps = "/".join(str(int(cells[p]["steps"])) if p in cells else "-" for p in pairs)
        lines.append(f"| {model} | {params / 1e3:.1f}k | " + " | ".join(accs) + f" | {steps} |")
    floor = " | ".join(f"{1 / p:.3f}" for p in pairs)
    lines.append(f"| *1/pairs (a value from the context)* | | {floor} | |")
    return "\n".join(lines)


def figure(table: dict[str, dict[int, dict[str, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    pairs = sorted({p for cells in table.values() for p in cells})
    for model, cells in table.items():
        xs = sorted(cells)
        ax.plot(xs, [cells[p]["accuracy"] for p in xs], marker="o", label=model)
    ax.plot(pairs, [1 / p for p in pairs], "k:", label="1/pairs")
    ax.set_xscale("log", base=2)
    ax.set_xticks(pairs, [str(p) for p in pairs])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("key-value pairs")
    ax.set_ylabel("test accuracy on the queries")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run", help="train the grid's missing cells, one per lock")
    r.add_argument("--out", required=True, help="folder of the run folders")
    r.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    r.add_argument("--pairs", nargs="+", type=int, default=[4, 16, 8])
    r.add_argument("--T", type=int, default=64)
    r.add_argument("--vocab", type=int, default=64)
    r.add_argument("--lr", type=float, default=3e-3)
    r.add_argument("--batch-size", type=int, default=32)
    r.add_argument("--max-time", type=float, default=80.0)
    r.add_argument("--eval-every", type=int, default=100)
    r.add_argument(
        "--per-lock", type=int, default=2, help="runs per lock acquisition (keep <= 3 min)"
    )
    c = sub.add_parser("collect", help="the markdown table and the figure")
    c.add_argument("--out", required=True)
    c.add_argument("--figure", help="PNG path (outside the repository)")
    c.add_argument("--title", default="MQAR, same parameters and time per model")
    args = parser.parse_args()
    if args.verb == "run":
        run(args)
        return
    table = rows(Path(args.out))
    print(markdown(table))
    if args.figure:
        figure(table, Path(args.figure), args.title)


if __name__ == "__main__":
    main()
