"""Base of the cells that have a PyTorch fused kernel (Elman, LSTM, GRU), and their
fused :meth:`~rnnlab.cells.Cell.scan`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.cells.base import Cell, State


class FusedLayoutCell(Cell):
    """A cell whose parameters are laid out as in ``torch.nn.RNN/LSTM/GRU``.

    ``weight_ih (G*H, D)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)``, ``bias_hh (G*H,)``
    with ``G`` gates, named as PyTorch's layer 0 without the ``_l0`` suffix, so the fused
    kernels run with these very tensors.

    :meth:`scan` runs the fused kernel of ``fused_mode`` (oneDNN on CPU, cuDNN on GPU)
    when :attr:`uses_fused_kernel` is true, and the step loop otherwise.
    ``uses_fused_kernel`` is true only for an instance of exactly
    :class:`~rnnlab.cells.ElmanCell`, :class:`~rnnlab.cells.LSTMCell` or
    :class:`~rnnlab.cells.GRUCell` (each checks its own exact type): a subclass may change
    the step (multiplicative integration does), and then the kernel would compute
    something else. A subclass that keeps the step exactly may override it.
    """

    weight_ih: nn.Parameter
    weight_hh: nn.Parameter
    bias_ih: nn.Parameter | None
    bias_hh: nn.Parameter | None

    def __init__(self) -> None:
        super().__init__()
        # the fused module: a parameter-free template (on the meta device) that
        # functional_call fills with this cell's tensors; in a list to stay out of the
        # module tree (built on the first fused scan)
        self._fused_template: list[nn.RNNBase] = []

    def _make_params(self, input_size: int, hidden_size: int, gates: int, bias: bool) -> None:
        g = gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(g))
            self.bias_hh = nn.Parameter(torch.empty(g))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        # PyTorch's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters(recurse=False):
            nn.init.uniform_(p, -bound, bound)

    def fused_weights(self) -> dict[str, Tensor]:
        """The parameters under ``torch.nn.RNNBase`` names for layer 0."""
        w: dict[str, Tensor] = {"weight_ih_l0": self.weight_ih, "weight_hh_l0": self.weight_hh}
        if self.bias_ih is not None and self.bias_hh is not None:
            w["bias_ih_l0"] = self.bias_ih
            w["bias_hh_l0"] = self.bias_hh
        return w

    def _input_bias(self) -> Tensor | None:
        """The bias added in :meth:`project_input`, ``b_ih + b_hh`` (the GRU keeps ``b_hh``
        in its step)."""
        if self.bias_ih is None or self.bias_hh is None:
            return None
        return self.bias_ih + self.bias_hh

    def project_input(self, x: Tensor) -> Tensor:
        # W_ih x + b for every step at once: (..., D) -> (..., G*H)
        return nn.functional.linear(x, self.weight_ih, self._input_bias())

    def affine_input(self) -> tuple[Tensor, Tensor | None] | None:
        return self.weight_ih, self._input_bias()

    def scan(self, x: Tensor, state: State, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """The fused kernel when :attr:`uses_fused_kernel`, else the step loop; variable
        lengths run as a packed sequence (padded steps never enter the kernel)."""
        if not self.uses_fused_kernel:
            return super().scan(x, state, lengths)
        module = self._fused_module()
        is_lstm = self.fused_mode == "LSTM"
        hx: Any = (state.h.unsqueeze(0), state.c.unsqueeze(0)) if is_lstm else state.h.unsqueeze(0)
        weights = self.fused_weights()
        if lengths is None or bool((lengths == x.shape[1]).all()):
            y, hn = functional_call(module, weights, (x, hx))  # (B, T, H)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, hn = functional_call(module, weights, (packed, hx))
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        if is_lstm:
            return y, type(state)(hn[0].squeeze(0), hn[1].squeeze(0))
        return y, type(state)(hn.squeeze(0))

    def _fused_module(self) -> nn.RNNBase:
        """``torch.nn.RNN/LSTM/GRU`` of this cell's sizes and ``fused_mode``, on ``meta``."""
        if not self._fused_template:
            bias = self.bias_ih is not None
            kw: dict[str, Any] = dict(batch_first=True, bias=bias, device="meta")
            D, H, mode = self.input_size, self.hidden_size, self.fused_mode
            module: nn.RNNBase
            if mode == "LSTM":
                module = nn.LSTM(D, H, **kw)
            elif mode == "GRU":
                module = nn.GRU(D, H, **kw)
            elif mode in ("RNN_TANH", "RNN_RELU"):
                nl = "tanh" if mode == "RNN_TANH" else "relu"
                module = nn.RNN(D, H, nonlinearity=nl, **kw)
            else:
                raise ValueError(f"{type(self).__name__} has no fused kernel (mode {mode!r})")
            self._fused_template.append(module)
        return self._fused_template[0]

    def _recurrent(self, p_t: Tensor, h: Tensor) -> Tensor:
        # p_t + W_hh h_{t-1}, with p_t from project_input: (B, G*H)
        return torch.addmm(p_t, h, self.weight_hh.t())


