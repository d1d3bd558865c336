"""What ``rnnlab diagnose`` runs: gradient flow, Jacobian spectra and clipping statistics
for freshly initialised models and for trained run folders, exposure bias of trained
generative models and the learned boundaries of HM-RNN language models, written as JSON
and PNG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._io import read_json, write_json
from rnnlab.cells import decoding
from rnnlab.diagnostics.boundaries import boundary_agreement, hmrnn_boundaries, word_boundaries
from rnnlab.diagnostics.exposure import ExposureCurve, KnownProcess, StepModel, exposure_bias
from rnnlab.diagnostics.exposure_text import TextExposureCurve, TextSource, text_exposure
from rnnlab.diagnostics.gradflow import GradientFlow, gradient_flow
from rnnlab.diagnostics.jacobian import JacobianSpectrum, jacobian_spectrum
from rnnlab.diagnostics.plots import (
    plot_boundaries,
    plot_clipping,
    plot_exposure,
    plot_gradflow,
    plot_jacobian,
    plot_text_exposure,
)
from rnnlab.models.registry import build_model
from rnnlab.models.rnn import STACKS
from rnnlab.tasks.base import Batch, Task
from rnnlab.tasks.registry import TaskOptions, build_task
from rnnlab.tasks.vocab import CharVocab
from rnnlab.training.resolve import resolve_config
from rnnlab.training.run import load


@dataclass
class Subject:
    """A model to diagnose, with the task it is measured on."""

    label: str
    model: nn.Module
    task: Task


DILATED_DIAGNOSE_LAYERS = 4  # a dilated stack at initialisation: dilations 1, 2, 4, 8


def _per_model(value: int | Sequence[int] | None, models: list[str], flag: str) -> list[int | None]:
    """One value for every model, or one per model (``--hidden 128,128,64``)."""
    if value is None or isinstance(value, int):
        return [value] * len(models)
    values: list[int | None] = list(value)
    if len(values) == 1:
        return values * len(models)
    if len(values) != len(models):
        raise ValueError(
            f"{flag} gives {len(values)} values for {len(models)} models "
            f"({', '.join(models)}); expected one, or one per model"
        )
    return values


def initial_subjects(
    models: list[str],
    task_name: str,
    options: TaskOptions,
    hidden_size: int | Sequence[int] | None = None,
    seed: int = 0,
    num_layers: int | Sequence[int] | None = None,
    cell: str | None = None,
    dilations: Sequence[int] | None = None,
) -> list[Subject]:
    """Each named model at initialisation, built as ``rnnlab train`` would build it for the
    task (the task's defaults for that cell, e.g. its hidden size and chrono init).

    ``hidden_size`` and ``num_layers`` are one value for every model or one per model.
    Plain cells get one layer unless ``num_layers`` says otherwise; a stack model
    (``dilated``) wraps ``cell`` and gets ``len(dilations)`` layers when
    ``dilations`` is given, else ``num_layers``, else 4 (dilations 1, 2, 4, 8).
    """
    task = build_task(task_name, options)
    hidden = _per_model(hidden_size, models, "--hidden")
    layers = _per_model(num_layers, models, "--layers")
    subjects = []
    for name, h, n in zip(models, hidden, layers, strict=True):
        overrides: dict[str, Any] = {"model": name, "num_layers": n or 1, "bidirectional": False}
        label = name
        if name in STACKS:
            if cell is None:
                raise ValueError(f"model {name!r} wraps a cell: give one with --cell (e.g. elman)")
            overrides["cell"] = cell
            if dilations is not None:
                overrides["dilations"] = tuple(dilations)
                if n is not None and n != len(dilations):
                    raise ValueError(
                        f"--layers {n} for {name} disagrees with --dilations "
                        f"{','.join(map(str, dilations))} ({len(dilations)} layers)"
                    )
                n = len(dilations)
            overrides["num_layers"] = n or DILATED_DIAGNOSE_LAYERS
            label = f"{name}({cell})"
        if h is not None:
            overrides["hidden_size"] = h
        config = resolve_config(task_name, task, options, overrides)
        torch.manual_seed(seed)
        model = build_model(config.model, task.spec)
        subjects.append(Subject(f"{label} (init)", model, task))
    return subjects


def run_subjects(run_dirs: list[str]) -> list[Subject]:
    """Trained models from run folders, each measured on its own task."""
    subjects = []
    for run_dir in run_dirs:
        run = load(run_dir)
        name = getattr(run.config.model, "name", type(run.config.model).__name__)
        label = f"{name} ({Path(run_dir).name})"
        subjects.append(Subject(label, run.model, run.task()))
    return subjects


def _probe(task: Task, rows: int) -> Batch:
    return task.split("val").rows(slice(0, rows))


def diagnose_gradflow(
    subjects: list[Subject], out_dir: Path, rows: int = 32, title: str = ""
) -> dict[str, GradientFlow]:
    """Write ``gradflow.json`` and ``gradflow.png``.

    The JSON maps each label to ``{"norms", "ratio_first_last", "layers", "parts",
    "params"}``: the whole state's curve, one ``{"norms", "ratio_first_last"}`` per
    recurrent layer and per part of a structured state (clockwork modules, HM-RNN levels;
    :class:`~rnnlab.diagnostics.GradientFlow`), and the model's parameter count.
    """
    results = {s.label: gradient_flow(s.model, s.task, _probe(s.task, rows)) for s in subjects}
    params = {s.label: sum(p.numel() for p in s.model.parameters()) for s in subjects}
    write_json(
        out_dir / "gradflow.json",
        {k: {**v.to_dict(), "params": params[k]} for k, v in results.items()},
    )
    plot_gradflow(results, out_dir / "gradflow.png", title or "gradient flow through time")
    return results


def diagnose_jacobian(
    subjects: list[Subject], out_dir: Path, title: str = ""
) -> dict[str, JacobianSpectrum]:
    """Write ``jacobian.json`` ({label: spectra}) and ``jacobian.png`` for one val sequence."""
    results = {}
    for s in subjects:
        probe = _probe(s.task, 1)
        length = int(probe.lengths[0]) if probe.lengths is not None else probe.x.shape[1]
        results[s.label] = jacobian_spectrum(s.model, probe.x[0, :length])
    write_json(out_dir / "jacobian.json", {k: v.to_dict() for k, v in results.items()})
    plot_jacobian(results, out_dir / "jacobian.png", title or "Jacobian spectra along a sequence")
    return results


def diagnose_clipping(run_dir: str, out_dir: Path) -> dict[str, Any]:
    """Pre-clip gradient norms of a run: statistics and ``clipping.png``."""
    data = read_json(Path(run_dir) / "clipping.json")
    norms = torch.tensor(data["grad_norm"], dtype=torch.float64)
    if norms.numel() == 0:
        raise ValueError(f"run {run_dir} has no training steps recorded in clipping.json")
    stats = {
        "run": str(run_dir),
        "steps": int(norms.numel()),
        "clip": data["clip"],
        "clipped_fraction": data["clipped_fraction"],
        "grad_norm_median": float(norms.median()),
        "grad_norm_max": float(norms.max()),
        "grad_norm_p99": float(norms.quantile(0.99)),
    }
    write_json(out_dir / "clipping_stats.json", stats)
    plot_clipping(data["grad_norm"], data["clip"], out_dir / "clipping.png", f"{run_dir}")
    return stats


def diagnose_exposure(
    run_dirs: list[str],
    out_dir: str | Path,
    num_sequences: int = 256,
    length: int | None = None,
    seed: int = 0,
    context: int = 128,
) -> dict[str, dict[str, Any]]:
    """Exposure bias of trained generative runs, measured according to what their task
    offers (the task rebuilt from each run's config):

    * a known true process (``hmm`` runs, :class:`~rnnlab.diagnostics.KnownProcess`): the
      exact per-position KL from the true process along free-running and teacher-forced
      prefixes (:func:`rnnlab.diagnostics.exposure.exposure_bias`); ``length`` defaults to
      each run's training length ``T``.
    * a text (``charlm`` / ``shakespeare`` runs, :class:`~rnnlab.diagnostics.TextSource`;
      true distribution unknown): predictive entropy along free-running and teacher-forced
      continuations of ``num_sequences`` prefixes of the validation text, each after
      ``context`` true characters, and the n-gram divergence of the generated text from
      the real text (:func:`rnnlab.diagnostics.exposure_text.text_exposure`); ``length``
      defaults to 256.

    The model needs ``initial_state(batch)`` and ``step(tokens, state)``
    (:class:`~rnnlab.diagnostics.StepModel`, e.g. a language model).

    Every run is measured with the same ``seed``, so on the same true prefixes. Writes
    ``exposure.json`` ({run label: {"measure": "exact_kl" or "text", "training_mode": ...,
    curves and summary numbers}}, labels are the run folders' names) and ``exposure.png``,
    whose legend names each run's training mode (teacher forcing, scheduled sampling,
    professor forcing), and returns the JSON's content.
    """
    if not run_dirs:
        raise ValueError("diagnose exposure needs at least one run folder")
    names = [Path(d).name for d in run_dirs]
    measures: set[str] = set()
    exact: dict[str, ExposureCurve] = {}
    text: dict[str, TextExposureCurve] = {}
    results: dict[str, dict[str, Any]] = {}
    for run_dir, name in zip(run_dirs, names, strict=True):
        run = load(run_dir)
        task = run.task()
        model = run.model
        # the measure follows from what the task offers: a known process, or a text
        if not isinstance(task, KnownProcess | TextSource):
            raise ValueError(
                f"run {run_dir} was trained on task {run.config.task!r}; exposure bias is "
                "measured on hmm (exact) or charlm/shakespeare (text) runs"
            )
        if not isinstance(model, StepModel):
            raise ValueError(
                f"run {run_dir} holds a {type(model).__name__}, not a language model "
                "(initial_state(batch) and step(tokens, state))"
            )
        measures.add("exact_kl" if isinstance(task, KnownProcess) else "text")
        if len(measures) > 1:
            raise ValueError(
                "diagnose exposure compares runs of one kind: hmm runs (exact KL) or text runs, "
                f"not both ({run_dir})"
            )
        label = name if names.count(name) == 1 else str(run_dir)
        mode = run.config.train.generative_mode()
        model_name = getattr(run.config.model, "name", type(run.config.model).__name__)
        common = {"run": str(run_dir), "cell": model_name, "training_mode": mode}
        generator = torch.Generator().manual_seed(seed)
        if isinstance(task, KnownProcess):
            with decoding(model):  # derived recurrent weights once, not per token
                curve = exposure_bias(
                    model.step,
                    model.initial_state,
                    task.process,
                    num_sequences,
                    length if length is not None else task.T,
                    generator,
                    task.start_token,
                )
            exact[f"{label} [{mode}]"] = curve
            results[label] = {
                "measure": "exact_kl",
                **common,
                "baseline_bpc": task.baseline,
                **curve.to_dict(),
            }
        else:
            with decoding(model):
                text_curve = text_exposure(
                    model.step,
                    model.initial_state,
                    task.tokens("val"),
                    num_sequences,
                    length if length is not None else 256,
                    context,
                    generator,
                )
            text[f"{label} [{mode}]"] = text_curve
            results[label] = {
                "measure": "text",
                **common,
                "corpus": task.metadata.get("source", task.corpus),
                "context": context,
                **text_curve.to_dict(),
            }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "exposure.json", results)
    if exact:
        title = "exposure bias: KL(P_true || Q_model); solid free-running, dashed teacher-forced"
        plot_exposure(exact, out / "exposure.png", title)
    else:
        title = f"exposure bias on text ({num_sequences} validation prefixes, context {context})"
        plot_text_exposure(text, out / "exposure.png", title)
    return results


DEFAULT_SENTENCE_CHARS = 120  # without --text: this many characters of the validation text


def diagnose_boundaries(
    run_dir: str,
    out_dir: str | Path,
    text: str | None = None,
    max_chars: int | None = None,
) -> dict[str, Any]:
    """The learned segment boundaries of a character language model trained with
    ``--model hmrnn``: over ``text`` (a figure) and over the run's validation text (their
    agreement with word boundaries, :func:`~rnnlab.diagnostics.boundaries.boundary_agreement`).

    ``text`` defaults to the first 120 characters of the validation text; ``max_chars``
    limits the validation characters scored (default all). Both are read from the initial
    state. Writes ``boundaries.json``: the text and its characters, ``boundaries`` {level:
    [0/1 per character]}, ``word_boundaries`` [0/1], ``sentence`` and ``validation``
    agreement per level, exact (``tolerance_0``: the boundary on the space or punctuation
    mark itself) and ``tolerance_1`` (also one character before or after, e.g. on a word's
    last letter), with each level's boundary rate; and ``boundaries.png``. Returns the
    JSON's content.
    """
    run = load(run_dir)
    if "vocab" not in run.task_info:
        raise ValueError(
            f"run {run_dir} is not a character language model (task kind {run.spec.kind!r})"
        )
    if max_chars is not None and max_chars < 1:
        raise ValueError(f"max_chars must be a positive integer, got {max_chars!r}")
    vocab = CharVocab.from_json(run.task_info["vocab"])
    task = run.task()
    val = task.split("val").x  # (S, N) contiguous streams of the validation text
    if max_chars is not None:
        columns = max(1, -(-max_chars // val.shape[0]))
        val = val[:, :columns]
    if text is None:
        text = vocab.decode(val[0, :DEFAULT_SENTENCE_CHARS].tolist())
    if not text:
        raise ValueError("--text is empty; give the sentence to plot")
    ids = vocab.encode(text)
    chars = list(text)
    sentence = {k: z[0] for k, z in hmrnn_boundaries(run.model, ids.unsqueeze(0)).items()}
    reference = word_boundaries(chars)
    val_z = hmrnn_boundaries(run.model, val)
    every_id = list(vocab.decode(list(range(len(vocab)))))  # unk decodes to U+FFFD
    val_ref = word_boundaries(every_id)[val]  # (S, N)

    def agreement(z: Tensor, ref: Tensor) -> dict[str, Any]:
        return {f"tolerance_{k}": boundary_agreement(z, ref, tolerance=k).to_dict() for k in (0, 1)}

    result: dict[str, Any] = {
        "run": str(run_dir),
        "text": text,
        "chars": chars,
        "unknown": int((ids == vocab.unk).sum()),
        "boundaries": {k: [int(v) for v in z.tolist()] for k, z in sentence.items()},
        "word_boundaries": [int(v) for v in reference.tolist()],
        "sentence": {k: agreement(z, reference) for k, z in sentence.items()},
        "validation": {
            "chars": int(val.numel()),
            "word_boundary_rate": float(val_ref.float().mean()),
            "boundary_rate": {k: float(z.mean()) for k, z in val_z.items()},
            "agreement": {k: agreement(z, val_ref) for k, z in val_z.items()},
        },
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "boundaries.json", result)
    f1 = ", ".join(
        f"{k} F1 {v['tolerance_0']['f1']:.2f}" for k, v in result["validation"]["agreement"].items()
    )
    title = f"HM-RNN boundaries, {Path(run_dir).name} (validation vs spaces/punct: {f1})"
    plot_boundaries(chars, result["boundaries"], reference.tolist(), out / "boundaries.png", title)
    return result
