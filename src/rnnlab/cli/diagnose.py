"""``rnnlab diagnose``: gradient flow, Jacobian spectra, clipping, exposure bias, HM-RNN
boundaries, attention maps, metric against source length and an NTM's memory weightings,
as JSON and figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnlab.cli._common import positive_int, positive_ints
from rnnlab.tasks.registry import TaskOptions


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "diagnose",
        help="gradient flow, Jacobian spectra, clipping statistics, exposure bias, "
        "HM-RNN boundaries, attention maps, metric against source length, NTM memory",
    )
    d.add_argument(
        "what",
        choices=(
            "gradflow",
            "jacobian",
            "clipping",
            "exposure",
            "boundaries",
            "attention",
            "length",
            "memory",
        ),
    )
    d.add_argument("--models", type=lambda s: s.split(","), help="cells at initialisation: a,b,c")
    d.add_argument("--run", action="append", help="a trained run folder (repeatable)")
    d.add_argument("--task", default="copy", help="task for --models (default copy)")
    d.add_argument(
        "--T", type=positive_int, help="sequence length / delay for --models; memory: of the run"
    )
    d.add_argument("--data", help="data file or folder for --models on a dataset task")
    d.add_argument(
        "--hidden",
        type=positive_ints,
        help="hidden size for --models: one, or one per model (128,128,32)",
    )
    d.add_argument(
        "--layers",
        type=positive_ints,
        help="stacked layers for --models: one, or one per model (default 1; dilated 4)",
    )
    d.add_argument("--cell", help="the cell inside a stack model such as dilated")
    d.add_argument(
        "--dilations",
        type=positive_ints,
        help="dilated: per-layer dilations, e.g. 1,2,4,8 (default powers of 2)",
    )
    d.add_argument(
        "--rows",
        type=positive_int,
        help="sequences: the gradflow probe batch (default 32), exposure samples (256)",
    )
    d.add_argument(
        "--length",
        type=positive_int,
        help="exposure: positions generated (default: hmm the run's T, text 256)",
    )
    d.add_argument(
        "--context",
        type=positive_int,
        default=128,
        help="exposure on text: true characters read before generating (default 128)",
    )
    d.add_argument(
        "--text",
        help="boundaries: the sentence to plot (default: the start of the validation text); "
        "attention: the sentence to decode",
    )
    d.add_argument(
        "--max-chars",
        type=positive_int,
        help="boundaries: score at most this many validation characters (default all)",
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--beam", type=positive_int, help="attention, length: beam width (1)")
    d.add_argument("--split", default="test", help="length: the split to score (test)")
    d.add_argument("--bucket-width", type=positive_int, help="length: source lengths per bucket")
    d.add_argument("--story", type=int, default=0, help="memory (memn2n): the test question (0)")
    d.add_argument("--row", type=int, default=0, help="memory (ntm): the row of --split to trace")
    d.add_argument("--out", required=True, help="folder for the JSON and PNG files")
    d.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.diagnostics import commands

    out = Path(args.out)
    if args.what == "memory":
        return _diagnose_memory(args, out)
    if args.what in ("attention", "length"):
        return _diagnose_seq2seq(args, out)
    if args.what == "exposure":
        if not args.run:
            raise ValueError(
                "diagnose exposure needs --run <run dir> (runs trained on hmm, charlm or "
                "shakespeare)"
            )
        results = commands.diagnose_exposure(
            args.run,
            out,
            num_sequences=args.rows or 256,
            length=args.length,
            seed=args.seed,
            context=args.context,
        )
        for label, r in results.items():
            if r["measure"] == "exact_kl":
                print(
                    f"{label:<28} [{r['training_mode']}] mean KL free-running "
                    f"{r['mean_kl_free']:.4f} nats, teacher-forced "
                    f"{r['mean_kl_teacher_forced']:.4f} (x{r['free_over_teacher_forced']:.2f})"
                )
            else:
                print(
                    f"{label:<28} [{r['training_mode']}] entropy free-running "
                    f"{r['mean_entropy_free']:.4f} nats, teacher-forced "
                    f"{r['mean_entropy_teacher_forced']:.4f} (gap "
                    f"{r['mean_entropy_gap']:+.4f}); {r['ngram']}-gram JS generated "
                    f"{r['mean_js_free']:.4f}, true {r['mean_js_true']:.4f}"
                )
        print(f"results: {out}/exposure.json  figure: {out}/exposure.png")
        return 0
    if args.what == "boundaries":
        if not args.run or len(args.run) != 1:
            raise ValueError(
                "diagnose boundaries needs one --run <run dir> (charlm, --model hmrnn)"
            )
        result = commands.diagnose_boundaries(
            args.run[0], out, text=args.text, max_chars=args.max_chars
        )
        val = result["validation"]
        print(
            f"validation: {val['chars']} characters, word boundaries (spaces/punctuation) "
            f"at {val['word_boundary_rate']:.3f} of them"
        )
        for level, agreement in val["agreement"].items():
            exact, near = agreement["tolerance_0"], agreement["tolerance_1"]
            print(
                f"{level:<20} boundary rate {val['boundary_rate'][level]:.3f}; vs word "
                f"boundaries P {exact['precision']:.3f} R {exact['recall']:.3f} F1 "
                f"{exact['f1']:.3f} (within 1 character: F1 {near['f1']:.3f})"
            )
        print(f"results: {out}/boundaries.json  figure: {out}/boundaries.png")
        return 0
    if args.what == "clipping":
        if not args.run:
            raise ValueError("diagnose clipping needs --run <run dir>")
        for run_dir in args.run:
            stats = commands.diagnose_clipping(run_dir, out)
            print(json.dumps(stats))
        print(f"results: {out}/clipping_stats.json  figure: {out}/clipping.png")
        return 0
    subjects = []
    if args.models:
        options = TaskOptions(T=args.T, data=args.data, seed=args.seed)
        subjects += commands.initial_subjects(
            args.models,
            args.task,
            options,
            hidden_size=args.hidden,
            seed=args.seed,
            num_layers=args.layers,
            cell=args.cell,
            dilations=args.dilations,
        )
    if args.run:
        subjects += commands.run_subjects(args.run)
    if not subjects:
        raise ValueError("nothing to diagnose: give --models a,b (at initialisation) or --run DIR")
    title = f"{args.task} T={args.T}" if args.models and args.T else ""
    if args.what == "gradflow":
        flows = commands.diagnose_gradflow(subjects, out, rows=args.rows or 32, title=title)
        for label, flow in flows.items():
            print(
                f"{label:<32} ||dL/dh_1|| / ||dL/dh_T|| = {flow.ratio_first_last:.3g}; first "
                f"tenth / last tenth {flow.ratio_early_late:.3g}"
            )
            details = {**(flow.layers if len(flow.layers) > 1 else {}), **flow.parts}
            for part, curve in details.items():
                print(
                    f"  {part:<30} {curve.ratio_first_last:.3g}; first tenth / last tenth "
                    f"{curve.ratio_early_late:.3g}"
                )
        print(f"results: {out}/gradflow.json  figure: {out}/gradflow.png")
    else:
        spectra = commands.diagnose_jacobian(subjects, out, title=title)
        for label, sp in spectra.items():
            print(
                f"{label:<32} product over {len(sp.step)} steps: max singular value "
                f"{sp.product_max[-1]:.3g}, min {sp.product_min[-1]:.3g}"
            )
        print(f"results: {out}/jacobian.json  figure: {out}/jacobian.png")
    return 0


def _diagnose_seq2seq(args: argparse.Namespace, out: Path) -> int:
    from rnnlab.diagnostics import seq2seq

    beam = args.beam or 1
    if args.what == "attention":
        if not args.run or len(args.run) != 1 or args.text is None:
            raise ValueError('diagnose attention needs one --run <run dir> and --text "..."')
        from rnnlab.diagnostics import heads
        from rnnlab.training.run import load

        model = load(args.run[0]).model
        if heads.has_heads(model):  # a Transformer LM: every head
            heads.diagnose_heads(args.run[0], args.text, out)
            print(f"results: {out}/heads.json  figure: {out}/heads.png")
            return 0
        if heads.has_cross_heads(model):  # a Transformer encoder-decoder: every cross head
            cross = heads.diagnose_cross_heads(args.run[0], args.text, out, beam=beam)
            print(f"{args.text} -> {cross.translation}")
            print(f"results: {out}/cross_heads.json  figure: {out}/cross_heads.png")
            return 0
        result = seq2seq.diagnose_attention(args.run[0], args.text, out, beam=beam)
        print(f"{args.text} -> {result.translation}")
        print(f"results: {out}/attention.json  figure: {out}/attention.png")
        return 0
    if not args.run:
        raise ValueError("diagnose length needs --run <run dir> (repeatable)")
    curves = seq2seq.diagnose_length(
        args.run, out, split=args.split, beam=beam, bucket_width=args.bucket_width
    )
    for label, curve in curves.items():
        cells = " ".join(
            f"{lo}-{hi}:{'-' if v is None else f'{v:.3f}'}"
            for (lo, hi), v in zip(curve.lengths, curve.values, strict=True)
        )
        print(f"{label} ({curve.attention}) {curve.metric} {curve.overall:.4f}; by length {cells}")
    print(f"results: {out}/length.json  figure: {out}/length.png")
    return 0


def _diagnose_memory(args: argparse.Namespace, out: Path) -> int:
    """What a memory model reads: a memory network's hops over a story (``--story``), or a
    neural Turing machine's read and write weightings over a sequence (``--row``)."""
    from rnnlab.training.run_folder import read_config

    if not args.run or len(args.run) != 1:
        raise ValueError("diagnose memory needs one --run <run dir> (memn2n, or --model ntm)")
    run_dir = args.run[0]
    if read_config(run_dir)["model"].get("family") == "memn2n":
        return _memory_hops(args, run_dir, out)
    return _memory_weightings(args, run_dir, out)


