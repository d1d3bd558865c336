"""Registries open to users: a cell from a plugin file trains, evaluates and loads in new
processes (the run folder records the plugin), and mistakes get one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnlab.cells import Cell, make_cell, register_cell
from rnnlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "indrnn_plugin.py"


def _rnnlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``rnnlab ARGS`` in a fresh process (nothing registered in this one carries over)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    code = "import sys; from rnnlab.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_a_plugin_cell_trains_evaluates_and_loads_in_new_processes(tmp_path: Path) -> None:
    plugin = tmp_path / "indrnn_plugin.py"
    shutil.copy(EXAMPLE, plugin)
    run = tmp_path / "run"
    train = ["train", "copy", "--T", "5", "--hidden", "8", "--steps", "4", "--eval-every", "4"]
    done = _rnnlab(
        *train,
        "--model",
        "indrnn",
        "--plugin",
        str(plugin),
        "--out",
        str(run),
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["plugins"] == [str(plugin.resolve())]
    assert config["model"]["cell"] == "indrnn"
    # a new process, no --plugin: the run folder says which plugin to import
    evaluated = _rnnlab("eval", str(run), "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads((run / "summary.json").read_text())
    again = json.loads(evaluated.stdout)
    assert again["test"]["ce"] == pytest.approx(summary["metrics"]["test"]["ce"], abs=1e-6)
    code = f"import rnnlab; print(type(rnnlab.load({str(run)!r}).model.layers.cell).__name__)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert loaded.stdout.strip() == "IndRNNCell", loaded.stderr
    # the plugin gone: one line that names it
    plugin.rename(tmp_path / "moved.py")
    missing = _rnnlab("eval", str(run), cwd=tmp_path)
    assert missing.returncode == 2
    assert "needs the plugin" in missing.stderr and "indrnn_plugin.py" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    moved = _rnnlab("eval", str(run), "--plugin", str(tmp_path / "moved.py"), cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr


def test_an_unknown_model_hints_at_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "copy", "--model", "indrnn_nowhere", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'indrnn_nowhere'" in err and "--plugin" in err
    assert main(["train", "copy", "--plugin", "no_such_plugin_module"]) == 2
    assert "plugin module 'no_such_plugin_module' not found" in capsys.readouterr().err


class _State(NamedTuple):
    h: Tensor


class _Custom(Cell):
    """A cell whose mistakes are chosen by its arguments."""

    def __init__(self, d: int, h: int, mistake: str = "") -> None:
        super().__init__()
        self.input_size, self.hidden_size = d, h
        if mistake != "no output_size":
            self.output_size = h
        self.w = nn.Linear(d, h if mistake != "projected width" else h + 1)
        self.mistake = mistake

    def initial_state(self, batch: int, *, device=None, dtype=None):  # type: ignore[no-untyped-def]
        h = self._zeros(batch, device, dtype)
        return (h,) if self.mistake == "bare tuple" else _State(h)

    def project_input(self, x: Tensor) -> Tensor:
        return self.w(x)

    def step(self, p_t: Tensor, state: _State) -> tuple[Tensor, _State]:
        h = torch.tanh(p_t + state[0])
        return h, _State(h)


register_cell("test_custom_mistakes", "a cell with chosen mistakes (tests)", _Custom)


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("no output_size", "must set output_size to a positive int"),
        ("bare tuple", "initial_state must return a NamedTuple"),
        ("projected width", "step() fails on project_input's output of width 9"),
    ],
)
def test_mistakes_in_a_custom_cell_are_one_line_errors_naming_it(
    mistake: str, message: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        make_cell("test_custom_mistakes", 3, 8, mistake=mistake)
    text = str(info.value)
    assert "test_custom_mistakes" in text and message in text and "\n" not in text
    make_cell("test_custom_mistakes", 3, 8)  # no mistake: builds


def test_building_a_custom_cell_keeps_the_random_stream() -> None:
    torch.manual_seed(0)
    make_cell("test_custom_mistakes", 3, 8)
    after_build = torch.rand(3)
    torch.manual_seed(0)
    _Custom(3, 8)  # the same draws without the registry's check step
    assert torch.equal(after_build, torch.rand(3))


def test_an_installed_package_registers_through_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name no registry knows imports the modules of the rnnlab entry-point groups."""
    import rnnlab._plugins as plugins

    loaded: list[str] = []

    class Point:
        name, value = "ep_cell", "some_package.cells:register"

        def load(self) -> None:
            loaded.append(self.value)
            register_cell("test_entry_point_cell", "from an entry point (tests)", _Custom)

    groups: list[str] = []

    def entry_points(group: str) -> list[Point]:
        groups.append(group)
        return [Point()] if group == "rnnlab.cells" else []

    monkeypatch.setattr(plugins, "entry_points", entry_points)
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.setattr(plugins, "_loaded", [])
    cell = make_cell("test_entry_point_cell", 3, 8)  # unknown until the entry points load
    assert isinstance(cell, _Custom) and loaded == ["some_package.cells:register"]
    assert groups == ["rnnlab.cells", "rnnlab.models", "rnnlab.tasks"]
    assert plugins.loaded_plugins() == ["some_package.cells"]  # recorded in run folders
    make_cell("test_entry_point_cell", 3, 8)
    assert len(loaded) == 1  # once per process
