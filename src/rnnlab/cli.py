"""The ``rnnlab`` command line: train, eval, diagnose, sample, translate, list, bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnlab.attention import ATTENTIONS
from rnnlab.cells.registry import cell_entry, cell_names
from rnnlab.models.rnn import STACKS
from rnnlab.tasks.base import Task
from rnnlab.tasks.registry import TaskOptions, build_task, task_entry, task_names
from rnnlab.training.checkpoint import CheckpointError
from rnnlab.training.config import OPTIMIZERS, SCHEDULES, RunConfig, TrainConfig
from rnnlab.training.resolve import resolve_config

# CLI flag -> (section, field) of RunConfig
_MODEL_FLAGS = {
    "model": "model",
    "hidden": "hidden_size",
    "layers": "num_layers",
    "bidirectional": "bidirectional",
    "dropout": "dropout",
    "residual": "residual",
    "chrono": "chrono_delay",
    "cell": "cell",
    "dilations": "dilations",
    "deep_output": "deep_output",
    "feed_condition": "feed_condition",
    "embedding": "embedding_size",
    "attention": "attention",
    "input_feeding": "input_feeding",
}
# the model flags `rnnlab params` takes (a subset of train's)
_PARAMS_FLAGS = {
    flag: _MODEL_FLAGS[flag]
    for flag in (
        "model",
        "hidden",
        "layers",
        "cell",
        "dilations",
        "deep_output",
    )
}
_TRAIN_FLAGS = {
    "optimizer": "optimizer",
    "lr": "lr",
    "manifold_lr": "manifold_lr",
    "weight_decay": "weight_decay",
    "schedule": "schedule",
    "warmup": "warmup_steps",
    "steps": "steps",
    "batch_size": "batch_size",
    "clip": "clip",
    "eval_every": "eval_every",
    "patience": "patience",
    "max_time": "max_time",
    "seed": "seed",
    "device": "device",
    "scheduled_sampling": "scheduled_sampling",
    "ss_k": "ss_k",
    "ss_c": "ss_c",
    "ss_min": "ss_min",
    "professor_forcing": "professor_forcing",
    "pf_weight": "pf_weight",
    "pf_lr": "pf_lr",
    "pf_hidden": "pf_hidden",
    "pf_mlp": "pf_mlp",
    "pf_d_max_acc": "pf_d_max_acc",
    "pf_g_min_acc": "pf_g_min_acc",
    "beam": "beam_size",
    "bf16": "bf16",
    "length_penalty": "length_penalty",
}


def _config_from_flags(task_name: str, task: Task, args: argparse.Namespace) -> RunConfig:
    """Flags given on the command line, else the task's defaults, else the library's."""
    model = {f: getattr(args, flag) for flag, f in _MODEL_FLAGS.items()}
    train = {f: getattr(args, flag) for flag, f in _TRAIN_FLAGS.items()}
    model = {k: v for k, v in model.items() if v is not None}
    train = {k: v for k, v in train.items() if v is not None}
    if args.no_clip:
        train["clip"] = None
    if args.no_fast:
        model["fast"] = False
    if args.no_chrono:
        model["chrono_delay"] = None
    if args.no_feed_condition:
        model["feed_condition"] = False
    if args.unidirectional:
        model["bidirectional"] = False
    if args.skip_connections:
        model["stack"] = "deep"
    return resolve_config(task_name, task, _task_options(args), model, train)


def _task_options(args: argparse.Namespace) -> TaskOptions:
    return TaskOptions(
        T=args.T,
        data=args.data,
        download=args.download,
        cache_dir=args.cache_dir,
        seed=args.seed if args.seed is not None else 0,
        src=args.src,
        tgt=args.tgt,
        short=args.short,
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_ints(text: str) -> tuple[int, ...]:
    return tuple(_positive_int(v) for v in text.split(","))


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    from rnnlab.training.loop import train
    from rnnlab.training.run_folder import read_config

    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out <run dir> of the run to continue")
        raw = read_config(args.out)
        config = RunConfig.from_dict({k: v for k, v in raw.items() if k != "task_info"})
        if args.task != config.task:
            raise ValueError(f"run {args.out} trained task {config.task!r}, not {args.task!r}")
        extend = {f: getattr(args, f) for f in ("steps", "max_time") if getattr(args, f)}
        if extend:
            fields = {**config.train.__dict__, **extend}
            config = RunConfig(
                config.task, config.task_options, config.model, TrainConfig(**fields)
            )
        task = build_task(config.task, config.task_options)
    else:
        task = build_task(args.task, _task_options(args))
        config = _config_from_flags(args.task, task, args)
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / (f"{args.task}-{config.model.cell}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    if not args.resume and (out / "config.json").exists() and not args.overwrite:
        raise ValueError(f"run folder {out} already holds a run; use --resume or --overwrite")
    summary = train(config, out, resume=args.resume, progress=not args.quiet, task=task)
    _print_summary(summary, out)
    return 0


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    metric = summary["main_metric"]
    test = summary["metrics"]["test"]
    val = summary["metrics"]["val"]
    baseline = summary["baseline"]
    base = "" if baseline is None else f" (baseline {baseline:.4g})"
    print(
        f"{summary['task']} / {summary['model']}: test {metric} {test[metric]:.4f}, "
        f"val {metric} {val[metric]:.4f}{base}; {summary['steps']} steps in "
        f"{summary['wall_time_s']:.1f} s ({summary['stopped']})"
    )
    if "note" in summary:
        print(f"note: {summary['note']}")
    print(f"results: {out}/summary.json")
    print(f"metrics: {out}/metrics.jsonl  weights: {out}/best.safetensors")


def cmd_eval(args: argparse.Namespace) -> int:
    from rnnlab.training.evaluate import evaluate
    from rnnlab.training.run import load

    run = load(args.run_dir, device=args.device)
    if args.data is not None:
        print(json.dumps(_eval_text(run, args.data, args.device)))
        return 0
    task = run.task(T=args.T)
    train = run.config.train
    beam = args.beam if args.beam is not None else train.beam_size
    result = {
        split: evaluate(
            run.model, task, split, train.eval_batch_size, args.device, beam, train.length_penalty
        )
        for split in args.splits
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _eval_text(run: Any, path: str, device: str) -> dict[str, float]:
    """``bpc`` and ``loss`` (nats per character) of a language model run on a text file."""

    from rnnlab.tasks.base import stream_metrics
    from rnnlab.tasks.charlm import stream_batch
    from rnnlab.tasks.corpora import read_text_file
    from rnnlab.tasks.vocab import CharVocab
    from rnnlab.training.evaluate import ModelEvaluator, evaluating

    if "vocab" not in run.task_info:
        raise ValueError(
            f"--data evaluates language models; run {run.run_dir} is {run.spec.kind!r}"
        )
    vocab = CharVocab.from_json(run.task_info["vocab"])
    ids = vocab.encode(read_text_file(path))
    chunk = int(run.config.task_options.T or 256)
    with evaluating(run.model):
        metrics = stream_metrics(ModelEvaluator(run.model, device=device), stream_batch(ids), chunk)
    unknown = int((ids == vocab.unk).sum())
    return {**metrics, "chars": int(ids.numel()), "unknown": unknown}


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from rnnlab.cells import decoding
    from rnnlab.decoding import greedy_iter, sample_iter
    from rnnlab.models.base import TokenGenerator
    from rnnlab.tasks.base import Batch
    from rnnlab.tasks.vocab import CharVocab
    from rnnlab.training.run import load

    run = load(args.run_dir, device=args.device)
    if "generation" in run.task_info.get("metadata", {}):
        return _sample_conditional(run, args)
    given = [f for f in ("condition", "out") if getattr(args, f) is not None]
    given += ["num"] if args.num != 1 else []
    if given:
        raise ValueError(
            f"--{given[0]} applies to vec->seq runs; run {args.run_dir} is {run.spec.kind!r}"
        )
    model = run.model
    if not isinstance(model, TokenGenerator) or "vocab" not in run.task_info:
        raise ValueError(
            f"run {args.run_dir} is not a language model (task kind {run.spec.kind!r})"
        )
    vocab = CharVocab.from_json(run.task_info["vocab"])
    prompt = args.prompt if args.prompt else "\n"
    ids = vocab.encode(prompt).to(args.device).unsqueeze(0)  # (1, P)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    with torch.no_grad(), decoding(model):
        state = None
        if ids.shape[1] > 1:  # read the prompt but its last token, which starts sampling
            _, state = run.model(Batch(ids[:, :-1]))
        if state is None:
            lm: Any = run.model
            state = lm.initial_state(1, device=args.device)
        sys.stdout.write(prompt if args.prompt else "")
        tokens = (
            greedy_iter(model.step, state, ids[:, -1], args.length or 500)
            if args.greedy
            else sample_iter(
                model.step,
                state,
                ids[:, -1],
                args.length or 500,
                temperature=args.temperature,
                top_k=args.top_k,
                top_p=args.top_p,
                generator=generator,
            )
        )
        for token in tokens:
            sys.stdout.write(vocab.decode(token.tolist()))
            sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _sample_conditional(run: Any, args: argparse.Namespace) -> int:
    """``rnnlab sample`` for a vec->seq run: one line of values per generated sequence."""
    from rnnlab.generation import plot_samples, real_signals, sample_run

    if args.condition is None:
        raise ValueError(f"run {args.run_dir} is a conditional generator: give --condition")
    if args.prompt:
        raise ValueError("--prompt applies to language models; give --condition instead")
    samples = sample_run(
        run,
        args.condition,
        num=args.num,
        length=args.length,
        greedy=args.greedy,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        device=args.device,
    )
    for line in samples.lines():
        print(line)
    if args.out is not None:
        classes = [] if samples.classes is None else sorted(set(samples.classes.tolist()))
        real = real_signals(run, classes, per_class=5)
        mode = "greedy" if args.greedy else f"T={args.temperature:g}, seed {args.seed}"
        title = f"{run.run_dir.name}: generated ({mode}) over real test signals (grey)"
        plot_samples(samples, real, Path(args.out), title)
        print(f"figure: {args.out}", file=sys.stderr)
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    import dataclasses

    from rnnlab.models.params import count_model_parameters, hidden_size_for

    options = TaskOptions(T=args.T, data=args.data, download=args.download)
    task = build_task(args.task, options)
    model = {f: getattr(args, flag) for flag, f in _PARAMS_FLAGS.items()}
    if args.skip_connections:
        model["stack"] = "deep"
    config = resolve_config(
        args.task, task, options, {k: v for k, v in model.items() if v is not None}
    ).model
    if args.target is not None:
        if args.hidden is not None:
            raise ValueError("give --hidden (count its parameters) or --target, not both")
        hidden = hidden_size_for(config, task.spec, args.target)
        config = dataclasses.replace(config, hidden_size=hidden)
    params = count_model_parameters(config, task.spec)
    name = config.name
    result = {
        "task": args.task,
        "model": name,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "params": params,
    }
    if args.json:
        print(json.dumps(result))
    else:
        target = "" if args.target is None else f" (target {args.target:,})"
        print(
            f"{args.task} / {name}: hidden {config.hidden_size} x {config.num_layers} "
            f"layer(s), {params:,} parameters{target}"
        )
    return 0


def read_input_lines(path: str) -> list[str]:
    """The lines of a UTF-8 file, split at ``\n`` only (``\r\n`` endings accepted), so
    one output line answers each input line even when a sentence holds other Unicode line
    separators (``str.splitlines`` would also break at U+2028, U+0085, ...)."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    return [line.removesuffix("\r") for line in text.split("\n")] if text else []


