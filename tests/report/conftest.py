"""Tiny real run folders for the report tests, trained once per session: a copy tagger, a
character language model and an encoder-decoder with attention (a few steps each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "charlm_corpus.txt"
COMMON = ["--hidden", "16", "--steps", "6", "--eval-every", "3", "--batch-size", "8", "--quiet"]
RUNS = {
    "copy": ["copy", "--T", "5"],
    "charlm": ["charlm", "--data", str(CORPUS), "--T", "16"],
    "reverse": ["reverse", "--T", "5", "--embedding", "8", "--attention", "additive"],
}


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{name: run folder}``; tests that change a folder copy it first."""
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for name, argv in RUNS.items():
        out = root / name
        assert main(["train", *argv, *COMMON, "--out", str(out)]) == 0
        folders[name] = out
    return folders
