"""The NTM cell beyond the conformance suite: options, the hoisted input projection, the
step against the addressing equations, initialisation and clipping."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from rnnlab.cells import GRUCell, LSTMCell, make_cell
from rnnlab.layers import Recurrent
from rnnlab.memory import NTMCell, NTMState
from rnnlab.memory.addressing import address, read, write

F64 = torch.float64
D, H = 3, 6
SMALL = dict(memory_slots=6, memory_width=4)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


class OpaqueLSTM(LSTMCell):
    """An LSTM that does not declare its input map affine: the NTM must then feed it
    ``[x_t; r_{t-1}]`` through its own ``project_input`` every step."""

    def affine_input(self) -> tuple[Tensor, Tensor | None] | None:
        return None


def test_hoisted_input_projection_equals_the_concatenated_input() -> None:
    hoisted = make_cell("ntm", D, H, read_heads=2, **SMALL).to(F64)
    assert isinstance(hoisted, NTMCell)
    opaque = NTMCell(OpaqueLSTM(D + 2 * 4, H), read_heads=2, **SMALL).to(F64)
    opaque.load_state_dict(hoisted.state_dict())
    assert opaque.project_input(torch.ones(2, D)).shape == (2, D)  # identity
    x = torch.randn(2, 5, D, dtype=F64)
    y_h, s_h = Recurrent(hoisted)(x)
    y_o, s_o = Recurrent(opaque)(x)
    torch.testing.assert_close(y_h, y_o)
    torch.testing.assert_close(s_h.memory, s_o.memory)


def test_one_step_follows_the_equations() -> None:
    """Controller on ``[x; r_{t-1}]``, heads from its output, write to ``M_{t-1}``, read the
    written memory, output ``[h; r_t]``: rebuilt here from the parts."""
    cell = make_cell("ntm", D, H, write_heads=2, **SMALL).to(F64)
    assert isinstance(cell, NTMCell)
    state = cell.initial_state(3, dtype=F64)
    state = state._replace(memory=torch.randn_like(state.memory))
    x = torch.randn(3, D, dtype=F64)
    y, new = cell(x, state)
    ctrl = cell.controller
    h, _ = ctrl(torch.cat([x, state.reads.flatten(1)], -1), state.controller)
    r, w = cell.head_parameters(h)
    ww = address(state.memory, state.write_weights, w.key, w.beta, w.gate, w.shift, w.gamma)
    assert w.erase is not None and w.add is not None
    memory = write(state.memory, ww, w.erase, w.add)
    wr = address(memory, state.read_weights, r.key, r.beta, r.gate, r.shift, r.gamma)
    torch.testing.assert_close(new.memory, memory)
    torch.testing.assert_close(new.write_weights, ww)
    torch.testing.assert_close(new.read_weights, wr)
    torch.testing.assert_close(y, torch.cat([h, read(memory, wr).flatten(1)], -1))


def test_options_reach_the_cell() -> None:
    cell = make_cell(
        "ntm",
        D,
        H,
        memory_slots=9,
        memory_width=5,
        read_heads=2,
        write_heads=3,
        shift_range=2,
        controller="gru",
        memory_init=0.25,
    )
    assert isinstance(cell, NTMCell) and isinstance(cell.controller, GRUCell)
    assert cell.controller.input_size == D + 2 * 5
    assert cell.output_size == H + 2 * 5
    s = cell.initial_state(4)
    assert isinstance(s, NTMState)
    assert s.memory.shape == (4, 9, 5) and bool((s.memory == 0.25).all())
    assert s.read_weights.shape == (4, 2, 9) and s.write_weights.shape == (4, 3, 9)
    torch.testing.assert_close(s.read_weights.sum(-1), torch.ones(4, 2))
    r, w = cell.head_parameters(torch.randn(4, H))
    assert r.shift.shape == (4, 2, 5) and w.shift.shape == (4, 3, 5)
    assert bool((r.gamma >= 1).all()) and bool((w.beta >= 0).all())


def test_memory_starts_at_the_constant_by_default() -> None:
    s = make_cell("ntm", D, H, **SMALL).initial_state(2)
    assert bool((s.memory == 1e-6).all())


def test_clip_bounds_the_head_parameters() -> None:
    cell = make_cell("ntm", D, H, clip=0.5, **SMALL)
    assert isinstance(cell, NTMCell)
    with torch.no_grad():
        cell.heads.weight.fill_(100.0)
    r, _ = cell.head_parameters(torch.ones(2, H))
    softplus_clip = torch.nn.functional.softplus(torch.tensor(0.5))
    torch.testing.assert_close(r.beta, softplus_clip.expand_as(r.beta))
    unclipped = make_cell("ntm", D, H, clip=1e6, **SMALL)
    assert isinstance(unclipped, NTMCell)
    unclipped.load_state_dict(cell.state_dict())
    r2, _ = unclipped.head_parameters(torch.ones(2, H))
    assert bool((r2.beta > 100).all())


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="memory_slots must be a positive integer, got 0"):
        make_cell("ntm", D, H, memory_slots=0)
    with pytest.raises(ValueError, match="clip must be positive"):
        make_cell("ntm", D, H, clip=0.0)
    with pytest.raises(ValueError, match="leaves no room"):
        NTMCell(LSTMCell(4, H), memory_width=4)
    with pytest.raises(ValueError, match="has no option 'slots'"):
        make_cell("ntm", D, H, slots=3)
