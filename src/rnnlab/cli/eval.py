"""``rnnlab eval``: re-evaluate a saved run, or a language model on a text file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnnlab.cli._common import positive_int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    e = sub.add_parser("eval", help="re-evaluate a saved run")
    e.add_argument("run_dir")
    e.add_argument("--splits", type=lambda s: s.split(","), default=["val", "test"])
    e.add_argument("--device", default="cpu")
    e.add_argument(
        "--T",
        "--length",
        dest="T",
        type=positive_int,
        help="evaluate at another length/delay: the run's task rebuilt with T=L (copy, adding, "
        "ntm-copy: sequence length; ntm-repeat-copy: length; ntm-recall: items)",
    )
    e.add_argument("--json", action="store_true", help="one line of JSON")
    e.add_argument("--data", help="language models: bpc and loss on this text file")
    e.add_argument(
        "--beam", type=positive_int, help="encoder-decoders: beam width (default: the run's)"
    )
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
