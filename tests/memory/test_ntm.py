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
    """Controller on ``[x; r_{t-1}]``, heads from its output, every head addressing
    ``M_{t-1}``, reads of ``M_{t-1}``, then erase and add; output ``[h; r_t]``: rebuilt here
    head by head from the parts."""
    cell = make_cell("ntm", D, H, read_heads=2, write_heads=2, **SMALL).to(F64)
    assert isinstance(cell, NTMCell)
    state = cell.initial_state(3, dtype=F64)
    state = state._replace(memory=torch.randn_like(state.memory))
    x = torch.randn(3, D, dtype=F64)
    y, new = cell(x, state)
    h, _ = cell.controller(torch.cat([x, state.reads.flatten(1)], -1), state.controller)
    p = cell.head_parameters(h)
    previous = [*state.read_weights.unbind(1), *state.write_weights.unbind(1)]
    w = [
        address(
            state.memory,
            previous[k].unsqueeze(1),
            p.key[:, k : k + 1],
            p.beta[:, k : k + 1],
            p.gate[:, k : k + 1],
            p.shift[:, k : k + 1],
            p.gamma[:, k : k + 1],
        )
        for k in range(4)
    ]
    reads = torch.cat([read(state.memory, w[k]) for k in (0, 1)], dim=1)
    memory = state.memory
    for j, k in enumerate((2, 3)):  # one write head after the other: erasures commute
        memory = write(memory, w[k], p.erase[:, j : j + 1], torch.zeros_like(p.add[:, :1]))
    for j, k in enumerate((2, 3)):
        memory = memory + w[k].transpose(1, 2) @ p.add[:, j : j + 1]
    torch.testing.assert_close(new.read_weights, torch.cat(w[:2], dim=1))
    torch.testing.assert_close(new.write_weights, torch.cat(w[2:], dim=1))
    torch.testing.assert_close(new.memory, memory)
    torch.testing.assert_close(new.reads, reads)
    torch.testing.assert_close(y, torch.cat([h, reads.flatten(1)], -1))


def test_first_weightings_tell_the_slots_of_a_constant_memory_apart() -> None:
    """With a constant memory, content addressing is uniform; the first weightings must not
    be, or every slot would be written alike forever."""
    cell = make_cell("ntm", D, H, **SMALL)
    with torch.no_grad():
        s = cell.initial_state(2)
    assert float(s.write_weights.std(-1).min()) > 1e-3
    assert float(s.read_weights.std(-1).min()) > 1e-3
    assert torch.equal(s.write_weights[0], s.write_weights[1])  # the same for every row


def test_every_head_starts_focused_on_slot_zero() -> None:
    """``initial_focus``: the first weighting of every read and write head is ``focus`` on
    slot 0 and ``(1 - focus) / (N - 1)`` elsewhere; ``None``: random logits, each head
    its own weighting (Collier & Beel)."""
    cell = make_cell("ntm", D, H, read_heads=2, write_heads=2, initial_focus=0.8, **SMALL)
    N = SMALL["memory_slots"]
    expected = torch.full((N,), 0.2 / (N - 1))
    expected[0] = 0.8
    with torch.no_grad():
        s = cell.initial_state(3)
    for weights in (s.read_weights, s.write_weights):
        torch.testing.assert_close(weights, expected.expand(3, 2, N))
    random = make_cell("ntm", D, H, read_heads=2, initial_focus=None, **SMALL)
    with torch.no_grad():
        r = random.initial_state(1).read_weights[0]
    assert float(r[0].max()) < 0.5 and not torch.allclose(r[0], r[1])
    with pytest.raises(ValueError, match="initial_focus must be in"):
        make_cell("ntm", D, H, initial_focus=1.0)


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
    p = cell.head_parameters(torch.randn(4, H))
    assert p.shift.shape == (4, 5, 5) and p.erase.shape == (4, 3, 5) and p.key.shape == (4, 5, 5)
    assert bool((p.gamma >= 1).all()) and bool((p.beta >= 0).all())


def test_memory_starts_at_the_constant_by_default() -> None:
    s = make_cell("ntm", D, H, **SMALL).initial_state(2)
    assert bool((s.memory == 1e-6).all())


def test_clip_bounds_the_head_parameters() -> None:
    cell = make_cell("ntm", D, H, clip=0.5, **SMALL)
    assert isinstance(cell, NTMCell)
    with torch.no_grad():
        cell.heads.weight.fill_(100.0)
    p = cell.head_parameters(torch.ones(2, H))
    softplus_clip = torch.nn.functional.softplus(torch.tensor(0.5))
    torch.testing.assert_close(p.beta, softplus_clip.expand_as(p.beta))
    unclipped = make_cell("ntm", D, H, clip=1e6, **SMALL)
    assert isinstance(unclipped, NTMCell)
    unclipped.load_state_dict(cell.state_dict())
    assert bool((unclipped.head_parameters(torch.ones(2, H)).beta > 100).all())


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="memory_slots must be a positive integer, got 0"):
        make_cell("ntm", D, H, memory_slots=0)
    with pytest.raises(ValueError, match="clip must be positive"):
        make_cell("ntm", D, H, clip=0.0)
    with pytest.raises(ValueError, match="leaves no room"):
        NTMCell(LSTMCell(4, H), memory_width=4)
    with pytest.raises(ValueError, match="has no option 'slots'"):
        make_cell("ntm", D, H, slots=3)
