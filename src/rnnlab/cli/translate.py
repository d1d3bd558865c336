"""``rnnlab translate``: decode text with a trained encoder-decoder, one line per line."""

from __future__ import annotations

import argparse

from rnnlab.cli._common import positive_int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tr = sub.add_parser(
        "translate",
        help="decode text with a trained encoder-decoder (one line in, one line out)",
    )
    tr.add_argument("run_dir")
    tr.add_argument("text", nargs="?", help="the sentence to translate")
    tr.add_argument("--input", help="a UTF-8 file, one sentence per line")
    tr.add_argument("--beam", type=positive_int, default=1, help="beam width (1: greedy)")
    tr.add_argument(
        "--length-penalty", type=float, default=0.6, help="GNMT length penalty alpha (0.6)"
    )
    tr.add_argument("--batch-size", type=positive_int, default=64, help="sentences per batch")
    tr.add_argument("--device", default="cpu")
    tr.set_defaults(func=run)


def read_input_lines(path: str) -> list[str]:
    """The lines of a UTF-8 file, split at ``\n`` only (``\r\n`` endings accepted), so
    one output line answers each input line even when a sentence holds other Unicode line
    separators (``str.splitlines`` would also break at U+2028, U+0085, ...)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"--input {path}: not UTF-8 text (byte offset {e.start})") from None
    except OSError as e:
        raise ValueError(f"--input {path}: {e.strerror or e}") from None
    if text.endswith("\n"):
        text = text[:-1]
    return [line.removesuffix("\r") for line in text.split("\n")] if text else []


def run(args: argparse.Namespace) -> int:
    from rnnlab.training.run import load

    if (args.text is None) == (args.input is None):
        raise ValueError('give one sentence ("a sentence") or --input FILE, not both or neither')
    if args.text is not None and not args.text.strip():
        raise ValueError("the sentence to translate is empty")
    run = load(args.run_dir, device=args.device)
    texts = read_input_lines(args.input) if args.input is not None else [args.text]
    outputs = run.translate(
        texts, beam=args.beam, length_penalty=args.length_penalty, batch_size=args.batch_size
    )
    for line in outputs:
        print(line)
    return 0
