"""Chrono initialisation (Tallec & Ollivier 2018) of LSTM and GRU gate biases."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.cells import GRUCell, LSTMCell
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