def cmd_translate(args: argparse.Namespace) -> int:
    from rnnlab.training.run import load

    if (args.text is None) == (args.input is None):
        raise ValueError('give one sentence ("a sentence") or --input FILE, not both or neither')
    run = load(args.run_dir, device=args.device)
    texts = read_input_lines(args.input) if args.input is not None else [args.text]
    outputs = run.translate(
        texts, beam=args.beam, length_penalty=args.length_penalty, batch_size=args.batch_size
    )
    for line in outputs:
        print(line)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    tasks = {name: task_entry(name).description for name in task_names()}
    models = {name: cell_entry(name).description for name in cell_names()}
    models.update(STACKS)
    models = dict(sorted(models.items()))
    if args.json:
        print(json.dumps({"tasks": tasks, "models": models}))
        return 0
    print("tasks:")
    for name, text in tasks.items():
        print(f"  {name:<12} {text}")
    print("models (cells):")
    for name, text in models.items():
        print(f"  {name:<12} {text}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rnnlab.bench import format_table, run_benchmarks

    threads = None if args.threads == 0 else args.threads
    results = run_benchmarks(
        select=args.select, repeats=args.repeats, quick=args.quick, threads=threads, data=args.data
    )
    if not results:
        raise ValueError(f"no benchmark name contains {args.select!r}")
    if args.json:
        for r in results:
            print(json.dumps(r.__dict__))
    else:
        print(format_table(results))
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage stays behind ``--help``)."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message}\n")


