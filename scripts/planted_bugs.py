# ruff: noqa: E501  (the mutants are lines of code, quoted whole)
"""Planted bugs and the tests that must catch them: a small mutation-testing run.

Each mutant replaces one exact line of a module in a copy of the source tree, runs its
target tests there and counts it caught when they fail. Run from the repository root:

    OMP_NUM_THREADS=1 python scripts/planted_bugs.py            # all mutants
    OMP_NUM_THREADS=1 python scripts/planted_bugs.py --list     # what they are

The score (caught / planted) is printed at the end; every mutant is a plausible slip in
code whose behaviour the tests named beside it exist to guard.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, file under src/rnnlab, the exact text, its replacement, target tests)
MUTANTS: list[tuple[str, str, str, str, str]] = [
    (
        "urnn: R1 and Pi swapped",
        "cells/urnn.py",
        "        z = reflect(z, f.u1)  # R_1\n        z = z.index_select(-1, self.perm)  # Pi\n",
        "        z = z.index_select(-1, self.perm)  # Pi\n        z = reflect(z, f.u1)  # R_1\n",
        "tests/cells/test_independent_constructions.py",
    ),
    (
        "urnn: D3 dropped",
        "cells/urnn.py",
        "        return z * f.d3  # D_3\n",
        "        return z  # D_3\n",
        "tests/cells/test_independent_constructions.py",
    ),
    (
        "urnn: F and F^-1 swapped",
        "cells/urnn.py",
        '        z = torch.fft.fft(z, norm="ortho")  # F\n',
        '        z = torch.fft.ifft(z, norm="ortho")  # F\n',
        "tests/cells/test_independent_constructions.py",
    ),
    (
        "modReLU (real): sign dropped",
        "cells/constrained.py",
        "    return torch.sign(z) * torch.relu(z.abs() + bias)\n",
        "    return torch.relu(z.abs() + bias)\n",
        "tests/cells/test_independent_constructions.py",
    ),
    (
        "modReLU (complex): bias subtracted",
        "cells/constrained.py",
        "    return torch.relu(modulus + bias) / modulus\n",
        "    return torch.relu(modulus - bias) / modulus\n",
        "tests/cells/test_independent_constructions.py",
    ),
    (
        "cayley: D applied on the left",
        "cells/cayley.py",
        "        return torch.linalg.solve(eye + S, eye - S) * self.D\n",
        "        return torch.linalg.solve(eye + S, eye - S) * self.D[:, None]\n",
        "tests/cells/test_independent_constructions.py",
    ),
    (
        "scheduled sampling: one coin per sequence",
        "training/scheduled_sampling.py",
        "                coin = uniform_rows(x.shape[0], generator, x.device)\n",
        "                coin = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(0))\n",
        "tests/training/test_guards.py",
    ),
    (
        "scheduled sampling: one coin per step for the batch",
        "training/scheduled_sampling.py",
        "                coin = uniform_rows(x.shape[0], generator, x.device)\n",
        "                coin = torch.rand(1, generator=generator, device=x.device)\n",
        "tests/training/test_guards.py",
    ),
    (
        "professor forcing: discriminator gate <=",
        "training/professor_forcing.py",
        "        train_d = accuracy < self.d_max_accuracy\n",
        "        train_d = accuracy <= self.d_max_accuracy\n",
        "tests/training/test_guards.py",
    ),
    (
        "professor forcing: generator gate inverted",
        "training/professor_forcing.py",
        "        use_g = self.weight > 0 and accuracy > self.g_min_accuracy\n",
        "        use_g = self.weight > 0 and accuracy < self.g_min_accuracy\n",
        "tests/training/test_guards.py",
    ),
    (
        "professor forcing: generator label 'free-running'",
        "training/professor_forcing.py",
        "    return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))\n",
        "    return F.binary_cross_entropy_with_logits(logit, torch.zeros_like(logit))\n",
        "tests/training/test_guards.py",
    ),
    (
        "professor forcing: argmax fed back",
        "training/professor_forcing.py",
        "                token = sample_rows(probs, generator)  # torch.multinomial, row by row\n",
        "                token = probs.argmax(-1)\n",
        "tests/training/test_guards.py tests/training/test_professor_forcing.py",
    ),
    (
        "clipping: per parameter, not global",
        "training/loop.py",
        "            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or math.inf))\n",
        "            grad_norm = max(float(nn.utils.clip_grad_norm_([p], cfg.clip or math.inf)) for p in model.parameters())\n",
        "tests/training/test_guards.py",
    ),
    (
        "clipping: the norm measured but not clipped",
        "training/loop.py",
        "            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.clip or math.inf))\n",
        "            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), math.inf))\n",
        "tests/training/test_guards.py",
    ),
    (
        "numerics: the gradient norm not checked",
        "training/numerics.py",
        "    if not math.isfinite(grad_norm):\n",
        "    if False:\n",
        "tests/training/test_numerics.py",
    ),
    (
        "resume: the carried state dropped",
        "training/loop.py",
        '        if saved.get("carry") is not None:\n',
        "        if False:\n",
        "tests/training/test_resume.py -k charlm",
    ),
    (
        "resume: metrics not deduplicated",
        "training/run_folder.py",
        '            self._truncate_metrics(state["step"])\n',
        "            pass\n",
        "tests/training/test_resume.py -k kill",
    ),
]


def run_mutant(index: int, src: Path) -> bool:
    """Plant mutant ``index`` in a copy of ``src``; whether its target tests fail."""
    name, rel, old, new, tests = MUTANTS[index]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(src, tree)
        path = tree / "rnnlab" / rel
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"mutant {name!r}: the line to replace is not in {rel} once")
        path.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()]
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        return result.returncode != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the mutants")
    args = parser.parse_args()
    if args.list:
        for name, rel, *_ in MUTANTS:
            print(f"{rel:32} {name}")
        return 0
    caught = 0
    for i, (name, *_) in enumerate(MUTANTS):
        ok = run_mutant(i, ROOT / "src")
        caught += ok
        print(f"{'caught ' if ok else 'SURVIVED'} {name}", flush=True)
    print(f"score: {caught}/{len(MUTANTS)} caught ({100 * caught / len(MUTANTS):.0f}%)")
    return 0 if caught == len(MUTANTS) else 1


if __name__ == "__main__":
    sys.exit(main())
