"""Encoder-decoder diagnostics: the attention map of one sentence, and the task's metric
(exact match, BLEU) against the source length for several runs, the figure of Bahdanau,
Cho & Bengio (2015, Fig. 2) that shows a fixed-size context failing on long sentences.

Both return data; :mod:`rnnlab.diagnostics.plots` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab._io import write_json
from rnnlab.decoding.seq2seq import decode_sources
from rnnlab.tasks.base import Batch
from rnnlab.training.run import TrainedRun, load


@runtime_checkable
class ScoresDecodes(Protocol):
    """What :func:`length_curve` needs of a task (an encoder-decoder's,
    :class:`~rnnlab.tasks.seq2seq.Seq2SeqTask`): splits of source sequences ``x`` with
    ``lengths``, the most tokens decoding may emit, and ``score`` of decoded token ids
    against a split's references, which includes the ``main_metric``."""

    main_metric: str
    max_target_length: int

    def split(self, name: str) -> Batch: ...

    def score(
        self, hypotheses: Sequence[Sequence[int]], split: str, rows: Sequence[int] | None = None
    ) -> dict[str, float]: ...


@dataclass
class AttentionMap:
    """Attention weights of one decoded sentence: ``weights[i][j]`` is the weight output
    token ``i`` put on source token ``j`` (each row sums to 1)."""

    source: list[str]
    output: list[str]
    weights: list[list[float]]
    text: str
    translation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LengthCurve:
    """A run's metric per bucket of source lengths (in tokens, ``EOS`` not counted)."""

    label: str
    metric: str
    attention: str
    lengths: list[tuple[int, int]]  # (shortest, longest) of each bucket
    counts: list[int]
    values: list[float | None]  # the metric in each bucket (None for empty buckets)
    overall: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def attention_map(run: TrainedRun, text: str, beam: int = 1) -> AttentionMap:
    """Decode ``text`` with an encoder-decoder run and keep the attention weights."""
    source, output, weights = run.attention(text, beam=beam)
    translation = run.translate([text], beam=beam)[0]
    return AttentionMap(source, output, _rows(weights), text, translation)


def _rows(weights: Tensor) -> list[list[float]]:
    return [[float(v) for v in row] for row in weights.tolist()]


def length_curve(
    run: TrainedRun,
    task: ScoresDecodes,
    split: str = "test",
    beam: int = 1,
    bucket_width: int | None = None,
    label: str | None = None,
) -> LengthCurve:
    """The task's main metric (``task.score``) per bucket of source lengths on ``split``.

    Buckets are ``bucket_width`` tokens wide (default: a tenth of the longest source,
    rounded up), starting at length 1.
    """
    data = task.split(split)
    assert data.lengths is not None
    lengths = (data.lengths - 1).tolist()  # tokens, EOS not counted
    longest = max(1, max(lengths))
    width = bucket_width if bucket_width is not None else max(1, math.ceil(longest / 10))
    check_positive("bucket_width", width)
    device = next(run.model.parameters()).device
    decoded = decode_sources(
        run.model,
        data.x.to(device),
        data.lengths,
        task.max_target_length,
        beam_size=beam,
        length_penalty=run.config.train.length_penalty,
    )
    metric = task.main_metric
    spans: list[tuple[int, int]] = []
    counts: list[int] = []
    values: list[float | None] = []
    for lo in range(1, longest + 1, width):
        hi = lo + width - 1
        rows = [i for i, n in enumerate(lengths) if lo <= n <= hi]
        spans.append((lo, hi))
        counts.append(len(rows))
        if rows:
            hyps = [decoded.tokens[i] for i in rows]
            values.append(float(task.score(hyps, split, rows=rows)[metric]))
        else:
            values.append(None)
    overall = float(task.score(decoded.tokens, split)[metric])
    return LengthCurve(
        label=label or run.run_dir.name,
        metric=metric,
        attention=run.config.model.attention,
        lengths=spans,
        counts=counts,
        values=values,
        overall=overall,
    )


def diagnose_attention(run_dir: str, text: str, out_dir: str | Path, beam: int = 1) -> AttentionMap:
    """Write ``attention.json`` and the heatmap ``attention.png`` for one sentence."""
    from rnnlab.diagnostics.plots import plot_attention

    run = load(run_dir)
    result = attention_map(run, text, beam)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "attention.json", {"run": str(run_dir), **result.to_dict()})
    plot_attention(result, out / "attention.png", f"{Path(run_dir).name}: {text}")
    return result


def diagnose_length(
    run_dirs: list[str],
    out_dir: str | Path,
    split: str = "test",
    beam: int = 1,
    bucket_width: int | None = None,
) -> dict[str, LengthCurve]:
    """Write ``length.json`` ({label: curve}) and ``length.png``: each run's metric against
    the source length, every run on its own task's ``split``."""
    from rnnlab.diagnostics.plots import plot_length

    if not run_dirs:
        raise ValueError("diagnose length needs at least one --run folder")
    names = [Path(d).name for d in run_dirs]
    curves: dict[str, LengthCurve] = {}
    for run_dir, name in zip(run_dirs, names, strict=True):
        run = load(run_dir)
        task = run.task()
        if not isinstance(task, ScoresDecodes):
            raise ValueError(
                f"run {run_dir} is not an encoder-decoder (task kind {run.spec.kind!r})"
            )
        label = name if names.count(name) == 1 else str(run_dir)
        curves[label] = length_curve(run, task, split, beam, bucket_width, label)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "length.json", {k: v.to_dict() for k, v in curves.items()})
    plot_length(curves, out / "length.png", f"{split} split, beam {beam}")
    return curves
