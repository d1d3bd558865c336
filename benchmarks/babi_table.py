"""The bAbI per-task error table, models side by side: error % per task, the mean, the tasks
failed (error > 5%), from the ``errors.json`` files :mod:`babi_memn2n` writes (several per
model when the tasks were run in parts), beside the paper's PE LS RN and LSTM columns
(Sukhbaatar et al. 2015, table 1, 1k).

Usage::

    python benchmarks/babi_table.py MemN2N=runs/memn2n-a,runs/memn2n-b LSTM=runs/lstm \\
        joint=runs/babi-joint   # a joint run's folder: its per-task accuracy_t{N}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PAPER_PE_LS_RN = {  # Sukhbaatar et al. 2015, table 1, 1k, PE LS RN (3 hops), error %
    1: 0.0, 2: 8.3, 3: 40.3, 4: 2.8, 5: 13.1, 6: 7.6, 7: 17.3, 8: 10.0, 9: 13.2, 10: 15.1,
    11: 0.9, 12: 0.2, 13: 0.4, 14: 1.7, 15: 0.0, 16: 1.3, 17: 51.0, 18: 11.1, 19: 82.8,
    20: 0.0,
}  # fmt: skip

PAPER_LSTM = {  # Sukhbaatar et al. 2015, table 1, 1k, LSTM, error % (mean 51.3, 20 failed)
    1: 50.0, 2: 80.0, 3: 80.0, 4: 39.0, 5: 30.0, 6: 52.0, 7: 51.0, 8: 55.0, 9: 36.0,
    10: 56.0, 11: 38.0, 12: 26.0, 13: 6.0, 14: 73.0, 15: 79.0, 16: 77.0, 17: 49.0,
    18: 48.0, 19: 92.0, 20: 9.0,
}  # fmt: skip


def errors_of(folders: str) -> dict[int, float]:
    """Task -> test error % from the ``errors.json`` of each comma-separated folder, or,
    for a joint run's folder (``rnnlab train babi --task-id all``), from the per-task
    ``accuracy_t{N}`` of its ``summary.json``."""
    errors: dict[int, float] = {}
    for folder in folders.split(","):
        table = Path(folder) / "errors.json"
        if not table.is_file():
            test = json.loads((Path(folder) / "summary.json").read_text())["metrics"]["test"]
            for key, accuracy in test.items():
                if key.startswith("accuracy_t"):
                    errors[int(key.removeprefix("accuracy_t"))] = 100 * (1 - float(accuracy))
            continue
        for row in json.loads(table.read_text())["tasks"]:
            errors[int(row["task"])] = float(row["error"])
    return errors


def table(columns: dict[str, dict[int, float]]) -> str:
    """A markdown table: one row per task, a column per model, the mean and failed count
    over the tasks every column has."""
    tasks = sorted(set.intersection(*(set(c) for c in columns.values())))
    lines = ["| task | " + " | ".join(columns) + " |", "|---:|" + "---:|" * len(columns)]
    for t in tasks:
        lines.append(f"| {t} | " + " | ".join(f"{c[t]:.1f}" for c in columns.values()) + " |")
    means = [sum(c[t] for t in tasks) / len(tasks) for c in columns.values()]
    failed = [sum(c[t] > 5 for t in tasks) for c in columns.values()]
    lines.append("| **mean** | " + " | ".join(f"**{m:.1f}**" for m in means) + " |")
    lines.append("| failed (> 5%) | " + " | ".join(str(f) for f in failed) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=FOLDER[,FOLDER...] (errors.json)")
    parser.add_argument("--no-paper", action="store_true", help="leave out the paper's columns")
    args = parser.parse_args()
    columns = {}
    for item in args.models:
        name, _, folders = item.partition("=")
        columns[name] = errors_of(folders)
    if not args.no_paper:
        columns["paper PE LS RN"] = dict(PAPER_PE_LS_RN)
        columns["paper LSTM"] = dict(PAPER_LSTM)
    print(table(columns))


if __name__ == "__main__":
    main()
