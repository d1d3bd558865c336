"""SIGKILL at a random moment, then ``--resume``: the final weights against an uninterrupted
run's (max |w_resumed - w_uninterrupted|, expected exactly 0).

Runs ``rnnlab train`` as a subprocess on a small charlm (truncated BPTT: the carried state
must survive the kill) or copy run, kills it with SIGKILL after a uniformly random delay
between 30% (past the start-up) and 100% of the uninterrupted run's wall time, resumes it
until it finishes and compares ``trainer.pt``'s weights and the ``metrics.jsonl`` lines::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sigkill_resume.py --trials 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def _argv(task: str, corpus: Path, out: Path) -> list[str]:
    argv = [sys.executable, "-m", "rnnlab", "train", task, "--out", str(out), "--quiet"]
    argv += ["--hidden", "64", "--batch-size", "16", "--steps", "2000", "--eval-every", "50"]
    argv += ["--eval-batch-size", "64"]
    if task == "charlm":
        argv += ["--data", str(corpus), "--T", "16", "--model", "lstm"]
    else:
        argv += ["--T", "10", "--model", "gru"]
    return argv


def _metrics(run: Path) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "train_time_s"} for r in lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("charlm", "copy"), default="charlm")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus.txt"
        corpus.write_text(
            "".join(f"the cat {i % 7} sat on the mat {i % 13}.\n" for i in range(3000))
        )
        full = root / "full"
        tick = time.perf_counter()
        subprocess.run(
            _argv(args.task, corpus, full), env=env, check=True, stdout=subprocess.DEVNULL
        )
        wall = time.perf_counter() - tick
        want = torch.load(full / "trainer.pt", weights_only=True)["model"]
        worst = 0.0
        for trial in range(args.trials):
            out = root / f"killed{trial}"
            delay = rng.uniform(0.3 * wall, wall)
            proc = subprocess.Popen(_argv(args.task, corpus, out), env=env)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            step = (
                torch.load(out / "trainer.pt", weights_only=True)["step"]
                if (out / "trainer.pt").exists()
                else None
            )
            again = [*_argv(args.task, corpus, out), "--resume" if step else "--overwrite"]
            code = subprocess.run(again, env=env, stdout=subprocess.DEVNULL).returncode
            got = torch.load(out / "trainer.pt", weights_only=True)["model"]
            diff = max(float((got[k] - want[k]).abs().max()) for k in want)
            same = _metrics(out) == _metrics(full)
            worst = max(worst, diff)
            print(
                f"trial {trial}: killed after {delay:.2f} s (checkpoint at step {step}), "
                f"resume exit {code}, max |diff| {diff:g}, metrics.jsonl identical: {same}"
            )
        print(
            f"{args.task}: uninterrupted {wall:.1f} s; "
            f"worst max |diff| over {args.trials} kills: {worst:g}"
        )
    return 0 if worst == 0.0 else 1


if __name__ == "__main__":
    sys.exit(main())