def cmd_diagnose(args: argparse.Namespace) -> int:
    from rnnlab.diagnostics import commands

    out = Path(args.out)
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
            inner_cell=args.cell,
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnnlab", description="Recurrent networks, memory and attention on PyTorch."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model on a task into a run folder")
    t.add_argument("task", help="task name (see `rnnlab list`)")
    t.add_argument("--model", help="cell name (see `rnnlab list`); default: the task's")
    t.add_argument("--cell", help="the cell inside a stack model such as dilated")
    t.add_argument(
        "--dilations",
        type=_positive_ints,
        help="dilated: per-layer dilations, e.g. 1,2,4,8 (default powers of 2)",
    )
    t.add_argument("--out", help="run folder (default runs/<task>-<model>-<time>)")
    t.add_argument("--hidden", type=_positive_int, help="hidden units per layer")
    t.add_argument("--layers", type=_positive_int, help="stacked layers")
    t.add_argument("--bidirectional", action="store_true", default=None)
    t.add_argument("--dropout", type=float, help="dropout between stacked layers")
    t.add_argument("--residual", action="store_true", default=None)
    t.add_argument(
        "--skip-connections",
        action="store_true",
        default=None,
        help="deep RNN: every layer reads the input, the output joins every layer",
    )
    t.add_argument(
        "--unidirectional",
        action="store_true",
        help="read left to right only (overrides a task default of --bidirectional)",
    )
    t.add_argument("--deep-output", type=_positive_int, help="MLP head of this hidden width")
    t.add_argument(
        "--feed-condition",
        action="store_true",
        default=None,
        help="vec->seq generators: also read the condition at every step",
    )
    t.add_argument(
        "--no-feed-condition",
        action="store_true",
        help="vec->seq generators: the condition sets the initial state only",
    )
    t.add_argument("--embedding", type=_positive_int, help="token embedding width (lm, seq2seq)")
    t.add_argument(
        "--attention",
        choices=ATTENTIONS,
        help="encoder-decoders: none (final state as context), additive (Bahdanau), dot "
        "or general (Luong); default the task's",
    )
    t.add_argument(
        "--input-feeding",
        action=argparse.BooleanOptionalAction,
        help="encoder-decoders: feed the attentional vector to the next step (Luong et al. "
        "2015); default the task's",
    )
    t.add_argument(
        "--beam",
        type=_positive_int,
        help="encoder-decoders: evaluate with beam search of this width (default 1: greedy)",
    )
    t.add_argument(
        "--length-penalty",
        type=float,
        help="encoder-decoders: beam search's GNMT length penalty alpha (default 0.6)",
    )
    t.add_argument("--no-fast", action="store_true", help="never use fused kernels")
    t.add_argument(
        "--chrono",
        type=_positive_int,
        help="chrono initialisation of LSTM/GRU gates for delays up to this",
    )
    t.add_argument("--no-chrono", action="store_true", help="no chrono initialisation")
    t.add_argument("--steps", type=_positive_int, help="training steps (batches)")
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--lr", type=_positive_float, help="peak learning rate")
    t.add_argument(
        "--manifold-lr", type=_positive_float, help="learning rate of orthogonal/unitary matrices"
    )
    t.add_argument("--optimizer", choices=OPTIMIZERS)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--schedule", choices=SCHEDULES)
    t.add_argument("--warmup", type=int, help="linear warm-up steps")
    t.add_argument("--clip", type=_positive_float, help="clip the global gradient norm")
    t.add_argument("--no-clip", action="store_true", help="do not clip gradients")
    t.add_argument("--eval-every", type=_positive_int)
    t.add_argument("--patience", type=_positive_int, help="early stopping, in evaluations")
    t.add_argument("--max-time", type=_positive_float, help="training time budget, seconds")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    t.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="train under bfloat16 autocast (weights and evaluation stay float32)",
    )
    t.add_argument(
        "--scheduled-sampling",
        choices=("linear", "exponential", "inverse_sigmoid"),
        help="language models and encoder-decoders: scheduled sampling with this "
        "teacher-probability decay",
    )
    t.add_argument("--ss-k", type=float, help="schedule constant k")
    t.add_argument("--ss-c", type=float, help="linear schedule slope c")
    t.add_argument("--ss-min", type=float, help="minimum teacher probability")
    t.add_argument(
        "--professor-forcing",
        action="store_true",
        default=None,
        help="language models: professor forcing (a discriminator over teacher-forced and "
        "free-running hidden states); excludes --scheduled-sampling",
    )
    t.add_argument(
        "--pf-weight", type=float, help="weight of the adversarial generator term (default 1)"
    )
    t.add_argument(
        "--pf-lr", type=_positive_float, help="discriminator Adam learning rate (default 1e-3)"
    )
    t.add_argument(
        "--pf-hidden", type=_positive_int, help="discriminator GRU units per direction (64)"
    )
    t.add_argument("--pf-mlp", type=_positive_int, help="discriminator MLP hidden units (64)")
    t.add_argument(
        "--pf-d-max-acc",
        type=float,
        help="train the discriminator only while its accuracy is below this (0.99)",
    )
    t.add_argument(
        "--pf-g-min-acc",
        type=float,
        help="use the adversarial term only when the discriminator's accuracy is above this (0.75)",
    )
    t.add_argument("--T", type=_positive_int, help="sequence length / delay (copy, adding)")
    t.add_argument("--data", help="data file or folder (dataset tasks)")
    t.add_argument("--download", action="store_true", help="download missing data files")
    t.add_argument("--cache-dir", help="download cache (default ~/.cache/rnnlab)")
    t.add_argument("--src", help="translate: source language (en, de, fr; default en)")
    t.add_argument("--tgt", help="translate: target language (default de; fr for Tatoeba)")
    t.add_argument(
        "--short",
        action="store_true",
        help="translate: Tatoeba pairs of the PyTorch tutorial's short-sentence filter",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="re-evaluate a saved run")
    e.add_argument("run_dir")
    e.add_argument("--splits", type=lambda s: s.split(","), default=["val", "test"])
    e.add_argument("--device", default="cpu")
    e.add_argument(
        "--T", type=_positive_int, help="evaluate at another length/delay (copy, adding)"
    )
    e.add_argument("--json", action="store_true", help="one line of JSON")
    e.add_argument("--data", help="language models: bpc and loss on this text file")
    e.add_argument(
        "--beam", type=_positive_int, help="encoder-decoders: beam width (default: the run's)"
    )
    e.set_defaults(func=cmd_eval)

    d = sub.add_parser(
        "diagnose",
        help="gradient flow, Jacobian spectra, clipping statistics, exposure bias, "
        "HM-RNN boundaries, attention maps, metric against source length",
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
        ),
    )
    d.add_argument("--models", type=lambda s: s.split(","), help="cells at initialisation: a,b,c")
    d.add_argument("--run", action="append", help="a trained run folder (repeatable)")
    d.add_argument("--task", default="copy", help="task for --models (default copy)")
    d.add_argument("--T", type=_positive_int, help="sequence length / delay for --models")
    d.add_argument("--data", help="data file or folder for --models on a dataset task")
    d.add_argument(
        "--hidden",
        type=_positive_ints,
        help="hidden size for --models: one, or one per model (128,128,32)",
    )
    d.add_argument(
        "--layers",
        type=_positive_ints,
        help="stacked layers for --models: one, or one per model (default 1; dilated 4)",
    )
    d.add_argument("--cell", help="the cell inside a stack model such as dilated")
    d.add_argument(
        "--dilations",
        type=_positive_ints,
        help="dilated: per-layer dilations, e.g. 1,2,4,8 (default powers of 2)",
    )
    d.add_argument(
        "--rows",
        type=_positive_int,
        help="sequences: the gradflow probe batch (default 32), exposure samples (256)",
    )
    d.add_argument(
        "--length",
        type=_positive_int,
        help="exposure: positions generated (default: hmm the run's T, text 256)",
    )
    d.add_argument(
        "--context",
        type=_positive_int,
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
        type=_positive_int,
        help="boundaries: score at most this many validation characters (default all)",
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--beam", type=_positive_int, help="attention, length: beam width (1)")
    d.add_argument("--split", default="test", help="length: the split to score (test)")
    d.add_argument("--bucket-width", type=_positive_int, help="length: source lengths per bucket")
    d.add_argument("--out", required=True, help="folder for the JSON and PNG files")
    d.set_defaults(func=cmd_diagnose)

    sm = sub.add_parser(
        "sample",
        help="generate text from a language model, or sequences from a vec->seq run",
        description="Language models stream text continuing --prompt. Vec->seq runs (e.g. "
        "mnist1d-gen) print one generated sequence per line, as dequantised values: "
        "--num per condition given by --condition.",
    )
    sm.add_argument("run_dir")
    sm.add_argument("--prompt", default="", help="text the sample continues (default: a newline)")
    sm.add_argument(
        "--length",
        type=_positive_int,
        help="tokens to generate (default: 500 characters; a vec->seq task's length)",
    )
    sm.add_argument(
        "--condition",
        help="vec->seq runs: a class (3), classes (0,3,7), all, or a vector (1,0,1 / 101)",
    )
    sm.add_argument("--num", type=_positive_int, default=1, help="vec->seq: samples per condition")
    sm.add_argument("--greedy", action="store_true", help="the most probable token at each step")
    sm.add_argument("--temperature", type=_positive_float, default=1.0)
    sm.add_argument("--top-k", type=_positive_int)
    sm.add_argument("--top-p", type=_positive_float)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--device", default="cpu")
    sm.add_argument("--out", help="vec->seq: PNG of the samples over real signals per class")
    sm.set_defaults(func=cmd_sample)

    pa = sub.add_parser(
        "params",
        help="parameter count of a model for a task, or the hidden size matching a count",
        description="Count the parameters of the model `rnnlab train TASK` would build with "
        "these flags; with --target N, find the hidden size whose count is closest to N "
        "(to compare models at equal parameter count).",
    )
    pa.add_argument("task", help="task name (see `rnnlab list`)")
    pa.add_argument("--model", help="cell name; default: the task's")
    pa.add_argument("--cell", help="the cell inside a stack model such as dilated")
    pa.add_argument("--dilations", type=_positive_ints, help="dilated: per-layer dilations")
    pa.add_argument("--hidden", type=_positive_int, help="hidden units per layer")
    pa.add_argument("--layers", type=_positive_int, help="stacked layers")
    pa.add_argument("--skip-connections", action="store_true", default=None)
    pa.add_argument("--deep-output", type=_positive_int)
    pa.add_argument("--target", type=_positive_int, help="find the hidden size for this count")
    pa.add_argument("--T", type=_positive_int, help="sequence length / delay (copy, adding)")
    pa.add_argument("--data", help="data file or folder (dataset tasks; sets the vocabulary)")
    pa.add_argument("--download", action="store_true", help="download missing data files")
    pa.add_argument("--json", action="store_true", help="one line of JSON")
    pa.set_defaults(func=cmd_params)

    tr = sub.add_parser(
        "translate",
        help="decode text with a trained encoder-decoder (one line in, one line out)",
    )
    tr.add_argument("run_dir")
    tr.add_argument("text", nargs="?", help="the sentence to translate")
    tr.add_argument("--input", help="a UTF-8 file, one sentence per line")
    tr.add_argument("--beam", type=_positive_int, default=1, help="beam width (1: greedy)")
    tr.add_argument(
        "--length-penalty", type=float, default=0.6, help="GNMT length penalty alpha (0.6)"
    )
    tr.add_argument("--batch-size", type=_positive_int, default=64, help="sentences per batch")
    tr.add_argument("--device", default="cpu")
    tr.set_defaults(func=cmd_translate)

    ls = sub.add_parser("list", help="tasks and models with one-line descriptions")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    b = sub.add_parser("bench", help="speed benchmarks, as ratios against a baseline")
    b.add_argument("--select", help="only benchmarks whose name contains this")
    b.add_argument("--repeats", type=_positive_int, default=5)
    b.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    b.add_argument(
        "--threads", type=int, default=1, help="torch threads while timing (0: torch's default)"
    )
    b.add_argument("--json", action="store_true", help="one JSON object per line")
    b.add_argument(
        "--data",
        help="Multi30k folder: the beam-search benchmark decodes its validation set (val.en)",
    )
    b.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (ValueError, FileNotFoundError, CheckpointError, TypeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"rnnlab: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
