"""Every `rnnlab ...` command in the README still parses (flags are generated from the
config dataclasses, so a renamed field would silently drop a documented flag)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rnnlab.cli.app import build_parser, load_plugin_flags

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = ROOT.joinpath("README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("rnnlab "):
                commands.append(line)
            elif "&& .venv/bin/rnnlab " in line:
                commands.append("rnnlab " + line.split("&& .venv/bin/rnnlab ", 1)[1])
    return commands


def test_the_readme_has_commands() -> None:
    assert len(readme_commands()) > 20


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # --plugin examples/... is relative to the repository
    argv = load_plugin_flags(shlex.split(command)[1:])
    args = build_parser().parse_args(argv)
    assert callable(args.func)
