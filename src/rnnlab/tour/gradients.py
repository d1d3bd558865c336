"""Claim 7: gradients vanish or explode through time. ||dL/dh_t|| against distance for a
tanh RNN, LSTM, GRU, an orthogonal (expRNN) and a unitary (uRNN) cell; the Jacobians'
singular values; and a run that explodes, trained with and without gradient clipping."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rnnlab.diagnostics.commands import diagnose_gradflow, diagnose_jacobian, initial_subjects
from rnnlab.report.page import Table
from rnnlab.tasks.registry import TaskOptions
from rnnlab.tour.budget import Budget
from rnnlab.tour.recipe import Recipe, run_recipe
from rnnlab.tour.section import ClaimSection, fmt, line_figure, png, time_note

CELLS = ("elman", "lstm", "gru", "exprnn", "urnn")
EXPLODING = {"optimizer": "sgd", "lr": 1.0, "momentum": 0.9}  # tanh RNN 64, copy: explodes


def gradients(budget: Budget, out_dir: Path) -> ClaimSection:
    T, H = 5 * budget.length, 2 * budget.hidden
    subjects = initial_subjects(list(CELLS), "copy", TaskOptions(T=T), hidden_size=H)
    flows = diagnose_gradflow(subjects, out_dir / "gradflow", rows=min(32, budget.rows))
    jac_subjects = initial_subjects(list(CELLS), "copy", TaskOptions(T=T), hidden_size=H)
    spectra = diagnose_jacobian(jac_subjects, out_dir / "jacobian")
    ratios = {label: float(flow.ratio_early_late) for label, flow in flows.items()}
    products = {label: (s.product_max[-1], s.product_min[-1]) for label, s in spectra.items()}
    clip_T = min(20, budget.length)
    steps = min(300, budget.scaled(5))  # 300 steps: explodes without NaN (measured)
    base = Recipe(
        "copy",
        {"model": "elman", "hidden_size": 64},
        {**EXPLODING, "steps": steps, "max_time": budget.seconds(1), "eval_every": 10**6},
        T=clip_T,
    )
    clipping: dict[str, Any] = {}
    runs = []
    curves = {}
    for label, clip in (("no clipping", None), ("clip at 1", 1.0)):
        trained = run_recipe(
            base.with_train(clip=clip),
            out_dir,
            "copy-elman-" + ("noclip" if clip is None else "clip1"),
        )
        runs.append(trained)
        norms = json.loads((trained.run_dir / "clipping.json").read_text())["grad_norm"]
        clipping[label] = {
            "test_ce": trained.test("ce"),
            "grad_norm_max": max(norms),
            "grad_norm_median": statistics.median(norms),
            "steps": trained.summary["steps"],
        }
        curves[label] = ([float(i + 1) for i in range(len(norms))], norms)
    baseline = runs[0].summary["baseline"]
    rows = tuple(
        (label, f"{ratios[label]:.3g}", f"{products[label][0]:.3g}", f"{products[label][1]:.3g}")
        for label in ratios
    )
    numbers = {
        "T": T,
        "hidden": H,
        "gradflow_ratio_early_late": ratios,
        "jacobian_product_max_min": {k: list(v) for k, v in products.items()},
        "clipping": clipping,
        "copy_baseline": baseline,
    }
    gradflow_cmd = (
        f"rnnlab diagnose gradflow --models {','.join(CELLS)} --hidden {H} --task copy --T {T} "
        "--out gradflow ; rnnlab diagnose jacobian --models "
        f"{','.join(CELLS)} --hidden {H} --task copy --T {T} --out jacobian"
    )
    nc, c1 = clipping["no clipping"], clipping["clip at 1"]
    return ClaimSection(
        title="7. Vanishing and exploding gradients",
        summary="Backpropagated through a recurrence, the gradient is a product of Jacobians: "
        "it vanishes exponentially with distance in a tanh RNN, decays slowly through gated "
        "cells, keeps its norm through orthogonal and unitary ones, and when it explodes, "
        "clipping its norm keeps the run on track.",
        facts=(
            (
                "command",
                f"{gradflow_cmd} ; {runs[0].command} ; {runs[1].command} ; rnnlab diagnose "
                "clipping --run runs/copy-elman-noclip --out clipping",
            ),
            (
                "number",
                "mean ||dL/dh_t|| over the first tenth of the steps / over the last tenth, at "
                "initialisation: "
                + ", ".join(f"{k} {v:.2g}" for k, v in ratios.items())
                + f"; exploding run (copy T={clip_T}, baseline ce {fmt(baseline)}): without "
                f"clipping max gradient norm {nc['grad_norm_max']:.3g}, test ce "
                f"{fmt(nc['test_ce'])}; clipped at 1: max {c1['grad_norm_max']:.3g}, test ce "
                f"{fmt(c1['test_ce'])}",
            ),
            (
                "reference",
                "RESULTS.md (copy T=200, hidden 128): elman 2.6e-42 as first-tenth / "
                "last-tenth ratio; with the task-default sizes, ||dL/dh_1|| / ||dL/dh_T|| at "
                "initialisation elman 5.1e-46, lstm 1.4e-3, exprnn 2.9. Here every cell has "
                "the same hidden size and the ratio is over tenths (the uRNN's gradient at "
                "the very last step is 0), so the figures differ in size, not in order. "
                "REFERENCE.md gives no figure for gradient norms or clipping.",
            ),
        ),
        tables=(
            Table(
                (
                    "cell (at initialisation)",
                    "first-tenth / last-tenth gradient",
                    "largest sv of J_T..J_1",
                    "smallest sv of J_T..J_1",
                ),
                rows,
                caption=f"copy task T={T}, hidden {H}",
            ),
        ),
        figures=(
            png(out_dir / "gradflow" / "gradflow.png", "gradient norm against distance"),
            png(out_dir / "jacobian" / "jacobian.png", "Jacobian spectra along a sequence"),
            line_figure(
                curves,
                "pre-clip gradient norm per step, a run that explodes",
                "training step",
                "global gradient norm",
                caption=f"tanh RNN 64 on copy T={clip_T}, SGD lr 1 momentum 0.9",
                logy=True,
            ),
        ),
        notes=time_note(runs),
        anchor="claim-7",
        numbers=numbers,
    )
