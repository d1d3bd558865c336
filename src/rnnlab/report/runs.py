"""A run folder read for a report: its configuration, metrics, summary, gradient norms,
samples and the figures ``rnnlab diagnose`` left in it, without loading the model.

Only ``config.json`` is required (it is what makes a folder a run); every other file may
be missing (a run still training has no ``summary.json``) and a line of ``metrics.jsonl``
cut short by a kill is skipped, each noted in :attr:`RunRecord.notes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SKIPPED_FOLDERS = ("tensorboard",)  # written by training, never a figure
MAX_FOUND_FIGURES = 24  # PNG files taken from one run folder (its top and one level down)


@dataclass
class RunRecord:
    """What a report shows of one run folder.

    Attributes:
        path: the folder; label: the name it is shown under (its folder name, or the path
            when two runs share a name).
        config: ``config.json``; summary: ``summary.json`` (``None`` while training runs).
        records: the ``metrics.jsonl`` lines, in order.
        grad_norms: the pre-clip gradient norm of every training step (``clipping.json``);
            clip: the clipping threshold (``None``: no clipping).
        samples: ``(step, text)`` from ``samples.txt`` (a language model's previews).
        found_figures: PNG files in the folder and its direct subfolders (``rnnlab
            diagnose ... --out RUN`` or ``--out RUN/diagnose``), sorted.
        notes: what could not be read.
    """

    path: Path
    label: str
    config: dict[str, Any]
    summary: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    clip: float | None = None
    samples: list[tuple[int, str]] = field(default_factory=list)
    found_figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def task_info(self) -> dict[str, Any]:
        info = self.config.get("task_info")
        return info if isinstance(info, dict) else {}

    @property
    def model_config(self) -> dict[str, Any]:
        model = self.config.get("model")
        return model if isinstance(model, dict) else {}

    @property
    def family(self) -> str:
        """The model family (``rnn`` for runs written before families existed)."""
        return str(self.model_config.get("family", "rnn"))

    @property
    def cell(self) -> str | None:
        cell = self.model_config.get("cell")
        return None if cell is None else str(cell)

    @property
    def kind(self) -> str:
        """The task kind (``classify``, ``tag``, ``lm``, ``seq2seq``, ...)."""
        return str(self.task_info.get("kind", ""))

    @property
    def task(self) -> str:
        return str(self.config.get("task", "?"))

    @property
    def model_name(self) -> str:
        """The cell or family, as ``summary.json`` names it."""
        if self.summary and self.summary.get("model"):
            return str(self.summary["model"])
        return self.cell or self.family

    @property
    def main_metric(self) -> str:
        source = self.summary or self.task_info
        return str(source.get("main_metric") or "loss")

    @property
    def baseline(self) -> float | None:
        source = self.summary or self.task_info
        value = source.get("baseline")
        return float(value) if isinstance(value, (int, float)) else None

    def split_records(self, split: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("split") == split]


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_metrics(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    records, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
        else:
            bad += 1
    if bad:
        notes.append(f"metrics.jsonl: {bad} unreadable line(s) skipped")
    return records


def _read_samples(path: Path) -> list[tuple[int, str]]:
    samples = []
    for entry in path.read_text(encoding="utf-8", errors="replace").split("--- step ")[1:]:
        head, _, text = entry.partition(" ---\n")
        if head.isdigit():
            samples.append((int(head), text.rstrip("\n")))
    return samples


def _found_figures(folder: Path) -> list[Path]:
    found = sorted(folder.glob("*.png"))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in SKIPPED_FOLDERS:
            found += sorted(sub.glob("*.png"))
    return [p for p in found if p.is_file()]


def read_run(path: str | Path, label: str | None = None) -> RunRecord:
    """Read a run folder; a one-line ``ValueError`` when ``path`` is not one."""
    folder = Path(path)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file"
        raise ValueError(f"run folder {folder} {what}; expected a folder written by rnnlab train")
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"{folder} is not a run folder (no config.json); expected a folder written by "
            "rnnlab train"
        )
    config = _read_object(folder / "config.json")
    record = RunRecord(path=folder, label=label or folder.name or str(folder), config=config)
    notes = record.notes
    summary = folder / "summary.json"
    if summary.is_file():
        try:
            record.summary = _read_object(summary)
        except ValueError as exc:
            notes.append(f"summary.json not read: {exc}")
    else:
        notes.append("no summary.json: training has not finished (or was stopped)")
    metrics = folder / "metrics.jsonl"
    if metrics.is_file():
        record.records = _read_metrics(metrics, notes)
    else:
        notes.append("no metrics.jsonl: no learning curves")
    clipping = folder / "clipping.json"
    if clipping.is_file():
        try:
            data = _read_object(clipping)
            record.grad_norms = [float(v) for v in data.get("grad_norm", []) if v is not None]
            clip = data.get("clip")
            record.clip = float(clip) if isinstance(clip, (int, float)) else None
        except (ValueError, TypeError) as exc:
            notes.append(f"clipping.json not read: {str(exc).splitlines()[0]}")
    samples = folder / "samples.txt"
    if samples.is_file():
        record.samples = _read_samples(samples)
    found = _found_figures(folder)
    if len(found) > MAX_FOUND_FIGURES:
        notes.append(f"{len(found)} PNG files found; the first {MAX_FOUND_FIGURES} are shown")
        found = found[:MAX_FOUND_FIGURES]
    record.found_figures = found
    return record


def read_runs(paths: list[str | Path]) -> list[RunRecord]:
    """Read every folder (all checked before any work); labels are the folder names, or
    the paths as given where two folders share a name."""
    if not paths:
        raise ValueError("no run folders given; expected one or more folders of rnnlab train")
    names = [Path(p).resolve().name for p in paths]
    runs = []
    for path, name in zip(paths, names, strict=True):
        label = name if names.count(name) == 1 else str(path)
        runs.append(read_run(path, label))
    return runs


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, JSON value)`` for every leaf of a nested dict, in order."""
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += flatten(value, name + ".")
        else:
            rows.append((name, value if isinstance(value, str) else json.dumps(value)))
    return rows