def _memory_hops(args: argparse.Namespace, run_dir: str, out: Path) -> int:
    """A memory network's hops over one story (memory_hops.json, memory_hops.png)."""
    from rnnlab.diagnostics.memory_hops import diagnose_memory_hops

    result = diagnose_memory_hops(run_dir, args.story, out)
    for i, sentence in enumerate(result["sentences"]):
        star = "*" if i in result["support"] else " "
        hops = " ".join(f"{w[i]:.2f}" for w in result["weights"])
        print(f"{star} {hops}  {sentence}")
    print(f"{result['question']}? answer {result['answer']}, predicted {result['predicted']}")
    hits = result["supporting_fact_hits"]
    per_hop = ", ".join(f"{k} {v:.3f}" for k, v in hits.items() if k.startswith("hop_"))
    print(f"top sentence is a supporting fact ({hits['questions']} questions): {per_hop}")
    print(f"results: {out}/memory_hops.json  figure: {out}/memory_hops.png")
    return 0


def _memory_weightings(args: argparse.Namespace, run_dir: str, out: Path) -> int:
    """An NTM's read and write weightings over one sequence (memory.json, memory.png)."""
    from rnnlab.diagnostics.memory import diagnose_memory

    trace = diagnose_memory(run_dir, out, T=args.T, row=args.row, split=args.split)
    for kind, focus in (("write", trace.write_focus), ("read", trace.read_focus)):
        for h, slots in enumerate(focus):
            print(f"{kind} head {h}: most-weighted slot per step {' '.join(map(str, slots))}")
    print(f"results: {out}/memory.json  figure: {out}/memory.png")
    return 0
