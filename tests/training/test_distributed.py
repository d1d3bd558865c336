"""Multi-process data-parallel training (``torchrun``) equals a one-process run.

One ``torchrun`` launch (two CPU processes, gloo, on 127.0.0.1 at a free port) trains the
copy task, a character LM (truncated-BPTT streams sharded per rank, 10 steps then
``--resume`` to 20) and professor forcing (its discriminator synchronised, the adversarial
gate open); the same command lines run here in one process. After 20 steps the weights,
the discriminator's and the validation figures must agree to 1e-6.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import rnnlab
from rnnlab.cli import main
from rnnlab.training.distributed import World, world

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with gloo is needed",
)

WORKER = Path(__file__).with_name("ddp_worker.py")
COMMON = ["--batch-size", "8", "--eval-every", "10", "--eval-batch-size", "16", "--quiet"]


def _runs(corpus: str) -> dict[str, list[list[str]]]:
    """Each run's command lines (the last one reaches step 20)."""
    gru = ["--model", "gru", "--hidden", "8"]
    charlm = ["train", "charlm", "--data", corpus, "--T", "8", *gru, *COMMON]
    return {
        "copy": [["train", "copy", "--T", "4", *gru, "--steps", "20", *COMMON]],
        "charlm": [
            [*charlm, "--steps", "10"],
            ["train", "charlm", "--resume", "--steps", "20", "--quiet"],
        ],
        "professor-forcing": [
            [
                "train", "hmm", "--T", "6", *gru, "--steps", "20", *COMMON,
                "--professor-forcing", "--pf-hidden", "4", "--pf-mlp", "4",
                "--pf-g-min-acc", "0",
            ]
        ],
    }  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_out(argv: list[str], out: Path) -> list[str]:
    return [*argv, "--out", str(out)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """``name -> (one-process run folder, two-process run folder)``."""
    root = tmp_path_factory.mktemp("ddp")
    corpus = root / "corpus.txt"
    corpus.write_text("".join(f"the cat {i % 7} sat on the mat.\n" for i in range(400)))
    plan = _runs(str(corpus))
    two = [_with_out(argv, root / "two" / name) for name, lines in plan.items() for argv in lines]
    (root / "runs.json").write_text(json.dumps(two))
    src = str(Path(rnnlab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
        str(WORKER), str(root / "runs.json"),
    ]  # fmt: skip
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, lines in plan.items():
        for argv in lines:
            assert main(_with_out(argv, root / "one" / name)) == 0
    return {name: (root / "one" / name, root / "two" / name) for name in plan}


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert sorted(a) == sorted(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _val_lines(run: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [line for line in lines if line["split"] == "val"]


@pytest.mark.parametrize("name", ["copy", "charlm", "professor-forcing"])
def test_two_processes_equal_one_on_the_same_global_batch(
    runs: dict[str, tuple[Path, Path]], name: str
) -> None:
    one, two = runs[name]
    summary = json.loads((two / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 20
    assert "processes" not in json.loads((one / "summary.json").read_text())
    last1, last2 = load_file(one / "last.safetensors"), load_file(two / "last.safetensors")
    assert not any(k.startswith("module.") for k in last2)
    assert _max_diff(last1, last2) <= 1e-6
    assert (
        _max_diff(load_file(one / "best.safetensors"), load_file(two / "best.safetensors")) <= 1e-6
    )
    v1, v2 = _val_lines(one), _val_lines(two)
    assert [v["step"] for v in v1] == [v["step"] for v in v2] == [10, 20]
    for a, b in zip(v1, v2, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
    if name == "professor-forcing":  # the discriminator is trained in step on both ranks
        d1, d2 = (
            torch.load(run / "trainer.pt", weights_only=True)["professor_forcing"]["discriminator"]
            for run in (one, two)
        )
        assert _max_diff(d1, d2) <= 1e-6
        train = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
        assert any(line.get("pf_g_used", 0) > 0 for line in train)  # the adversarial term acted


def test_a_two_process_run_loads_with_eval(
    runs: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["eval", str(runs["copy"][1]), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "test" in json.dumps(figures)


def test_a_batch_the_processes_cannot_share_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    argv = ["train", "copy", "--T", "4", "--steps", "1", "--batch-size", "8", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "batch size 8 is not divisible by the 3 processes" in err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_rows_split_a_global_batch_contiguously() -> None:
    assert [World(r, 4).rows(12) for r in range(4)] == [
        slice(0, 3),
        slice(3, 6),
        slice(6, 9),
        slice(9, 12),
    ]
    state = (torch.arange(12).view(6, 2),)
    assert torch.equal(World(2, 3).take_rows(state, 6)[0], torch.tensor([[8, 9], [10, 11]]))
    assert world() == World()  # outside a training run: one process
