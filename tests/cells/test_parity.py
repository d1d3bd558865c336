"""Parity with ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` after copying weights, in float32.

Both unrolls are checked: the step loop (``fast=False``) and the fused fast path
(``fast=True``), outputs and gradients wrt the input, the initial state and every parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.cells import ElmanCell, GRUCell, LSTMCell, make_cell
from rnnlab.cells.fused_layout import FusedLayoutCell
from rnnlab.layers import Recurrent

B, T, D, H = 4, 7, 3, 8
LENGTHS = [5, 7, 1, 3]  # unsorted: packing must restore the order
OUT_TOL = {"rtol": 1e-5, "atol": 1e-6}
GRAD_TOL = {"rtol": 1e-4, "atol": 1e-5}

CellFactory = Callable[[bool], FusedLayoutCell]  # bias -> cell
TorchFactory = Callable[[bool], nn.RNNBase]  # bias -> torch module

KINDS: dict[str, tuple[CellFactory, TorchFactory]] = {
    "lstm": (
        lambda bias: LSTMCell(D, H, bias=bias),
        lambda bias: nn.LSTM(D, H, bias=bias, batch_first=True),
    ),
    "gru": (
        lambda bias: GRUCell(D, H, bias=bias),
        lambda bias: nn.GRU(D, H, bias=bias, batch_first=True),
    ),
    "rnn_tanh": (
        lambda bias: ElmanCell(D, H, nonlinearity="tanh", bias=bias),
        lambda bias: nn.RNN(D, H, nonlinearity="tanh", bias=bias, batch_first=True),
    ),
    "rnn_relu": (
        lambda bias: ElmanCell(D, H, nonlinearity="relu", bias=bias),
        lambda bias: nn.RNN(D, H, nonlinearity="relu", bias=bias, batch_first=True),
    ),
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def make_pair(kind: str, bias: bool = True) -> tuple[FusedLayoutCell, nn.RNNBase]:
    """An rnnlab cell with random biases and a torch module holding copies of its weights."""
    make_ours, make_theirs = KINDS[kind]
    cell = make_ours(bias)
    with torch.no_grad():
        for p in cell.parameters():  # the LSTM's zero biases would hide bias mistakes
            p.uniform_(-0.5, 0.5)
    theirs = make_theirs(bias)
    weights = {k: v.detach().clone() for k, v in cell.fused_weights().items()}
    missing, unexpected = theirs.load_state_dict(weights, strict=True)
    assert not missing and not unexpected
    return cell, theirs


def initial(kind: str) -> tuple[Tensor, Tensor | None]:
    h0 = (0.5 * torch.randn(B, H)).requires_grad_(True)
    c0 = (0.5 * torch.randn(B, H)).requires_grad_(True) if kind == "lstm" else None
    return h0, c0


def grads(loss: Tensor, tensors: list[Tensor]) -> list[Tensor]:
    return list(torch.autograd.grad(loss, tensors))


def given_state(cell: FusedLayoutCell, h0: Tensor, c0: Tensor | None) -> Any:
    state = cell.initial_state(h0.shape[0])._replace(h=h0)
    return state if c0 is None else state._replace(c=c0)


def run_ours(
    layer: Recurrent, x: Tensor, h0: Tensor | None, c0: Tensor | None, lengths: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    state = None if h0 is None else given_state(layer.cell, h0, c0)  # type: ignore[arg-type]
    y, final = layer(x, state, lengths)
    return y, final.h, getattr(final, "c", None)


def run_theirs(
    module: nn.RNNBase, x: Tensor, h0: Tensor | None, c0: Tensor | None, lengths: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    hx: Tensor | tuple[Tensor, Tensor] | None = None
    if h0 is not None:
        hx = (h0.unsqueeze(0), c0.unsqueeze(0)) if c0 is not None else h0.unsqueeze(0)
    inp: Tensor | nn.utils.rnn.PackedSequence = x
    if lengths is not None:
        inp = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hn = module(inp, hx)
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    if isinstance(hn, tuple):
        return out, hn[0].squeeze(0), hn[1].squeeze(0)
    return out, hn.squeeze(0), None


def loss_of(y: Tensor, h: Tensor, c: Tensor | None, w: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """A loss with random weights, so every output element gets its own gradient."""
    loss = (y * w[0]).sum() + (h * w[1]).sum()
    if c is not None:
        loss = loss + (c * w[2]).sum()
    return loss


def loss_weights() -> tuple[Tensor, Tensor, Tensor]:
    return torch.randn(B, T, H), torch.randn(B, H), torch.randn(B, H)


def torch_param_of(cell_name: str) -> str:
    return cell_name + "_l0"


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("fast", [False, True], ids=["loop", "fast"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "lengths"])
def test_matches_torch(kind: str, fast: bool, with_state: bool, ragged: bool) -> None:
    cell, theirs = make_pair(kind)
    layer = Recurrent(cell, fast=fast)
    assert layer.uses_fused_kernel == fast
    x = torch.randn(B, T, D, requires_grad=True)
    h0, c0 = initial(kind) if with_state else (None, None)
    lengths = torch.tensor(LENGTHS) if ragged else None
    w = loss_weights()

    ours = run_ours(layer, x, h0, c0, lengths)
    ref = run_theirs(theirs, x, h0, c0, lengths)
    for a, e in zip(ours, ref, strict=True):
        if e is not None:
            torch.testing.assert_close(a, e, **OUT_TOL)

    our_params = dict(cell.named_parameters())
    their_params = dict(theirs.named_parameters())
    assert {torch_param_of(n) for n in our_params} == set(their_params)
    names = sorted(our_params)
    extra = [t for t in (h0, c0) if t is not None]
    g_ours = grads(loss_of(*ours, w), [x, *extra, *(our_params[n] for n in names)])
    g_ref = grads(loss_of(*ref, w), [x, *extra, *(their_params[torch_param_of(n)] for n in names)])
    labels = ["x", *(["h0", "c0"][: len(extra)]), *names]
    for label, a, e in zip(labels, g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, e, **GRAD_TOL, msg=lambda m, label=label: f"{label}: {m}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_fast_path_matches_loop_with_lengths(kind: str) -> None:
    """The packed fused path and the masked step loop agree on the same cell."""
    cell, _ = make_pair(kind)
    loop, fast = Recurrent(cell, fast=False), Recurrent(cell, fast=True)
    x = torch.randn(B, T, D, requires_grad=True)
    h0, c0 = initial(kind)
    lengths = torch.tensor(LENGTHS)
    w = loss_weights()
    inputs = [x, *(t for t in (h0, c0) if t is not None), *cell.parameters()]
    out_loop = run_ours(loop, x, h0, c0, lengths)
    out_fast = run_ours(fast, x, h0, c0, lengths)
    for a, e in zip(out_fast, out_loop, strict=True):
        if e is not None:
            torch.testing.assert_close(a, e, **OUT_TOL)
    # padded outputs are exactly zero in both
    pad = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)
    assert not out_loop[0][pad].any() and not out_fast[0][pad].any()
    for a, e in zip(
        grads(loss_of(*out_fast, w), inputs), grads(loss_of(*out_loop, w), inputs), strict=True
    ):
        torch.testing.assert_close(a, e, **GRAD_TOL)


@pytest.mark.parametrize(
    ("kind", "torch_cell"),
    [
        ("lstm", lambda: nn.LSTMCell(D, H)),
        ("gru", lambda: nn.GRUCell(D, H)),
        ("rnn_tanh", lambda: nn.RNNCell(D, H, nonlinearity="tanh")),
        ("rnn_relu", lambda: nn.RNNCell(D, H, nonlinearity="relu")),
    ],
)
def test_one_step_matches_torch_cell(kind: str, torch_cell: Callable[[], nn.RNNCellBase]) -> None:
    cell, _ = make_pair(kind)
    theirs = torch_cell()
    theirs.load_state_dict({k: v.detach().clone() for k, v in cell.state_dict().items()})
    x = torch.randn(B, D)
    h0, c0 = initial(kind)
    y, state = cell(x, given_state(cell, h0, c0))
    if c0 is not None:
        h_ref, c_ref = theirs(x, (h0, c0))
        torch.testing.assert_close(state.c, c_ref, **OUT_TOL)
    else:
        h_ref = theirs(x, h0)
    torch.testing.assert_close(y, h_ref, **OUT_TOL)
    torch.testing.assert_close(state.h, h_ref, **OUT_TOL)


def test_gru_applies_reset_after_the_recurrent_matmul() -> None:
    r"""``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` as in torch.nn.GRU, not Cho et al.'s
    ``tanh(W_in x + b_in + W_hn (r * h) + b_hn)``."""
    cell, _ = make_pair("gru")
    theirs = nn.GRUCell(D, H)
    theirs.load_state_dict({k: v.detach().clone() for k, v in cell.state_dict().items()})
    x, h = torch.randn(B, D), torch.randn(B, H)
    y, _ = cell(x, cell.initial_state(B)._replace(h=h))
    torch.testing.assert_close(y, theirs(x, h), **OUT_TOL)

    # the two variants written out from the equations
    W_ir, W_iz, W_in = cell.weight_ih.chunk(3)
    W_hr, W_hz, W_hn = cell.weight_hh.chunk(3)
    assert cell.bias_ih is not None and cell.bias_hh is not None
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n_after = torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    n_before = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    torch.testing.assert_close(y, (1 - z) * n_after + z * h, **OUT_TOL)
    assert not torch.allclose(y, (1 - z) * n_before + z * h, atol=1e-3)


def test_lstm_forget_gate_bias_initialisation() -> None:
    cell = LSTMCell(D, H)
    assert cell.bias_ih is not None and cell.bias_hh is not None
    i, f, g, o = cell.bias_ih.detach().chunk(4)
    assert torch.equal(f, torch.ones(H))
    for rest in (i, g, o, cell.bias_hh.detach()):
        assert not rest.any()
    # sigma(1) of the forget gate keeps ~73% of the cell state at a zero input
    assert math.isclose(torch.sigmoid(f[0]).item(), 1 / (1 + math.exp(-1)), rel_tol=1e-6)
    bound = 1 / math.sqrt(H)
    for w in (cell.weight_ih, cell.weight_hh):
        assert w.abs().max() <= bound and w.std() > 0

    custom = LSTMCell(D, H, forget_bias=2.5)
    assert custom.bias_ih is not None
    assert torch.equal(custom.bias_ih.detach()[H : 2 * H], torch.full((H,), 2.5))
    # the registry's "lstm" is the same default
    registered = make_cell("lstm", D, H)
    assert isinstance(registered, LSTMCell) and registered.bias_ih is not None
    assert torch.equal(registered.bias_ih.detach()[H : 2 * H], torch.ones(H))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("fast", [False, True], ids=["loop", "fast"])
def test_no_bias_matches_torch(kind: str, fast: bool) -> None:
    cell, theirs = make_pair(kind, bias=False)
    assert set(cell.fused_weights()) == {"weight_ih_l0", "weight_hh_l0"}
    x = torch.randn(B, T, D)
    y, _, _ = run_ours(Recurrent(cell, fast=fast), x, None, None, None)
    y_ref, _, _ = run_theirs(theirs, x, None, None, None)
    torch.testing.assert_close(y, y_ref, **OUT_TOL)
