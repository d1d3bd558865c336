"""The report of a set of run folders (``rnnlab report RUN... --out report.html``): with
several runs, a comparison first (their learning curves overlaid and a table of final
metrics), then one section per run (what it is, its final table, learning curves, the
views its family has, samples, and its whole configuration)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rnnlab.report.curves import learning_curves, plot_overlaid_curves, plot_run_curves, pyplot
from rnnlab.report.figures import found_figures, run_views
from rnnlab.report.page import Figure, Page, Section, Table, write_page
from rnnlab.report.runs import RunRecord, flatten, read_runs
from rnnlab.training.threads import training_threads


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return f"{value:.4g}" if isinstance(value, float) else f"{value:,}"


def _final(run: RunRecord, split: str, metric: str) -> Any:
    metrics = (run.summary or {}).get("metrics") or {}
    return (metrics.get(split) or {}).get(metric)


def _direction(run: RunRecord) -> str:
    source = run.summary or run.task_info
    higher = source.get("higher_is_better")
    return "-" if higher is None else ("higher" if higher else "lower")


def comparison_table(runs: Sequence[RunRecord]) -> Table:
    """One row per run: what it is and its final figures on its own main metric."""
    rows = []
    for run in runs:
        s = run.summary or {}
        metric = run.main_metric
        rows.append(
            (
                run.label,
                run.task,
                run.model_name,
                _number(s.get("params")),
                _number(s.get("steps")),
                metric,
                _number(_final(run, "val", metric)),
                _number(_final(run, "test", metric)),
                _number(run.baseline),
                _direction(run),
                _number(s.get("wall_time_s")),
                str(s.get("stopped", "not finished")),
            )
        )
    return Table(
        columns=(
            "run",
            "task",
            "model",
            "params",
            "steps",
            "main metric",
            "val",
            "test",
            "baseline",
            "better",
            "train time (s)",
            "stopped",
        ),
        rows=tuple(rows),
        caption="final metrics (best checkpoint)",
    )


def final_table(run: RunRecord) -> Table | None:
    """Every metric of ``summary.json`` on val and test (``None`` without them)."""
    metrics = (run.summary or {}).get("metrics") or {}
    splits = [s for s in ("val", "test") if isinstance(metrics.get(s), dict)]
    if not splits:
        return None
    names = list(dict.fromkeys(k for s in splits for k in metrics[s]))
    rows = tuple(
        (
            name + (" (main)" if name == run.main_metric else ""),
            *(_number(metrics[s].get(name)) for s in splits),
        )
        for name in names
    )
    return Table(columns=("metric", *splits), rows=rows, caption="final table (summary.json)")


def config_table(run: RunRecord) -> Table:
    """``config.json`` flattened (``model.hidden_size``), without the task's vocabulary,
    codec and corpus metadata; folded away on the page."""
    shown = {k: v for k, v in run.config.items() if k != "task_info"}
    info = {k: v for k, v in run.task_info.items() if k not in ("vocab", "codec", "metadata")}
    rows = flatten(shown) + flatten(info, "task_info.")
    return Table(
        columns=("setting", "value"),
        rows=tuple(rows),
        caption=f"configuration (config.json, {len(rows)} settings)",
        collapsed=True,
    )


def _facts(run: RunRecord) -> tuple[tuple[str, str], ...]:
    s = run.summary or {}
    facts = [("folder", str(run.path)), ("task", run.task), ("model", run.model_name)]
    if run.family != "rnn" or not run.cell:
        facts.append(("family", run.family))
    for key, label in (
        ("params", "parameters"),
        ("steps", "steps"),
        ("best_step", "best step"),
        ("wall_time_s", "train time (s)"),
        ("stopped", "stopped"),
        ("device", "device"),
        ("note", "note"),
        ("fault", "fault"),
    ):
        if key in s:
            facts.append((label, _number(s[key])))
    return tuple(facts)


def _summary_line(run: RunRecord) -> str:
    s = run.summary
    if s is None:
        return f"{run.model_name} on {run.task}: training has not finished."
    metric = run.main_metric
    test = _final(run, "test", metric)
    if test is None:
        return f"{run.model_name} on {run.task}: stopped ({s.get('stopped', '?')}), no metrics."
    baseline = "" if run.baseline is None else f" against a baseline of {_number(run.baseline)}"
    return (
        f"{run.model_name} on {run.task}, {_number(s.get('steps'))} steps: test {metric} "
        f"{_number(test)}{baseline} ({_direction(run)} is better)."
    )


def run_section(run: RunRecord, anchor: str) -> Section:
    """One run: facts, final table, learning curves, its family's views, the PNG files
    ``rnnlab diagnose`` left in its folder, samples, configuration and notes."""
    notes = list(run.notes)
    curves = learning_curves(run)
    figures: list[Figure] = []
    if not curves.empty:
        figures.append(plot_run_curves(curves))
    tables = [t for t in (final_table(run),) if t is not None]
    views, view_notes = run_views(run)
    figures += [v for v in views if isinstance(v, Figure)]
    tables += [v for v in views if isinstance(v, Table)]
    found, found_notes = found_figures(run)
    figures += found
    notes += view_notes + found_notes
    samples: list[tuple[str, str]] = []
    if run.samples:
        first, last = run.samples[0], run.samples[-1]
        if first[0] != last[0]:
            samples.append((f"sample at step {first[0]} (samples.txt)", first[1]))
        samples.append((f"sample at step {last[0]} (samples.txt)", last[1]))
    return Section(
        title=f"{run.label}: {run.task} / {run.model_name}",
        summary=_summary_line(run),
        facts=_facts(run),
        tables=(*tables, config_table(run)),
        figures=tuple(figures),
        notes=tuple(notes),
        anchor=anchor,
        preformatted=tuple(samples),
    )


def build_report(paths: Sequence[str | Path], title: str = "rnnlab report") -> Page:
    """The page for the run folders ``paths`` (each checked before any work)."""
    runs = read_runs(list(paths))
    pyplot()  # the plot extra's one-line error before anything is computed
    sections = []
    with training_threads(None, torch.device("cpu")):  # one thread unless the user chose
        if len(runs) > 1:
            all_curves = [learning_curves(r) for r in runs]
            sections.append(
                Section(
                    title="Comparison",
                    summary=f"{len(runs)} runs side by side: final metrics, then their "
                    "learning curves overlaid.",
                    notes=(
                        "val and test are each run's own main metric on its best checkpoint; "
                        "baseline is the task's reference figure for it (e.g. a unigram "
                        "model's bits per character, or a memoryless guess), and better "
                        "says which direction wins.",
                    ),
                    tables=(comparison_table(runs),),
                    figures=(plot_overlaid_curves([c for c in all_curves if not c.empty]),)
                    if any(not c.empty for c in all_curves)
                    else (),
                    anchor="comparison",
                )
            )
        sections += [run_section(run, f"run-{i + 1}") for i, run in enumerate(runs)]
    names = ", ".join(r.label for r in runs)
    return Page(
        title=title,
        sections=sections,
        intro=f"{len(runs)} run folder{'s' if len(runs) > 1 else ''} written by rnnlab "
        f"train ({names}): for each, what it is, its final figures, learning curves, what "
        "its model family shows and its configuration.",
        footer="Written by rnnlab report: one self-contained file (figures embedded as "
        "PNG), readable without a network or JavaScript.",
    )


def check_output(out: str | Path) -> Path:
    """``out`` as a path where the report can be written, checked before any work: not a
    folder, its nearest existing parent a writable folder (one-line ``ValueError``)."""
    path = Path(out)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; expected a file name such as report.html")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write --out {path}: {parent} is not a folder")
    try:  # root ignores permission bits: a real probe also finds read-only file systems
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".rnnlab-report-probe."):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"cannot write --out {path}: {parent} is not writable ({reason})"
        ) from None
    return path


def write_report(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Build the report of ``paths`` and write it atomically to ``out`` (nothing is
    written when any input is bad)."""
    path = check_output(out)
    page = build_report(paths)
    return write_page(page, path)
