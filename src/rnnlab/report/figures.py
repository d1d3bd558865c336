"""What a report draws of a run beyond its curves, by family: a table of views, each with
the runs it applies to (read from ``config.json``, no model loaded), how it is drawn (a
:class:`~rnnlab.report.page.Figure` or :class:`~rnnlab.report.page.Table`, computed on the
spot with :mod:`rnnlab.diagnostics`, in well under a second on a small run), and the PNG
files of ``rnnlab diagnose`` that already show it (then those are shown instead).

A family adds its view with one :class:`RunView` line in :data:`RUN_VIEWS`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rnnlab.report.curves import pyplot
from rnnlab.report.page import Figure, Table
from rnnlab.report.runs import RunRecord
from rnnlab.tasks.base import Task, batch_rows
from rnnlab.training.run import TrainedRun, load

GRADFLOW_ROWS = 8  # validation sequences the gradient flow is measured on
TEXT_CHARS = 80  # characters of validation text read by a character model's views
HEAD_CHARS = 32  # ... by a Transformer's attention heads (a T x T map per head)
TRANSLATIONS = 5  # validation sentences translated by an encoder-decoder


class LoadedRun:
    """A run's record with its model and task, each loaded on first use (once)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    @cached_property
    def trained(self) -> TrainedRun:
        return load(self.record.path)

    @cached_property
    def task(self) -> Task:
        return self.trained.task()

    def val_text(self, chars: int) -> str:
        """The first ``chars`` characters of a character model's validation text."""
        from rnnlab.tasks.vocab import CharVocab

        vocab = CharVocab.from_json(self.trained.task_info["vocab"])
        return str(vocab.decode(self.task.split("val").x[0, :chars].tolist()))

    def val_sentences(self, count: int) -> list[tuple[str, str]]:
        """``(source, reference)`` texts of an encoder-decoder's first validation rows."""
        from rnnlab.tasks.seq2seq import source_ids, target_ids

        codec = self.trained.codec
        data = self.task.split("val").rows(slice(0, count))
        assert data.lengths is not None
        sources = source_ids(data.x, data.lengths)
        return [
            (
                codec.source_tokenizer.detokenize(codec.src_vocab.decode(src)),
                codec.decode_target(tgt),
            )
            for src, tgt in zip(sources, target_ids(data.targets), strict=True)
        ]


def _drawn(plot: Callable[[Path], None], title: str, caption: str) -> Figure:
    """A figure that a :mod:`rnnlab.diagnostics.plots` function writes to a PNG file."""
    pyplot()  # the plot extra's one-line error before anything is computed
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.png"
        plot(path)
        return Figure.from_file(path, title, caption)


def gradient_flow_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.gradflow import gradient_flow
    from rnnlab.diagnostics.plots import plot_gradflow

    probe = batch_rows(run.task.split("val"), slice(0, GRADFLOW_ROWS))
    flow = gradient_flow(run.trained.model, run.task, probe)
    name = run.record.label
    return _drawn(
        lambda path: plot_gradflow({name: flow}, path, f"gradient flow, {name}"),
        "gradient flow through time",
        f"||dL/dh_t|| of the trained model over {GRADFLOW_ROWS} validation sequences "
        f"(log scale): first step / last step {flow.ratio_first_last:.3g}",
    )


def attention_map_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.plots import plot_attention
    from rnnlab.diagnostics.seq2seq import attention_map

    # the longest of the first few validation sentences (a two-token map shows little)
    source = max((s for s, _ in run.val_sentences(TRANSLATIONS)), key=len)
    result = attention_map(run.trained, source)
    return _drawn(
        lambda path: plot_attention(result, path, f"{source} -> {result.translation}"),
        "attention map",
        f"the longest of the first {TRANSLATIONS} validation sentences, greedy decoding: the "
        "weight each output token (down) puts on each source token (across)",
    )


def attention_heads_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.heads import head_maps
    from rnnlab.diagnostics.plots import plot_heads

    text = run.val_text(HEAD_CHARS)
    result = head_maps(run.trained, text)
    return _drawn(
        lambda path: plot_heads(result, path, repr(text)),
        "attention heads",
        f"every layer's every head reading the first {HEAD_CHARS} validation characters: "
        "queries down, keys across",
    )


def cross_heads_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.heads import cross_head_maps
    from rnnlab.diagnostics.plots import plot_cross_heads

    source = max((s for s, _ in run.val_sentences(TRANSLATIONS)), key=len)
    result = cross_head_maps(run.trained, source)
    return _drawn(
        lambda path: plot_cross_heads(result, path, source),
        "cross-attention heads",
        f"the longest of the first {TRANSLATIONS} validation sentences, greedy decoding: every "
        "decoder layer's every head, output tokens down, source tokens across",
    )


