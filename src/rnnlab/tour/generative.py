"""Claim 2: a generative RNN is a language model that samples text; it is not Markov: its
loss keeps falling as it may read further back, past any fixed order."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.nn import functional as F

from rnnlab.diagnostics.exposure_text import TextSource
from rnnlab.report.page import Table
from rnnlab.tasks.base import Batch
from rnnlab.tour.budget import Budget
from rnnlab.tour.recipe import Recipe, run_recipe
from rnnlab.tour.section import ClaimSection, fmt, line_figure, time_note
from rnnlab.training.evaluate import evaluating
from rnnlab.training.run import load

CONTEXTS = (1, 2, 4, 8, 16, 32, 64, 128)


def context_curve(
    model: torch.nn.Module, tokens: torch.Tensor, window: int, rows: int
) -> list[float]:
    """Bits per character at each position ``t`` of ``rows`` windows of the text read from
    a fresh state: the loss of predicting character ``t + 1`` from the ``t + 1`` characters
    the model has read (its usable context). A Markov model of order ``k`` gives a flat
    curve after ``t = k``."""
    n = tokens.numel() - window - 1
    if n < 1:
        raise ValueError(f"the text has {tokens.numel()} characters; a window needs {window + 1}")
    starts = torch.linspace(0, n, rows).long()
    index = starts[:, None] + torch.arange(window + 1)
    chunk = tokens[index]
    x, y = chunk[:, :-1], chunk[:, 1:]
    with evaluating(model), torch.no_grad():
        logits, _ = model(Batch(x, y, None))
    nats = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0)
    return [float(v) / math.log(2) for v in nats]


def generative(budget: Budget, out_dir: Path) -> ClaimSection:
    recipe = Recipe(
        "charlm",
        {"model": "lstm", "hidden_size": 4 * budget.hidden},
        {"steps": budget.scaled(1.5), "max_time": budget.seconds(2), "eval_every": 10**6},
    )
    trained = run_recipe(recipe, out_dir, "charlm-lstm")
    run = load(trained.run_dir)
    window = 2 * max(CONTEXTS)
    task = run.task()
    if not isinstance(task, TextSource):
        raise ValueError(f"task {recipe.task!r} gives no validation text")
    curve = context_curve(run.model, task.tokens("val"), window, budget.rows)
    # the mean over positions c..2c-1: one position alone is noisy
    at = {c: sum(curve[c - 1 : 2 * c - 1]) / c for c in CONTEXTS}
    samples = (trained.run_dir / "samples.txt").read_text(encoding="utf-8")
    last = samples.rsplit("--- step", 1)[-1].split("\n", 1)[-1].strip("\n")
    best = min(range(len(curve)), key=lambda i: curve[i]) + 1
    val_bpc = float(trained.summary["metrics"]["val"]["bpc"])
    beyond = [c for c in CONTEXTS if c > 8 and at[c] < at[8]]
    verdict = (
        f"it predicts better with {beyond[-1]} characters than with 8, past what a Markov "
        "model of order 8 could use"
        if beyond
        else "at this budget it does not yet gain from more than 8 characters of context"
    )
    figure = line_figure(
        {
            "each position": ([float(c) for c in range(1, window + 1)], curve),
            "mean over c..2c-1": ([float(c) for c in at], list(at.values())),
        },
        "loss against the context the model may use",
        "characters read so far (from a fresh state)",
        "bits per character",
        caption=f"{budget.rows} windows of the validation text, each read from a zero state",
        logx=True,
    )
    return ClaimSection(
        title="2. Generative RNNs",
        summary="A recurrent language model samples text one character at a time, and it is "
        "not Markov: its loss keeps falling as it may read further back.",
        facts=(
            ("command", f"{trained.command} ; rnnlab sample runs/charlm-lstm"),
            ("number", f"val {fmt(val_bpc)} bits/char (test {fmt(trained.test('bpc'))})"),
            (
                "not Markov",
                f"{fmt(at[1])} bits/char after 1 character of context, {fmt(at[8])} after 8 to "
                f"15, "
                f"{fmt(at[64])} after 64 to 127, {fmt(at[128])} after 128 to 255; lowest at "
                f"{best} characters: {verdict}",
            ),
            (
                "reference",
                "REFERENCE.md: PTB characters LSTM ~1.36 bits/char (a full-size model trained "
                "for days); RESULTS.md, Tiny Shakespeare at 240 s: LSTM 256 2.56 val bpc. This "
                "run is shorter and on the default corpus (Python's standard library source), "
                "so its bpc is higher.",
            ),
        ),
        tables=(
            Table(
                ("context c (characters)", "bits per character, mean over contexts c..2c-1"),
                tuple((str(c), fmt(v)) for c, v in at.items()),
            ),
        ),
        figures=(figure,),
        preformatted=(("a sample at the end of training (temperature 1)", last[:600]),),
        notes=time_note([trained]),
        anchor="claim-2",
        numbers={
            "val_bpc": val_bpc,
            "test_bpc": trained.test("bpc"),
            "bpc_by_context": {str(c): v for c, v in at.items()},
            "steps": trained.summary["steps"],
            "train_time_s": trained.summary["wall_time_s"],
            "params": trained.params,
            "uses_context_beyond_8": bool(beyond),
        },
    )
