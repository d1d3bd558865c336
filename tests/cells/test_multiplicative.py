"""Multiplicative and deep-transition cells: each step against its equation written out.

The conformance suite (``test_conformance.py``) covers shapes, loop == unroll, padding,
gradcheck and save/load for the registered names; here every step is checked against the
maths in float64 with random parameters (biases and MI vectors included).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from rnnlab.cells import (
    DeepTransitionCell,
    ElmanCell,
    GRUCell,
    LSTMCell,
    LSTMState,
    MIElmanCell,
    MIGRUCell,
    MILSTMCell,
    MLSTMCell,
    MRNNCell,
    make_cell,
)
from rnnlab.cells.base import Cell
from rnnlab.layers import Recurrent

B, D, H = 4, 3, 5
F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def randomised(cell: Cell) -> Cell:
    """``cell`` in float64 with every parameter redrawn (so zero biases hide nothing)."""
    cell = cell.to(F64)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.7)
    return cell


def sig(t: Tensor) -> Tensor:
    return torch.sigmoid(t)


def x_and_h(d: int = D, h: int = H) -> tuple[Tensor, Tensor, Tensor]:
    return torch.randn(B, d, dtype=F64), torch.randn(B, h, dtype=F64), torch.randn(B, h, dtype=F64)


# ------------------------------------------------------------------------------ mRNN


@pytest.mark.parametrize("factors", [None, 7])
def test_mrnn_step_is_its_equation(factors: int | None) -> None:
    cell = randomised(MRNNCell(D, H, factors=factors))
    assert isinstance(cell, MRNNCell)
    x, h, _ = x_and_h()
    y, state = cell(x, cell.initial_state(B, dtype=F64)._replace(h=h))
    # f_t = diag(W_fx x_t) W_fh h_{t-1};  h_t = tanh(W_hf f_t + W_hx x_t + b)
    f = (x @ cell.weight_fx.T) * (h @ cell.weight_fh.T)
    assert f.shape == (B, factors or H)
    assert cell.bias is not None
    expected = torch.tanh(f @ cell.weight_hf.T + x @ cell.weight_hx.T + cell.bias)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(state.h, expected)


def test_mrnn_transition_depends_on_the_input() -> None:
    """dh_t/dh_{t-1} = diag(1 - h_t^2) W_hf diag(W_fx x_t) W_fh: a different matrix for every
    input (an additive RNN's Jacobian changes with x_t only through the tanh)."""
    cell = randomised(MRNNCell(D, H, bias=False))
    h = torch.randn(1, H, dtype=F64)
    state = cell.initial_state(1, dtype=F64)
    jacobians = []
    for x in torch.randn(2, 1, D, dtype=F64):
        jac = torch.autograd.functional.jacobian(lambda s, x=x: cell(x, state._replace(h=s))[0], h)
        h_t = cell(x, state._replace(h=h))[0]
        gain = torch.diag((x @ cell.weight_fx.T)[0])
        expected = torch.diag(1 - h_t[0] ** 2) @ cell.weight_hf @ gain @ cell.weight_fh
        torch.testing.assert_close(jac[0, :, 0, :], expected)
        jacobians.append(expected)
    assert not torch.allclose(jacobians[0], jacobians[1])


# ------------------------------------------------------------------------------ mLSTM


def test_mlstm_step_is_its_equation() -> None:
    cell = randomised(MLSTMCell(D, H))
    assert isinstance(cell, MLSTMCell) and cell.bias is not None
    x, h, c = x_and_h()
    y, state = cell(x, LSTMState(h, c))
    # m_t = (W_mx x_t) * (W_mh h_{t-1});  gates = W_x x_t + W_m m_t + b
    m = (x @ cell.weight_mx.T) * (h @ cell.weight_mh.T)
    gates = x @ cell.weight_gx.T + m @ cell.weight_gm.T + cell.bias
    i, f, g, o = gates.split(H, dim=-1)
    c_new = sig(f) * c + sig(i) * torch.tanh(g)
    h_new = sig(o) * torch.tanh(c_new)
    assert isinstance(state, LSTMState)
    torch.testing.assert_close(state.c, c_new)
    torch.testing.assert_close(state.h, h_new)
    torch.testing.assert_close(y, h_new)


def test_mlstm_forget_bias() -> None:
    cell = MLSTMCell(D, H, forget_bias=2.5)
    assert cell.bias is not None
    assert torch.equal(cell.bias[H : 2 * H], torch.full((H,), 2.5))
    assert torch.equal(cell.bias[:H], torch.zeros(H))


# --------------------------------------------------------------- multiplicative integration


def mi(cell: MIElmanCell | MILSTMCell | MIGRUCell, wx: Tensor, uh: Tensor, gate: slice) -> Tensor:
    """alpha * Wx * Uh + beta1 * Uh + beta2 * Wx for the units of ``gate``."""
    a, b1, b2 = cell.alpha[gate], cell.beta1[gate], cell.beta2[gate]
    return a * wx * uh + b1 * uh + b2 * wx


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_mi_elman_step_is_its_equation(nonlinearity: str) -> None:
    cell = randomised(MIElmanCell(D, H, nonlinearity=nonlinearity))
    assert isinstance(cell, MIElmanCell) and cell.bias_ih is not None and cell.bias_hh is not None
    x, h, _ = x_and_h()
    y, state = cell(x, cell.initial_state(B, dtype=F64)._replace(h=h))
    wx, uh = x @ cell.weight_ih.T, h @ cell.weight_hh.T
    pre = mi(cell, wx, uh, slice(None)) + cell.bias_ih + cell.bias_hh
    expected = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(state.h, expected)


def test_mi_lstm_step_is_its_equation() -> None:
    cell = randomised(MILSTMCell(D, H))
    assert isinstance(cell, MILSTMCell) and cell.bias_ih is not None and cell.bias_hh is not None
    x, h, c = x_and_h()
    y, state = cell(x, LSTMState(h, c))
    wx, uh = x @ cell.weight_ih.T, h @ cell.weight_hh.T
    gates = mi(cell, wx, uh, slice(None)) + cell.bias_ih + cell.bias_hh
    i, f, g, o = gates.split(H, dim=-1)
    c_new = sig(f) * c + sig(i) * torch.tanh(g)
    h_new = sig(o) * torch.tanh(c_new)
    torch.testing.assert_close(state.c, c_new)
    torch.testing.assert_close(state.h, h_new)
    torch.testing.assert_close(y, h_new)


def test_mi_gru_step_is_its_equation() -> None:
    cell = randomised(MIGRUCell(D, H))
    assert isinstance(cell, MIGRUCell) and cell.bias_ih is not None and cell.bias_hh is not None
    x, h, _ = x_and_h()
    y, state = cell(x, cell.initial_state(B, dtype=F64)._replace(h=h))
    wx, uh = x @ cell.weight_ih.T, h @ cell.weight_hh.T
    b_i, b_h = cell.bias_ih, cell.bias_hh
    R, Z, N = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    r = sig(mi(cell, wx[:, R], uh[:, R], R) + b_i[R] + b_h[R])
    z = sig(mi(cell, wx[:, Z], uh[:, Z], Z) + b_i[Z] + b_h[Z])
    n = torch.tanh(mi(cell, wx[:, N], r * (uh[:, N] + b_h[N]), N) + b_i[N])
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(state.h, expected)


PLAIN_AND_MI = {
    "elman": (lambda: ElmanCell(D, H), lambda: MIElmanCell(D, H)),
    "lstm": (lambda: LSTMCell(D, H), lambda: MILSTMCell(D, H)),
    "gru": (lambda: GRUCell(D, H), lambda: MIGRUCell(D, H)),
}


@pytest.mark.parametrize("kind", list(PLAIN_AND_MI))
@pytest.mark.parametrize("bias", [True, False])
def test_mi_with_alpha_0_beta_1_is_the_plain_cell(kind: str, bias: bool) -> None:
    """alpha = 0, beta1 = beta2 = 1 gives back W x + U h + b: compare whole unrolls with
    the plain cell's fused kernel and its step loop, outputs and final states."""
    make_plain, make_mi = PLAIN_AND_MI[kind]
    plain = randomised(make_plain())
    mi_cell = make_mi().to(F64)
    if not bias:
        plain = randomised(type(plain)(D, H, bias=False))
        mi_cell = type(mi_cell)(D, H, bias=False).to(F64)
    missing, unexpected = mi_cell.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["alpha", "beta1", "beta2"] and not unexpected
    with torch.no_grad():
        mi_cell.alpha.zero_()
        mi_cell.beta1.fill_(1.0)
        mi_cell.beta2.fill_(1.0)
    x = torch.randn(B, 6, D, dtype=F64)
    y_mi, s_mi = Recurrent(mi_cell)(x)
    for fast in (False, True):
        y, s = Recurrent(plain, fast=fast)(x)
        torch.testing.assert_close(y_mi, y)
        for a, e in zip(s_mi, s, strict=True):
            torch.testing.assert_close(a, e)


def test_mi_vectors_start_at_one_and_are_per_gate() -> None:
    for cell, gates in ((MIElmanCell(D, H), 1), (MILSTMCell(D, H), 4), (MIGRUCell(D, H), 3)):
        for p in (cell.alpha, cell.beta1, cell.beta2):
            assert torch.equal(p, torch.ones(gates * H))
        assert cell.fused_mode is None


# ---------------------------------------------------------------------- deep transition


def test_deep_transition_step_is_its_equation() -> None:
    cell = randomised(DeepTransitionCell(D, H, layers=3, transition_size=7))
    assert isinstance(cell, DeepTransitionCell) and cell.bias is not None
    assert cell.weight_ih.shape == (7, D) and cell.weight_hh.shape == (7, H)
    x, h, _ = x_and_h()
    y, state = cell(x, cell.initial_state(B, dtype=F64)._replace(h=h))
    # z_1 = tanh(W x + U h + b_1);  z_l = tanh(V_l z_{l-1} + b_l);  h_t = z_L
    z = torch.tanh(x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias)
    v2, v3 = cell.transition[0], cell.transition[1]
    z = torch.tanh(z @ v2.weight.T + v2.bias)
    assert z.shape == (B, 7)
    z = torch.tanh(z @ v3.weight.T + v3.bias)
    torch.testing.assert_close(y, z)
    torch.testing.assert_close(state.h, z)


def test_deep_transition_of_one_layer_is_elman() -> None:
    elman = randomised(ElmanCell(D, H))
    assert isinstance(elman, ElmanCell) and elman.bias_ih is not None
    deep = DeepTransitionCell(D, H, layers=1).to(F64)
    assert len(deep.transition) == 0 and deep.bias is not None
    with torch.no_grad():
        deep.weight_ih.copy_(elman.weight_ih)
        deep.weight_hh.copy_(elman.weight_hh)
        deep.bias.copy_(elman.bias_ih + elman.bias_hh)
    x = torch.randn(B, 6, D, dtype=F64)
    torch.testing.assert_close(Recurrent(deep)(x)[0], Recurrent(elman)(x)[0])


# ------------------------------------------------------------------------- registry, errors

NAMES = ["mrnn", "mlstm", "mi_elman", "mi_lstm", "mi_gru", "dt_elman"]


@pytest.mark.parametrize("name", NAMES)
def test_never_dispatched_to_the_fused_kernel(name: str) -> None:
    layer = Recurrent(make_cell(name, D, H), fast=True)
    assert not layer.uses_fused_kernel


def test_registered_builders() -> None:
    assert isinstance(make_cell("mrnn", D, H), MRNNCell)
    assert isinstance(make_cell("mlstm", D, H), MLSTMCell)
    assert type(make_cell("mi_elman", D, H)) is MIElmanCell
    assert type(make_cell("mi_lstm", D, H)) is MILSTMCell
    assert type(make_cell("mi_gru", D, H)) is MIGRUCell
    deep = make_cell("dt_elman", D, H)
    assert isinstance(deep, DeepTransitionCell) and deep.layers == 2


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: MRNNCell(D, H, factors=0), "factors"),
        (lambda: DeepTransitionCell(D, H, layers=0), "layers"),
        (lambda: DeepTransitionCell(D, H, transition_size=-2), "transition_size"),
        (lambda: MLSTMCell(0, H), "input_size"),
    ],
)
def test_bad_sizes_give_one_line_value_errors(make: Callable[[], object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        make()
    assert "\n" not in str(info.value)