def boundaries_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.boundaries import hmrnn_boundaries, word_boundaries
    from rnnlab.diagnostics.plots import plot_boundaries
    from rnnlab.tasks.vocab import CharVocab

    text = run.val_text(TEXT_CHARS)
    vocab = CharVocab.from_json(run.trained.task_info["vocab"])
    levels = hmrnn_boundaries(run.trained.model, vocab.encode(text).unsqueeze(0))
    z = {name: row[0].tolist() for name, row in levels.items()}
    chars = list(text)
    reference = word_boundaries(chars).tolist()
    return _drawn(
        lambda path: plot_boundaries(chars, z, reference, path, "HM-RNN boundaries"),
        "HM-RNN boundaries",
        f"the first {TEXT_CHARS} validation characters: a filled cell where a level ends a "
        "segment; the bottom row marks spaces and punctuation",
    )


def memory_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.memory import memory_trace
    from rnnlab.diagnostics.plots import plot_memory

    trace = memory_trace(run.trained, row=0, split="test")
    return _drawn(
        lambda path: plot_memory(trace, path),
        "memory read and write weightings",
        "the first test sequence: inputs, targets and outputs, then each head's weighting "
        "over the memory slots at every step (darker: more weight)",
    )


def memory_hops_figure(run: LoadedRun) -> Figure:
    from rnnlab.diagnostics.memory_hops import hop_attention, plot_hop_attention

    view = hop_attention(run.trained.model, run.task, "test", 0)
    return _drawn(
        lambda path: plot_hop_attention(view, path),
        "memory hops",
        "the first test story: each hop's attention over the sentences (supporting facts starred)",
    )


def translations_table(run: LoadedRun) -> Table:
    pairs = run.val_sentences(TRANSLATIONS)
    outputs = run.trained.translate([source for source, _ in pairs])
    rows = tuple(
        (source, reference, output)
        for (source, reference), output in zip(pairs, outputs, strict=True)
    )
    return Table(
        columns=("source", "reference", "model (greedy)"),
        rows=rows,
        caption=f"translations of the first {len(rows)} validation sentences",
    )


@dataclass(frozen=True)
class RunView:
    """A view of some runs: ``applies(record)`` from the config alone; ``draw(run)``;
    ``diagnose_files``: the PNG names of ``rnnlab diagnose`` that show the same (a run
    folder holding one of them shows that file, and this view is not computed)."""

    name: str
    applies: Callable[[RunRecord], bool]
    draw: Callable[[LoadedRun], Figure | Table]
    diagnose_files: tuple[str, ...] = ()


def _attends(r: RunRecord) -> bool:
    """An rnn-family encoder-decoder with attention (a Transformer encoder-decoder shows
    its cross-attention heads instead)."""
    return (
        r.family == "rnn"
        and r.kind == "seq2seq"
        and r.model_config.get("attention") not in ("none", None)
    )


RUN_VIEWS: tuple[RunView, ...] = (
    RunView(
        "gradient flow",
        lambda r: r.family == "rnn" and r.kind in ("classify", "regress", "tag"),
        gradient_flow_figure,
        ("gradflow.png",),
    ),
    RunView("attention map", _attends, attention_map_figure, ("attention.png",)),
    RunView(
        "attention heads",
        lambda r: r.family == "transformer" and r.kind == "lm",
        attention_heads_figure,
        ("heads.png",),
    ),
    RunView(
        "cross-attention heads",
        lambda r: r.family == "transformer" and r.kind == "seq2seq",
        cross_heads_figure,
        ("cross_heads.png",),
    ),
    RunView(
        "HM-RNN boundaries",
        lambda r: r.cell == "hmrnn" and r.kind == "lm",
        boundaries_figure,
        ("boundaries.png",),
    ),
    RunView("memory weightings", lambda r: r.cell == "ntm", memory_figure, ("memory.png",)),
    RunView(
        "memory hops", lambda r: r.family == "memn2n", memory_hops_figure, ("memory_hops.png",)
    ),
    RunView("translations", lambda r: r.kind == "seq2seq", translations_table),
)


def run_views(record: RunRecord) -> tuple[list[Figure | Table], list[str]]:
    """The views of :data:`RUN_VIEWS` that apply to ``record`` and are not already in its
    folder, drawn; and a note for each that could not be drawn (never an exception)."""
    shown = {p.name for p in record.found_figures}
    run = LoadedRun(record)
    drawn: list[Figure | Table] = []
    notes: list[str] = []
    for view in RUN_VIEWS:
        if not view.applies(record) or shown.intersection(view.diagnose_files):
            continue
        try:
            drawn.append(view.draw(run))
        except Exception as exc:  # a view that cannot be drawn is left out, with a note
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            notes.append(f"{view.name}: not drawn ({type(exc).__name__}: {first})")
    return drawn, notes


def found_figures(record: RunRecord) -> tuple[list[Figure], list[str]]:
    """The PNG files in the run folder (from ``rnnlab diagnose``), and notes for files
    that are not PNG images."""
    figures, notes = [], []
    for path in record.found_figures:
        name = str(path.relative_to(record.path))
        try:
            figures.append(Figure.from_file(path, name, "found in the run folder"))
        except (OSError, ValueError) as exc:
            notes.append(f"{name}: not shown ({str(exc).splitlines()[0]})")
    return figures, notes
