"""Claim 9: non-parametric memory and attention. An NTM's copy against length, a memory
network's hops over a bAbI story, an encoder-decoder with and without attention against
source length (BLEU on Multi30k en->fr; exact match on reversal when the translation data
is absent), and a Transformer, a scan cell and an LSTM given the same seconds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.diagnostics.memory_hops import diagnose_memory_hops
from rnnlab.diagnostics.seq2seq import LengthCurve, diagnose_attention, diagnose_length
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
    # the NTM learns copy after ~2,600 steps (~60 s on one thread, RESULTS.md): 3,600 steps
    # in the full budget; evaluated every 1/6 of them so the best val weights are kept
    steps = budget.scaled(6)
    train = {"steps": steps, "max_time": budget.seconds(3), "eval_every": max(1, steps // 6)}
    ntm = Recipe("ntm-copy", {"model": "ntm", "hidden_size": NTM_CONTROLLER}, train, T=T)
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


NTM_CONTROLLER = 100  # the ntm cell's default controller, the size measured in RESULTS.md
TRANSLATION_TEXT = "A man in a blue shirt is standing on a ladder and cleaning a window."
TRANSLATION_BUCKET = 5  # source tokens per length bucket
BUCKET_MIN = 20  # the longest bucket reported holds at least this many sentences


@dataclass
class AttentionResult:
    """What the attention part measured: its runs, figures, the command that draws them,
    its sentence for the number line and a note (the reverse fallback)."""

    runs: list[TrainedRecipe]
    figures: list[Figure]
    command: str
    number: str
    notes: list[str]


def _curve_numbers(curve: LengthCurve, trained: TrainedRecipe) -> dict[str, Any]:
    """A length curve's numbers, with the longest bucket holding >= BUCKET_MIN sentences."""
    full = [
        i
        for i, (n, v) in enumerate(zip(curve.counts, curve.values, strict=True))
        if n >= BUCKET_MIN and v is not None
    ]
    last = full[-1] if full else None
    return {
        "metric": curve.metric,
        "test": trained.test(),
        "overall": curve.overall,
        "by_length": curve.values,
        "buckets": curve.lengths,
        "counts": curve.counts,
        "longest_bucket": curve.lengths[last] if last is not None else None,
        "longest_bucket_value": curve.values[last] if last is not None else None,
        "longest_bucket_count": curve.counts[last] if last is not None else None,
        "params": trained.params,
        "steps": trained.summary["steps"],
    }


def _translation(budget: Budget, out_dir: Path, numbers: dict[str, Any]) -> AttentionResult | None:
    """Multi30k en->fr, a small GRU encoder-decoder with and without attention at equal
    steps: BLEU against the source length and one sentence's attention map. ``None`` when
    the data is absent."""
    root = data_root()
    folder = root / "translation" / "multi30k" if root is not None else None
    if folder is None or not (folder / "train.en").is_file():
        return None
    H = 2 * budget.hidden
    # full budget: 900 steps of GRU 128 encoder-decoders, ~2.5 minutes each on one thread
    train = {
        "steps": budget.scaled(1.5),
        "max_time": budget.seconds(5.5),
        "eval_every": 10**6,
        "beam_size": 1,
        "warmup_steps": max(1, budget.scaled(1 / 12)),
    }
    model = {
        "hidden_size": H,
        "embedding_size": H,
        "input_feeding": False,
        "dropout": 0.1,
    }
    att = Recipe("translate", model, train, data=str(folder), src="en", tgt="fr")
    none = att.with_model(attention="none")
    runs = [
        run_recipe(att, out_dir, "multi30k-enfr-attention"),
        run_recipe(none, out_dir, "multi30k-enfr-none"),
    ]
    curves = diagnose_length(
        [str(r.run_dir) for r in runs], out_dir / "length", bucket_width=TRANSLATION_BUCKET
    )
    diagnose_attention(str(runs[0].run_dir), TRANSLATION_TEXT, out_dir / "attention")
    got = {
        name: _curve_numbers(curve, r)
        for (name, curve), r in zip(curves.items(), runs, strict=True)
    }
    numbers["translation"] = got
    a, n = got["multi30k-enfr-attention"], got["multi30k-enfr-none"]
    lo_hi = a["longest_bucket"]
    where = (
        f", at source lengths {lo_hi[0]}-{lo_hi[1]} ({a['longest_bucket_count']} sentences) "
        f"{fmt(a['longest_bucket_value'])} / {fmt(n['longest_bucket_value'])}"
        if lo_hi is not None
        else ""
    )
    number = (
        f"Multi30k en->fr test BLEU (greedy) with / without attention: "
        f"{fmt(a['test'])} / {fmt(n['test'])}{where}"
    )
    command = (
        " ; rnnlab diagnose length --run runs/multi30k-enfr-attention --run "
        f"runs/multi30k-enfr-none --bucket-width {TRANSLATION_BUCKET} --out length ; "
        "rnnlab diagnose attention --run runs/multi30k-enfr-attention --text "
        f"'{TRANSLATION_TEXT}' --out attention"
    )
    figures = [
        png(
            out_dir / "length" / "length.png",
            "BLEU against source length, with and without attention",
            f"Multi30k en->fr (official validation set), GRU {H} encoder-decoders at equal "
            "steps, greedy decoding; buckets of 5 source tokens",
        ),
        png(
            out_dir / "attention" / "attention.png",
            "attention map of one translation",
            TRANSLATION_TEXT,
        ),
    ]
    return AttentionResult(runs, figures, command, number, [])


