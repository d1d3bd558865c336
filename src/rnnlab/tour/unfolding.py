"""Claim 1: unfolding shares one set of weights across time, so a model trained on
sequences of length T runs on 2T..10T; where it breaks, it breaks in what it learnt."""

from __future__ import annotations

from pathlib import Path

from rnnlab.report.page import Table
from rnnlab.tour.budget import Budget
from rnnlab.tour.recipe import Recipe, run_recipe
from rnnlab.tour.section import ClaimSection, fmt, line_figure, time_note
from rnnlab.training.evaluate import evaluate
from rnnlab.training.run import load

MULTIPLES = (1, 2, 4, 6, 8, 10)
BREAK_FACTOR = 1.05  # "breaks": bpc more than 5% above its value at the training length


def unfolding(budget: Budget, out_dir: Path) -> ClaimSection:
    T = budget.length
    recipe = Recipe(
        "hmm",
        {"model": "lstm", "hidden_size": budget.hidden},
        {"steps": budget.scaled(2), "max_time": budget.seconds(1.5), "eval_every": 10**6},
        T=T,
    )
    trained = run_recipe(recipe, out_dir, "hmm-lstm")
    run = load(trained.run_dir)
    rows = []
    bpc: dict[int, float] = {}
    baseline = float(trained.summary["baseline"])
    for k in MULTIPLES:
        length = k * T
        metrics = evaluate(run.model, run.task(T=length), "test", batch_size=500)
        bpc[length] = float(metrics["bpc"])
    at_T = bpc[T]
    broken = [L for L, v in bpc.items() if v > BREAK_FACTOR * at_T]
    for L, v in bpc.items():
        rows.append((str(L), f"{L // T}T", fmt(v), fmt(v - baseline, 3)))
    verdict = (
        f"breaks first at {broken[0]} steps ({broken[0] // T}T): bpc {fmt(bpc[broken[0]])} "
        f"against {fmt(at_T)} at T"
        if broken
        else f"does not break up to {MULTIPLES[-1]}T: bpc within {BREAK_FACTOR - 1:.0%} of "
        f"its value at T ({fmt(at_T)}) at every length"
    )

    figure = line_figure(
        {"LSTM trained at T": ([float(L) for L in bpc], list(bpc.values()))},
        "test bits per symbol against the evaluated length",
        "sequence length (steps)",
        "bits per symbol",
        caption=f"hmm task; trained at T={T}, evaluated at {', '.join(f'{k}T' for k in MULTIPLES)}",
        hline=(baseline, "true process (entropy rate)"),
    )
    evals = " ; ".join(
        f"rnnlab eval runs/hmm-lstm --T {k * T} --splits test" for k in MULTIPLES[1:3]
    )
    return ClaimSection(
        title="1. Unfolding and parameter sharing",
        summary="One cell's weights are applied at every step, so a recurrent model trained at "
        "length T runs unchanged on sequences of 2T to 10T.",
        facts=(
            ("command", f"{trained.command} ; {evals} ..."),
            ("number", f"test bpc at T={T}: {fmt(at_T)}; at 10T: {fmt(bpc[10 * T])}; {verdict}"),
            ("true process", f"{fmt(baseline)} bits per symbol (the hmm task's entropy rate)"),
            (
                "reference",
                "REFERENCE.md gives no figure for this claim; benchmarks/RESULTS.md shows where "
                "it breaks for copy: exprnn trained at T=200 has ce 2.83 at T=400 (it learnt "
                "the delay, not the algorithm).",
            ),
        ),
        tables=(
            Table(
                ("length", "multiple", "test bpc", "above the true process"),
                tuple(rows),
                caption="one model, every length: the same weights unrolled further",
            ),
        ),
        figures=(figure,),
        notes=time_note([trained]),
        anchor="claim-1",
        numbers={
            "T": T,
            "bpc_by_length": {str(k): v for k, v in bpc.items()},
            "true_process_bpc": baseline,
            "breaks_at": broken[0] if broken else None,
            "steps": trained.summary["steps"],
            "train_time_s": trained.summary["wall_time_s"],
        },
    )
