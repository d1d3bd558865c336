"""Learning curves of run folders: the data (:func:`learning_curves`, from ``metrics.jsonl``
and ``clipping.json``) and their figures, one run's or several overlaid.

What the training loop writes: every ``eval_every`` steps a ``train`` line (the mean loss
and mean / max pre-clip gradient norm of the steps since the last line, the learning rate)
and a ``val`` line (loss and the task's metrics); ``clipping.json`` keeps the pre-clip
gradient norm of every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rnnlab.report.page import Figure
from rnnlab.report.runs import RunRecord

PLOT_EXTRA = "rnnlab report draws its figures with matplotlib: pip install 'rnnlab[plot]'"


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend; a one-line ``ImportError`` naming the
    ``plot`` extra when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(PLOT_EXTRA) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


Series = tuple[list[int], list[float]]  # (steps, values)


@dataclass
class LearningCurves:
    """One run's curves, each ``(steps, values)``; empty where the run logged nothing."""

    label: str
    metric: str
    baseline: float | None
    train_loss: Series = field(default_factory=lambda: ([], []))
    val_loss: Series = field(default_factory=lambda: ([], []))
    val_metric: Series = field(default_factory=lambda: ([], []))
    lr: Series = field(default_factory=lambda: ([], []))
    grad_norm: Series = field(default_factory=lambda: ([], []))  # pre-clip, every step
    clip: float | None = None

    @property
    def empty(self) -> bool:
        return not any(s[0] for s in (self.train_loss, self.val_metric, self.lr, self.grad_norm))


def _series(records: Sequence[dict[str, Any]], key: str) -> Series:
    steps, values = [], []
    for r in records:
        value = r.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            steps.append(int(r["step"]))
            values.append(float(value))
    return steps, values


def learning_curves(run: RunRecord) -> LearningCurves:
    """The curves of ``run``: train loss (window means), val loss and main metric, learning
    rate, and the pre-clip gradient norm per step (``clipping.json``; the window means of
    ``metrics.jsonl`` for runs without it)."""
    train, val = run.split_records("train"), run.split_records("val")
    curves = LearningCurves(run.label, run.main_metric, run.baseline, clip=run.clip)
    curves.train_loss = _series(train, "loss")
    curves.val_loss = _series(val, "loss")
    curves.val_metric = _series(val, run.main_metric)
    curves.lr = _series(train, "lr")
    if run.grad_norms:
        norms = run.grad_norms
        curves.grad_norm = (list(range(1, len(norms) + 1)), norms)
    else:
        curves.grad_norm = _series(train, "grad_norm")
    return curves


def _line(ax: Any, series: Series, **style: Any) -> None:
    """One curve; with dots where it has few points (a run stopped by ``--max-time``
    before its first ``eval_every`` logs a single point, which a bare line hides)."""
    if len(series[0]) < 30:
        style.setdefault("marker", "o")
        style.setdefault("ms", 3)
    ax.plot(*series, **style)


def _finish(ax: Any, title: str, ylabel: str, log: bool = False) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def _positive(series: Series) -> Series:
    """A log axis shows positive values only."""
    kept = [(s, v) for s, v in zip(*series, strict=True) if v > 0]
    return [s for s, _ in kept], [v for _, v in kept]


def plot_run_curves(curves: LearningCurves) -> Figure:
    """Four panels: train and val loss; the val main metric with the task's baseline; the
    learning rate; the pre-clip gradient norm per step with the clipping threshold."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4))
    loss, metric, lr, norm = axes.flat
    _line(loss, curves.train_loss, label="train (mean over the window)")
    _line(loss, curves.val_loss, label="val")
    _finish(loss, "loss", "nats")
    _line(metric, curves.val_metric, color="C1", label=f"val {curves.metric}")
    if curves.baseline is not None:
        metric.axhline(curves.baseline, color="grey", ls="--", label="task baseline")
    _finish(metric, f"validation {curves.metric}", curves.metric)
    _line(lr, curves.lr, color="C2")
    _finish(lr, "learning rate", "lr")
    _line(norm, _positive(curves.grad_norm), color="C3", lw=0.8)
    if curves.clip is not None:
        norm.axhline(curves.clip, color="red", ls="--", label=f"clip {curves.clip:g}")
    _finish(
        norm, "gradient norm before clipping", "||g||", log=bool(_positive(curves.grad_norm)[1])
    )
    fig.tight_layout()
    return Figure.from_matplotlib(
        fig,
        f"learning curves: {curves.label}",
        "train loss is the mean over the steps since the previous evaluation; the gradient "
        "norm is measured before clipping, at every step",
    )


def plot_overlaid_curves(all_curves: Sequence[LearningCurves]) -> Figure:
    """The runs' curves overlaid, one colour per run: train loss, one panel of validation
    figures per main metric the runs use, learning rate and pre-clip gradient norm."""
    plt = pyplot()
    metrics = list(dict.fromkeys(c.metric for c in all_curves))
    panels = 3 + len(metrics)
    cols = 2 if panels <= 4 else 3
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows + 0.6), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[panels:]:
        ax.axis("off")
    loss, lr, norm = flat[0], flat[1 + len(metrics)], flat[2 + len(metrics)]
    for i, c in enumerate(all_curves):
        color = f"C{i % 10}"
        _line(loss, c.train_loss, color=color, label=c.label)
        _line(flat[1 + metrics.index(c.metric)], c.val_metric, color=color, label=c.label)
        _line(lr, c.lr, color=color, label=c.label)
        _line(norm, _positive(c.grad_norm), color=color, lw=0.7, label=c.label)
    _finish(loss, "train loss", "nats")
    for j, metric in enumerate(metrics):
        _finish(flat[1 + j], f"validation {metric}", metric)
    _finish(lr, "learning rate", "lr")
    positive = any(_positive(c.grad_norm)[1] for c in all_curves)
    _finish(norm, "gradient norm before clipping", "||g||", log=positive)
    fig.tight_layout()
    return Figure.from_matplotlib(
        fig,
        "learning curves, every run",
        "one colour per run; runs with different main metrics get a validation panel each",
    )
