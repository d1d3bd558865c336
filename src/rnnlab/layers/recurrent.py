"""Unrolling a cell over time (backpropagation through time), with a fused fast path."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.cells.base import Cell, State, where_state
from rnnlab.cells.elman import ElmanCell
from rnnlab.cells.gru import GRUCell
from rnnlab.cells.lstm import LSTMCell
from rnnlab.layers.base import SequenceLayer, check_sequence_input, step_mask

# Cell classes whose step is exactly PyTorch's fused kernel (subclasses may add options
# that are not, so the check is on the exact type).
_FUSED_CELLS: tuple[type[Cell], ...] = (ElmanCell, LSTMCell, GRUCell)


class Recurrent(SequenceLayer):
    r"""Unroll any cell over a batch-first sequence: BPTT through the unfolded graph.

    .. math:: (y_t, s_t) = F_\theta(x_t, s_{t-1}), \quad t = 1..T

    The input-only part of every step (``cell.project_input``, e.g. ``W x_t + b``) runs as
    one matmul over all steps; the loop then iterates with ``unbind(1)`` over the time axis.

    When ``fast=True`` and the cell is a plain :class:`~rnnlab.cells.ElmanCell`,
    :class:`~rnnlab.cells.LSTMCell` or :class:`~rnnlab.cells.GRUCell`, the unroll runs
    PyTorch's fused kernel (oneDNN on CPU, cuDNN on GPU) with the cell's own parameters;
    variable lengths go through packed sequences. Outputs and gradients equal the step
    loop's up to float rounding.

    Args:
        cell: any :class:`~rnnlab.cells.Cell`.
        fast: allow the fused kernel when the cell has one.

    Shapes: ``x (B, T, D)``, optional ``lengths (B,)`` in ``[1, T]`` ->
    ``y (B, T, output_size)`` (zero on padded steps) and the state after each row's last
    real step.

    Example::

        layer = Recurrent(LSTMCell(3, 32))
        y, state = layer(torch.randn(8, 50, 3))
    """

    def __init__(self, cell: Cell, fast: bool = True) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"Recurrent needs an rnnlab Cell, got {type(cell).__name__}")
        self.cell = cell
        self.fast = fast
        self.input_size = cell.input_size
        self.output_size = cell.output_size
        # The fused module is a parameter-free template (on the meta device) that
        # functional_call fills with the cell's own tensors; kept out of the module tree.
        self._template: list[nn.RNNBase] = []

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> State:
        return self.cell.initial_state(batch, device=device, dtype=dtype)

    @property
    def uses_fused_kernel(self) -> bool:
        return self.fast and type(self.cell) in _FUSED_CELLS

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        check_sequence_input(x, self.input_size, lengths)
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        if self.uses_fused_kernel:
            return self._fused(x, state, lengths)
        y, final, _ = self._loop(x, state, lengths, keep_states=False)
        return y, final

    def trajectory(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State, list[State]]:
        """Like :meth:`forward`, also returning the state after every step (for diagnostics).

        Always runs the step loop, so each returned state is a node of the graph and
        ``torch.autograd.grad(loss, states[t].h)`` gives ``dL/dh_t``.
        """
        check_sequence_input(x, self.input_size, lengths)
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        return self._loop(x, state, lengths, keep_states=True)

    def _loop(
        self, x: Tensor, state: State, lengths: Tensor | None, keep_states: bool
    ) -> tuple[Tensor, State, list[State]]:
        cell = self.cell
        mask = step_mask(lengths, x.shape[1], x.device)
        if mask is not None:
            # padding may hold anything (NaN, inf): keep it out of the graph, else it leaks
            # into padded outputs and, through 0 * NaN in backward, into every gradient
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        projected = cell.project_input(x)  # (B, T, P): one matmul for every step
        outputs: list[Tensor] = []
        states: list[State] = []
        with cell.unrolling():
            if mask is None:
                for p_t in projected.unbind(1):
                    y_t, state = cell.step(p_t, state)
                    outputs.append(y_t)
                    if keep_states:
                        states.append(state)
            else:
                for p_t, m_t in zip(projected.unbind(1), mask.unbind(1), strict=True):
                    y_t, new = cell.step(p_t, state)
                    # padded steps keep the state and emit zeros
                    state = where_state(m_t, new, state)
                    outputs.append(y_t.masked_fill(~m_t.unsqueeze(1), 0.0))
                    if keep_states:
                        states.append(state)
        return torch.stack(outputs, dim=1), state, states

    def _fused_module(self) -> nn.RNNBase:
        if not self._template:
            cell = self.cell
            bias = getattr(cell, "bias_ih", None) is not None
            kw: dict[str, Any] = dict(batch_first=True, bias=bias, device="meta")
            mode = cell.fused_mode
            module: nn.RNNBase
            if mode == "LSTM":
                module = nn.LSTM(cell.input_size, cell.hidden_size, **kw)
            elif mode == "GRU":
                module = nn.GRU(cell.input_size, cell.hidden_size, **kw)
            else:
                nl = "tanh" if mode == "RNN_TANH" else "relu"
                module = nn.RNN(cell.input_size, cell.hidden_size, nonlinearity=nl, **kw)
            self._template.append(module)
        return self._template[0]

    def _fused(self, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        module = self._fused_module()
        weights = self.cell.fused_weights()  # type: ignore[operator]
        is_lstm = self.cell.fused_mode == "LSTM"
        hx: Any = (state.h.unsqueeze(0), state.c.unsqueeze(0)) if is_lstm else state.h.unsqueeze(0)
        full = lengths is None or bool((lengths == x.shape[1]).all())
        if full:
            y, hn = functional_call(module, weights, (x, hx))
        else:
            assert lengths is not None
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, hn = functional_call(module, weights, (packed, hx))
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        if is_lstm:
            return y, type(state)(hn[0].squeeze(0), hn[1].squeeze(0))
        return y, type(state)(hn.squeeze(0))
