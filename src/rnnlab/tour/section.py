"""What a claim gives back: a page section that also carries its numbers (for
``results.json``), and small helpers every claim uses to draw and to format."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.report.page import Figure, Section


@dataclass(frozen=True)
class ClaimSection(Section):
    """A :class:`~rnnlab.report.page.Section` with the measured numbers behind it
    (JSON-ready: numbers, strings, lists, dicts; no NaN)."""

    numbers: Mapping[str, Any] = field(default_factory=dict)


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(path: Path, title: str, caption: str = "") -> Figure:
    """A figure a diagnostic wrote to ``path``."""
    return Figure.from_file(path, title=title, caption=caption)


def line_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    caption: str = "",
    logy: bool = False,
    logx: bool = False,
    hline: tuple[float, str] | None = None,
) -> Figure:
    """One line per ``label: (xs, ys)``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, label=label)
    if hline is not None:
        ax.axhline(hline[0], color="grey", linestyle="--", linewidth=1, label=hline[1])
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return Figure.from_matplotlib(fig, title=title, caption=caption)


def bar_figure(
    bars: Mapping[str, tuple[float, float]],
    title: str,
    ylabel: str,
    caption: str = "",
    hline: tuple[float, str] | None = None,
) -> Figure:
    """One bar per ``label: (value, error)`` (error 0: none drawn)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = list(bars)
    values = [bars[k][0] for k in labels]
    errors = [bars[k][1] for k in labels]
    ax.bar(range(len(labels)), values, yerr=errors, capsize=4, color="tab:blue", alpha=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=15, ha="right", fontsize=8)
    if hline is not None:
        ax.axhline(hline[0], color="grey", linestyle="--", linewidth=1, label=hline[1])
        ax.legend(fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    return Figure.from_matplotlib(fig, title=title, caption=caption)


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for the page (``-`` for none)."""
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def val_curve(run_dir: Path, metric: str) -> tuple[list[float], list[float]]:
    """``(steps, values)`` of ``metric`` at each ``val`` evaluation of a run."""
    steps: list[float] = []
    values: list[float] = []
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("split") == "val" and metric in row:
            steps.append(float(row["step"]))
            values.append(float(row[metric]))
    return steps, values


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5


def time_note(runs: Sequence[Any]) -> tuple[str, ...]:
    """A note when any run stopped at its time limit before its step budget."""
    cut = [r.run_dir.name for r in runs if r.cut_by_time]
    if not cut:
        return ()
    return (
        "Cut by the time limit before the step budget (the printed command runs all its "
        f"steps, so it can give a different number): {', '.join(cut)}.",
    )