_STACK_TEMPLATES: dict[tuple[str, int, int, int, bool], nn.RNNBase] = {}


def can_fuse_stack(cells: Sequence[Cell]) -> bool:
    """Whether ``cells`` (bottom first) can run as one multi-layer fused kernel: every cell
    runs its fused kernel, all of one mode, width and bias, each reading the one below."""
    first = cells[0]
    if not all(isinstance(c, FusedLayoutCell) and c.uses_fused_kernel for c in cells):
        return False
    same = all(
        c.fused_mode == first.fused_mode
        and c.hidden_size == first.hidden_size
        and (c.bias_ih is None) == (first.bias_ih is None)
        for c in cells
    )
    return same and all(c.input_size == first.hidden_size for c in cells[1:])


def fused_stack_scan(
    cells: Sequence[FusedLayoutCell], x: Tensor, states: Sequence[State], lengths: Tensor | None
) -> tuple[Tensor, list[State]]:
    """Layers of fused cells run as one ``torch.nn.LSTM/GRU/RNN(num_layers=L)`` call, with
    the cells' own parameters (layer ``k``'s under the ``_lk`` names); equal to running the
    layers one after another, in one kernel call instead of ``L``. Returns the top layer's
    outputs and each layer's final state."""
    first = cells[0]
    L, mode, bias = len(cells), first.fused_mode, first.bias_ih is not None
    assert mode is not None
    key = (mode, first.input_size, first.hidden_size, L, bias)
    if key not in _STACK_TEMPLATES:
        kw: dict[str, Any] = dict(num_layers=L, batch_first=True, bias=bias, device="meta")
        D, H = first.input_size, first.hidden_size
        if mode == "LSTM":
            _STACK_TEMPLATES[key] = nn.LSTM(D, H, **kw)
        elif mode == "GRU":
            _STACK_TEMPLATES[key] = nn.GRU(D, H, **kw)
        else:
            nl = "tanh" if mode == "RNN_TANH" else "relu"
            _STACK_TEMPLATES[key] = nn.RNN(D, H, nonlinearity=nl, **kw)
    weights = {
        name[: -len("0")] + str(k): tensor
        for k, cell in enumerate(cells)
        for name, tensor in cell.fused_weights().items()
    }
    is_lstm = mode == "LSTM"
    h0 = torch.stack([s.h for s in states])  # (L, B, H)
    hx: Any = (h0, torch.stack([s.c for s in states])) if is_lstm else h0
    module = _STACK_TEMPLATES[key]
    if lengths is None or bool((lengths == x.shape[1]).all()):
        y, hn = functional_call(module, weights, (x, hx))
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, hn = functional_call(module, weights, (packed, hx))
        y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    if is_lstm:
        return y, [type(s)(hn[0][k], hn[1][k]) for k, s in enumerate(states)]
    return y, [type(s)(hn[k]) for k, s in enumerate(states)]
