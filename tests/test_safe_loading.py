"""Safe loading, kept: a malicious pickle planted in any file of a run folder is never
executed by any command that reads the folder (weights are safetensors, ``trainer.pt``
loads with ``weights_only=True``, JSON is JSON)."""

from __future__ import annotations

import contextlib
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import rnnlab
from rnnlab.cli import main

FILES = (
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "clipping.json",
    "best.safetensors",
    "last.safetensors",
    "trainer.pt",
)


class _Payload:
    """Unpickling this creates ``marker`` (what an attacker's code would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def _plant(path: Path, marker: Path) -> None:
    if path.suffix == ".pt":
        torch.save({"step": _Payload(marker)}, path)  # a torch zip archive holding it
    else:
        path.write_bytes(pickle.dumps(_Payload(marker)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("safe") / "run"
    argv = ["train", "copy", "--T", "3", "--hidden", "4", "--batch-size", "4", "--steps", "2"]
    assert main([*argv, "--eval-every", "1", "--eval-batch-size", "8", "--out", str(out)]) == 0
    return out


def _commands(run: Path, diag: Path) -> dict[str, Any]:
    return {
        "eval": lambda: main(["eval", str(run)]),
        "resume": lambda: main(["train", "copy", "--resume", "--out", str(run), "--quiet"]),
        "diagnose-clipping": lambda: main(
            ["diagnose", "clipping", "--run", str(run), "--out", str(diag)]
        ),
        "load-best": lambda: rnnlab.load(run),
        "load-last": lambda: rnnlab.load(run, checkpoint="last"),
    }


@pytest.mark.parametrize("name", FILES)
def test_a_planted_pickle_is_never_executed(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    marker = tmp_path / "pwned"
    # the payload works: unpickling it creates the marker
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
    marker.unlink()
    for command, call in _commands(tmp_path / "run", tmp_path / "diag").items():
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        shutil.copytree(trained, tmp_path / "run")
        _plant(tmp_path / "run" / name, marker)
        with contextlib.suppress(Exception):
            call()
        capsys.readouterr()
        assert not marker.exists(), f"{command} executed the pickle planted in {name}"
