"""Claim 9: non-parametric memory and attention. An NTM's copy against length, a memory
network's hops over a bAbI story, an encoder-decoder with and without attention against
source length, and a Transformer, a scan cell and an LSTM given the same seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.diagnostics.memory_hops import diagnose_memory_hops
from rnnlab.diagnostics.seq2seq import diagnose_attention, diagnose_length
from rnnlab.report.page import Figure, Table
from rnnlab.tour.budget import Budget
from rnnlab.tour.data import DATA_ENV, data_root
from rnnlab.tour.recipe import Recipe, TrainedRecipe, count_params, match_params, run_recipe
from rnnlab.tour.section import ClaimSection, fmt, line_figure, png, time_note
from rnnlab.training.evaluate import evaluate
from rnnlab.training.run import load


def _ntm(
    budget: Budget, out_dir: Path, numbers: dict[str, Any]
) -> tuple[list[TrainedRecipe], Table, Figure]:
    T = max(2, budget.length // 2)
    train = {"steps": budget.scaled(1), "max_time": budget.seconds(2), "eval_every": 10**6}
    ntm = Recipe("ntm-copy", {"model": "ntm", "hidden_size": budget.hidden}, train, T=T)
    lstm = match_params(ntm.with_model(model="lstm"), count_params(ntm))
    runs = []
    curves: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    lengths = (T, 2 * T, 4 * T)
    for label, recipe in (("NTM", ntm), ("LSTM", lstm)):
        trained = run_recipe(recipe, out_dir, f"ntm-copy-{recipe.model['model']}")
        runs.append(trained)
        run = load(trained.run_dir)
        metric = trained.metric
        values = [float(evaluate(run.model, run.task(T=L), "test")[metric]) for L in lengths]
        curves[label] = ([float(L) for L in lengths], values)
        rows.append(
            (label, str(trained.params), str(trained.summary["steps"]), *(fmt(v) for v in values))
        )
        numbers.setdefault("ntm_copy", {})[label] = {
            "metric": metric,
            "by_length": {str(L): v for L, v in zip(lengths, values, strict=True)},
            "params": trained.params,
            "steps": trained.summary["steps"],
        }
    table = Table(
        ("model", "params", "steps", *(f"L={L}" for L in lengths)),
        tuple(rows),
        caption=f"ntm-copy trained on lengths 1..{T}: {runs[0].metric} on the test split",
    )
    figure = line_figure(
        curves, "NTM copy: generalisation to longer sequences", "sequence length", runs[0].metric
    )
    return runs, table, figure


def _memn2n(
    budget: Budget, out_dir: Path, numbers: dict[str, Any]
) -> tuple[list[TrainedRecipe], list[Figure], list[str]]:
    root = data_root()
    babi = root / "babi" if root is not None else None
    if babi is None or not babi.is_dir():
        return (
            [],
            [],
            [
                f"MemN2N on bAbI skipped: no bAbI data (set {DATA_ENV} to the shared data "
                "folder holding babi/, or run rnnlab train babi --download)."
            ],
        )
    recipe = Recipe(
        "babi",
        {"model": "memn2n"},
        {"steps": budget.scaled(3), "max_time": budget.seconds(1.5)},
        data=str(babi),
        task_id="1",
    )
    trained = run_recipe(recipe, out_dir, "babi1-memn2n")
    hops = diagnose_memory_hops(str(trained.run_dir), 0, out_dir / "memory_hops")
    hits = hops["supporting_fact_hits"]
    numbers["memn2n_babi1"] = {
        "test_accuracy": trained.test("accuracy")
        if "accuracy" in trained.summary["metrics"]["test"]
        else trained.test(),
        "supporting_fact_hits": hits,
        "steps": trained.summary["steps"],
    }
    fig = png(
        out_dir / "memory_hops" / "memory_hops.png",
        "MemN2N hop attention on a bAbI story",
        f"task 1, test question 0; the most attended sentence is a supporting fact in "
        f"{hits.get('hop_1', 0):.0%} (hop 1) of the test questions",
    )
    return [trained], [fig], []


def _attention(
    budget: Budget, out_dir: Path, numbers: dict[str, Any]
) -> tuple[list[TrainedRecipe], list[Figure]]:
    T = max(4, budget.length // 2)
    train = {"steps": budget.scaled(2), "max_time": budget.seconds(1.5), "eval_every": 10**6}
    att = Recipe("reverse", {"hidden_size": budget.hidden}, train, T=T)
    none = att.with_model(attention="none")
    runs = [
        run_recipe(att, out_dir, "reverse-attention"),
        run_recipe(none, out_dir, "reverse-none"),
    ]
    curves = diagnose_length([str(r.run_dir) for r in runs], out_dir / "length")
    text = " ".join("abcdefghijklmnopqrstuvwxyz"[: min(T, 12)])
    diagnose_attention(str(runs[0].run_dir), text, out_dir / "attention")
    numbers["reverse"] = {
        name: {
            "exact_match": r.test(),
            "by_length": curve.values,
            "buckets": curve.lengths,
            "params": r.params,
        }
        for (name, curve), r in zip(curves.items(), runs, strict=True)
    }
    return runs, [
        png(
            out_dir / "length" / "length.png",
            "exact match against source length",
            "reverse task; with and without attention, equal steps",
        ),
        png(out_dir / "attention" / "attention.png", "attention map of one reversal", text),
    ]


def _equal_time(
    budget: Budget, out_dir: Path, numbers: dict[str, Any]
) -> tuple[list[TrainedRecipe], Table]:
    seconds = budget.seconds(1)
    train = {"max_time": seconds, "eval_every": 10**6}
    recipes = {
        "LSTM": Recipe("charlm", {"model": "lstm", "hidden_size": 4 * budget.hidden}, train),
        "minGRU (scan cell)": Recipe(
            "charlm", {"model": "mingru", "hidden_size": 4 * budget.hidden}, train
        ),
        "Transformer": Recipe(
            "charlm",
            {"model": "transformer", "hidden_size": 2 * budget.hidden, "num_layers": 2},
            train,
        ),
    }
    runs, rows = [], []
    for label, recipe in recipes.items():
        trained = run_recipe(recipe, out_dir, f"charlm-{recipe.model['model']}-{int(seconds)}s")
        runs.append(trained)
        val = float(trained.summary["metrics"]["val"]["bpc"])
        rows.append((label, str(trained.params), str(trained.summary["steps"]), fmt(val)))
        numbers.setdefault("equal_time", {})[label] = {
            "val_bpc": val,
            "params": trained.params,
            "steps": trained.summary["steps"],
            "seconds": seconds,
        }
    return runs, Table(
        ("model", "params", "steps", "val bpc"),
        tuple(rows),
        caption=f"charlm, {seconds:g} s of training each (equal wall-clock)",
    )


def memory(budget: Budget, out_dir: Path) -> ClaimSection:
    numbers: dict[str, Any] = {}
    ntm_runs, ntm_table, ntm_figure = _ntm(budget, out_dir, numbers)
    babi_runs, babi_figures, babi_notes = _memn2n(budget, out_dir, numbers)
    att_runs, att_figures = _attention(budget, out_dir, numbers)
    time_runs, time_table = _equal_time(budget, out_dir, numbers)
    runs = [*ntm_runs, *babi_runs, *att_runs, *time_runs]
    ntm = numbers["ntm_copy"]
    rev = numbers["reverse"]
    eq = numbers["equal_time"]
    number = (
        "NTM copy, "
        + ntm["NTM"]["metric"]
        + " at 1x/2x/4x the training length: NTM "
        + " / ".join(fmt(v) for v in ntm["NTM"]["by_length"].values())
        + ", LSTM "
        + " / ".join(fmt(v) for v in ntm["LSTM"]["by_length"].values())
        + "; reverse exact match with / without attention: "
        + " / ".join(fmt(v["exact_match"]) for v in rev.values())
        + "; equal time, val bpc: "
        + ", ".join(f"{k} {fmt(v['val_bpc'])}" for k, v in eq.items())
    )
    if "memn2n_babi1" in numbers:
        hits = numbers["memn2n_babi1"]["supporting_fact_hits"]
        number += (
            f"; MemN2N bAbI task 1 test accuracy {fmt(numbers['memn2n_babi1']['test_accuracy'])}, "
            f"hop 1 on a supporting fact {fmt(hits.get('hop_1'), 3)}"
        )
    cmds = " ; ".join(r.command for r in runs)
    return ClaimSection(
        title="9. Non-parametric memory and attention",
        summary="Memory a network addresses (an NTM's tape, a memory network's sentences, an "
        "encoder's states under attention) holds what a fixed-size state cannot; a "
        "Transformer attends to all of its context at once.",
        facts=(
            (
                "command",
                cmds + " ; rnnlab diagnose length --run runs/reverse-attention --run "
                "runs/reverse-none --out length ; rnnlab diagnose attention --run "
                "runs/reverse-attention --text '...' --out attention"
                + (
                    " ; rnnlab diagnose memory --run runs/babi1-memn2n --story 0 --out hops"
                    if babi_runs
                    else ""
                ),
            ),
            ("number", number),
            (
                "comparison",
                "NTM and LSTM at equal parameters; reverse at equal steps; the "
                "language models at equal wall-clock (--max-time, so a rerun gives a nearby, not "
                "identical, number)",
            ),
            (
                "reference",
                "REFERENCE.md: NTM copy generalises to length 120 after training on 1..20 "
                "(Graves et al. 2014); MemN2N bAbI 1k mean error 13.9%; Bahdanau et al.: attention "
                "keeps BLEU flat to 60-word sentences where the fixed vector falls from ~22 to ~8. "
                "RESULTS.md: NTM 540 s 40.5 wrong bits at length 20 (not converged), reverse "
                "(1..50) exact 0.90 with attention vs 0.216 without, MemN2N task 1 0.8% error. "
                "BLEU against sentence length needs the 45-minute translation run; the tour "
                "measures the same effect on reverse (exact match against source length).",
            ),
        ),
        tables=(ntm_table, time_table),
        figures=(ntm_figure, *babi_figures, *att_figures),
        notes=(*babi_notes, *time_note(runs)),
        anchor="claim-9",
        numbers=numbers,
    )