def _reverse(budget: Budget, out_dir: Path, numbers: dict[str, Any]) -> AttentionResult:
    """The fallback without translation data: reversal, exact match against length."""
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
    number = "reverse exact match with / without attention: " + " / ".join(
        fmt(v["exact_match"]) for v in numbers["reverse"].values()
    )
    command = (
        " ; rnnlab diagnose length --run runs/reverse-attention --run runs/reverse-none "
        "--out length ; rnnlab diagnose attention --run runs/reverse-attention --text '...' "
        "--out attention"
    )
    note = (
        "No translation data found (set "
        f"{DATA_ENV} or --data to the shared data folder holding translation/multi30k/): "
        "attention is shown on the reverse task instead, exact match against source length "
        "in place of BLEU against sentence length."
    )
    return AttentionResult(
        runs,
        [
            png(
                out_dir / "length" / "length.png",
                "exact match against source length",
                "reverse task; with and without attention, equal steps",
            ),
            png(out_dir / "attention" / "attention.png", "attention map of one reversal", text),
        ],
        command,
        number,
        [note],
    )


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
    att = _translation(budget, out_dir, numbers) or _reverse(budget, out_dir, numbers)
    time_runs, time_table = _equal_time(budget, out_dir, numbers)
    runs = [*ntm_runs, *babi_runs, *att.runs, *time_runs]
    ntm = numbers["ntm_copy"]
    eq = numbers["equal_time"]
    number = (
        "NTM copy, "
        + ntm["NTM"]["metric"]
        + " at 1x/2x/4x the training length: NTM "
        + " / ".join(fmt(v) for v in ntm["NTM"]["by_length"].values())
        + ", LSTM "
        + " / ".join(fmt(v) for v in ntm["LSTM"]["by_length"].values())
        + "; "
        + att.number
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
                cmds
                + att.command
                + (
                    " ; rnnlab diagnose memory --run runs/babi1-memn2n --story 0 --out hops"
                    if babi_runs
                    else ""
                ),
            ),
            ("number", number),
            (
                "comparison",
                "NTM and LSTM at equal parameters; the encoder-decoders at equal steps; the "
                "language models at equal wall-clock (--max-time, so a rerun gives a nearby, not "
                "identical, number)",
            ),
            (
                "reference",
                "REFERENCE.md: NTM copy generalises to length 120 after training on 1..20 "
                "(Graves et al. 2014); MemN2N bAbI 1k mean error 13.9%; Bahdanau et al.: attention "
                "keeps BLEU flat to 60-word sentences where the fixed vector falls from ~22 to ~8. "
                "RESULTS.md: NTM 0.1 wrong bits per sequence at length 20 after 58.5 s (step "
                "2,600), 0.31 at length 40; LSTM of the same size 21.3 at length 20 after 540 s; "
                "reverse (1..50) exact 0.90 with attention vs 0.216 without; MemN2N task 1 0.4% "
                "error, 13.6% mean over the 20 tasks (best of 3 seeds); Multi30k en->de 33.9 BLEU "
                "(beam 5) after 45 minutes with a bi-GRU 256. "
                "The tour's translation models are far smaller and trained for minutes, so "
                "their BLEU is far lower; the comparison is the shape of the curves.",
            ),
        ),
        tables=(ntm_table, time_table),
        figures=(ntm_figure, *babi_figures, *att.figures),
        notes=(*babi_notes, *att.notes, *time_note(runs)),
        anchor="claim-9",
        numbers=numbers,
    )
