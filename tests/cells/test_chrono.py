"""Chrono initialisation (Tallec & Ollivier 2018) of LSTM, GRU and minGRU gate biases."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.cells import GRUCell, LSTMCell
from rnnlab.cells.minimal import MinGRUCell, g
from rnnlab.models import RNNConfig, build_model
from rnnlab.tasks.spec import TaskSpec


def test_lstm_chrono_biases() -> None:
    H, T = 64, 100
    cell = LSTMCell(3, H)
    cell.chrono_init_(T, generator=torch.Generator().manual_seed(0))
    assert cell.bias_ih is not None and cell.bias_hh is not None
    b_f = cell.bias_ih[H : 2 * H].detach()
    assert float(b_f.min()) >= 0.0 and float(b_f.max()) <= math.log(T - 1)
    torch.testing.assert_close(cell.bias_ih[:H], -b_f)
    assert bool((cell.bias_hh[: 2 * H] == 0).all())
    # the effective forget gate sigma(b_f) keeps memory for about exp(b_f) steps
    assert float(b_f.max()) > math.log(T / 4)


def test_gru_chrono_biases() -> None:
    H, T = 32, 50
    cell = GRUCell(3, H)
    cell.chrono_init_(T)
    assert cell.bias_ih is not None and cell.bias_hh is not None
    b_z = cell.bias_ih[H : 2 * H].detach()
    assert float(b_z.min()) >= 0.0 and float(b_z.max()) <= math.log(T - 1)
    assert bool((cell.bias_hh[H : 2 * H] == 0).all())


def test_mingru_chrono_biases() -> None:
    H, T = 32, 200
    cell = MinGRUCell(3, H)
    weight = cell.linear.weight.detach().clone()
    candidate_bias = cell.linear.bias[H:].detach().clone()
    cell.chrono_init_(T, generator=torch.Generator().manual_seed(0))
    b_z = cell.linear.bias[:H].detach()
    # retention 1 - z = sigma(-b_z) = u / (1 + u) with u in [1, T - 1]: memory for ~u steps
    u = torch.exp(-b_z)
    assert float(u.min()) >= 1.0 - 1e-5 and float(u.max()) <= T - 1 + 1e-3
    assert float(u.max()) > T / 4
    torch.testing.assert_close(torch.sigmoid(-b_z), u / (1 + u))
    assert torch.equal(cell.linear.weight, weight)
    assert torch.equal(cell.linear.bias[H:], candidate_bias)  # the candidate's bias untouched
    # with x = 0 the state follows h_t = a h_{t-1} + b, a = sigma(-b_z), b = sigma(b_z) g(b_h)
    a = torch.sigmoid(-b_z)
    b = torch.sigmoid(b_z) * g(candidate_bias)
    h0 = torch.ones(1, H)
    with torch.no_grad():
        y, _ = cell.scan(torch.zeros(1, 5, 3), cell.initial_state(1)._replace(h=h0))
    torch.testing.assert_close(y[0, -1], a**5 + b * (1 - a**5) / (1 - a))


def test_chrono_through_model_config_leaves_other_cells_alone() -> None:
    torch.manual_seed(0)
    model = build_model(
        RNNConfig(cell="lstm", hidden_size=8, chrono_delay=30), TaskSpec("tag", 2, 3)
    )
    b_f = model.layers.cell.bias_ih[8:16].detach()
    assert float(b_f.min()) >= 0.0 and float(b_f.std()) > 0.0
    torch.manual_seed(0)
    plain = build_model(RNNConfig(cell="elman", hidden_size=8), TaskSpec("tag", 2, 3))
    torch.manual_seed(0)
    chrono = build_model(
        RNNConfig(cell="elman", hidden_size=8, chrono_delay=30), TaskSpec("tag", 2, 3)
    )
    for a, b in zip(plain.parameters(), chrono.parameters(), strict=True):
        assert torch.equal(a, b)


def test_chrono_needs_a_delay_above_two() -> None:
    with pytest.raises(ValueError, match="above 2, got 2"):
        LSTMCell(2, 4).chrono_init_(2)


def test_chrono_through_model_config_reaches_every_mingru_layer() -> None:
    model = build_model(
        RNNConfig(cell="mingru", hidden_size=8, num_layers=2, chrono_delay=30),
        TaskSpec("tag", 2, 3),
    )
    cells = [m for m in model.modules() if isinstance(m, MinGRUCell)]
    assert len(cells) == 2
    for cell in cells:
        assert float(cell.linear.bias[:8].max()) <= 0.0  # b_z = -log u, u >= 1
