"""Length generalisation of trained runs (NTM tasks, copy, adding): every run's task
rebuilt at each length (``rnnlab eval RUN --length L`` for each ``L``), the figures written
as JSON and the wrong bits per sequence (or the task's main metric) drawn against length.

    python benchmarks/ntm_lengths.py ntm=runs/ntm-copy lstm=runs/lstm-copy \
        --lengths 10,20,30,40,60,80,100,120 --out runs/lengths
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from rnnlab.training.evaluate import evaluate
from rnnlab.training.run import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR (or RUN_DIR)")
    parser.add_argument("--lengths", default="10,20,30,40,60,80,100,120")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--checkpoint",
        default="best",
        choices=("best", "last"),
        help="the weights of the best val figure (the first of equal ones) or the last",
    )
    parser.add_argument("--metric", help="the figure to draw (default wrong_bits, else main)")
    parser.add_argument("--out", required=True, help="folder for lengths.json and lengths.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lengths = [int(v) for v in args.lengths.split(",")]
    results: dict[str, dict[str, dict[str, float]]] = {}
    baselines: dict[str, float | None] = {}  # the first run's task's baseline at each length
    metric = args.metric
    for spec in args.runs:
        label, _, folder = spec.rpartition("=")
        run = load(folder, checkpoint=args.checkpoint)
        label = label or Path(folder).name
        metric = metric or ("wrong_bits" if run.spec.prediction == "bits" else run.spec.main_metric)
        results[label] = {}
        for L in lengths:
            start = time.perf_counter()
            task = run.task(T=L)
            figures = evaluate(run.model, task, args.split, batch_size=500)
            if task.main_metric == metric:
                baselines.setdefault(str(L), task.baseline)
            results[label][str(L)] = figures
            print(
                f"{label:<12} L={L:<4} {metric} {figures[metric]:.4f}  "
                + "  ".join(f"{k} {v:.4f}" for k, v in figures.items() if k != metric)
                + f"  ({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "split": args.split,
        "checkpoint": args.checkpoint,
        "metric": metric,
        "baseline": baselines,
        "runs": results,
    }
    (out / "lengths.json").write_text(json.dumps(summary, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, by_length in results.items():
        ax.plot(lengths, [by_length[str(L)][metric] for L in lengths], marker="o", label=label)
    known = [L for L in lengths if baselines.get(str(L)) is not None]
    if known:
        base = [float(baselines[str(L)] or 0.0) for L in known]
        ax.plot(known, base, linestyle="--", color="grey", label="baseline (coin flips)")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel(f"{metric} ({args.split}, per sequence)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "lengths.png", dpi=120)
    print(f"results: {out}/lengths.json  figure: {out}/lengths.png")


if __name__ == "__main__":
    main()
