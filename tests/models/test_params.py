"""Parameter counts of configured models and the hidden size matching a count."""

from __future__ import annotations

import json

import pytest

from rnnlab.cli import main
from rnnlab.models import RNNConfig
from rnnlab.models.params import count_model_parameters, hidden_size_for
from rnnlab.tasks.spec import TaskSpec


def test_counts_follow_the_formulas() -> None:
    V, H = 11, 7
    # embedding V x H, LSTM 4 (H x H + H x H + 2 H), head H x V + V
    lm = count_model_parameters(RNNConfig("lstm", hidden_size=H), TaskSpec("lm", V, V))
    assert lm == V * H + 4 * (2 * H * H + 2 * H) + H * V + V
    # GRU 3 (H x D + H x H + 2 H) and a linear head to one value
    gru = count_model_parameters(RNNConfig("gru", hidden_size=128), TaskSpec("regress", 2, 1))
    assert gru == 3 * (128 * 2 + 128 * 128 + 2 * 128) + 128 + 1


@pytest.mark.parametrize("cell", ["mlstm", "mrnn", "gru"])
def test_hidden_size_for_is_the_closest(cell: str) -> None:
    target = count_model_parameters(RNNConfig("lstm", hidden_size=20), TaskSpec("lm", 11, 11))
    config = RNNConfig(cell)
    h = hidden_size_for(config, TaskSpec("lm", 11, 11), target)

    def gap(hidden: int) -> int:
        sized = RNNConfig(cell, hidden_size=hidden)
        return abs(count_model_parameters(sized, TaskSpec("lm", 11, 11)) - target)

    assert gap(h) <= gap(h - 1) and gap(h) <= gap(h + 1)
    assert hidden_size_for(config, TaskSpec("lm", 11, 11), 1) == 1
    with pytest.raises(ValueError, match="target must be a positive integer, got 0"):
        hidden_size_for(config, TaskSpec("lm", 11, 11), 0)


def test_params_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "adding", "--model", "gru", "--hidden", "128"]) == 0
    assert "50,817 parameters" in capsys.readouterr().out
    assert main(["params", "adding", "--model", "elman", "--target", "50817", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "elman" and abs(result["params"] - 50817) < 2 * 225
    argv = ["params", "adding", "--model", "dilated", "--cell", "gru", "--dilations", "1,2"]
    assert main([*argv, "--hidden", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_layers"] == 2
    assert main(["params", "adding", "--hidden", "8", "--target", "100"]) == 2
    assert "not both" in capsys.readouterr().err
