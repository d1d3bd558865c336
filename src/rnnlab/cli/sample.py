"""``rnnlab sample``: text from a language model, or sequences from a vec->seq run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rnnlab.cli._common import positive_float, positive_int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        type=positive_int,
        help="tokens to generate (default: 500 characters; a vec->seq task's length)",
    )
    sm.add_argument(
        "--condition",
        help="vec->seq runs: a class (3), classes (0,3,7), all, or a vector (1,0,1 / 101)",
    )
    sm.add_argument("--num", type=positive_int, default=1, help="vec->seq: samples per condition")
    sm.add_argument("--greedy", action="store_true", help="the most probable token at each step")
    sm.add_argument("--temperature", type=positive_float, default=1.0)
    sm.add_argument("--top-k", type=positive_int)
    sm.add_argument("--top-p", type=positive_float)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--device", default="cpu")
    sm.add_argument("--out", help="vec->seq: PNG of the samples over real signals per class")
    sm.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
    model: Any = run.model
    if not isinstance(run.model, TokenGenerator) or "vocab" not in run.task_info:
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
            _, state = model(Batch(ids[:, :-1]))
        if state is None:
            state = model.initial_state(1, device=args.device)
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
