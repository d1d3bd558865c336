"""Atomic writes and JSON files of :mod:`rnnlab._io`."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab._io import CheckpointError, atomic_write, read_json, write_json


def test_json_round_trip_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    write_json(path, {"x": [1, 2], "y": "z"})
    assert read_json(path) == {"x": [1, 2], "y": "z"}
    assert path.read_text().endswith("\n")


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing nope\.json"):
        read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")

    def fail(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
