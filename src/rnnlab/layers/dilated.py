"""Dilated recurrent layers (Chang et al. 2017): layer l connects h_t to h_{t - d_l}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, State, map_state, step_mask, where_state
from rnnlab.cells.registry import make_cell
from rnnlab.layers.base import SequenceLayer, check_sequence_input
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stacked import Stacked


class DilatedState(NamedTuple):
    # the cell's state with every leaf shaped (B, d, ...): chains[:, j] is the state after
    # step L - d + j of a sequence of L real steps, i.e. the last d states in time order
    # (chains[:, -1] is the state after the last real step); entries before the start of
    # the sequence are those of the initial state
    chains: Any


def _fold(state: State, batch: int, dilation: int) -> State:
    """Leaves ``(B, d, ...)`` -> ``(B*d, ...)``, row ``b*d + j`` holding ``[b, j]``."""
    return map_state(lambda t: t.reshape(batch * dilation, *t.shape[2:]), state)


def _unfold(state: State, batch: int, dilation: int) -> State:
    return map_state(lambda t: t.reshape(batch, dilation, *t.shape[1:]), state)


def _chain(chains: State, j: int) -> State:
    """Chain ``j`` of every ``(B, d, ...)`` leaf: ``(B, ...)``."""
    return map_state(lambda t: t[:, j], chains)


def _stack_states(states: list[State]) -> State:
    """Stack the leaves of ``d`` states of one structure along a new axis 1:
    ``(B, ...)`` -> ``(B, d, ...)``."""
    first = states[0]
    if isinstance(first, Tensor):
        return torch.stack(states, dim=1)
    fields = [_stack_states([s[i] for s in states]) for i in range(len(first))]
    return type(first)(*fields) if hasattr(first, "_fields") else type(first)(fields)


def _roll_chains(state: State, shift: Tensor) -> State:
    """Per row ``b``, ``new[:, j] = old[:, (j + shift[b]) mod d]`` for every ``(B, d, ...)``
    leaf."""

    def roll(t: Tensor) -> Tensor:
        d = t.shape[1]
        idx = (torch.arange(d, device=t.device).unsqueeze(0) + shift.unsqueeze(1)) % d  # (B, d)
        idx = idx.view(*idx.shape, *([1] * (t.dim() - 2))).expand_as(t)
        return t.gather(1, idx)

    return map_state(roll, state)


class Dilated(SequenceLayer):
    r"""One dilated recurrent layer: the cell's recurrence skips ``d - 1`` steps,

    .. math:: (y_t, s_t) = F_\theta(x_t, s_{t-d}),

    so the sequence splits into ``d`` interleaved chains (steps :math:`t \equiv j \bmod d`
    for :math:`j = 0..d-1`) that share the weights and never exchange information within
    this layer (Chang et al. 2017, "Dilated Recurrent Neural Networks"). A stack whose
    dilations grow as 1, 2, 4, ... (:func:`build_dilated`) mixes them again and gives paths
    of :math:`O(T / d)` transitions from any step to the top.

    The chains run as one unroll over a folded batch: ``x (B, T, D)`` is padded to
    :math:`T' = d \lceil T/d \rceil` steps and reshaped to ``(B*d, T'/d, D)``, so a step
    of the unroll advances all ``B*d`` chains at once (and plain LSTM/GRU/Elman cells use
    PyTorch's fused kernels). Ragged ``lengths`` become per-chain lengths; a chain with no
    real step (``lengths[b] <= j``) keeps its initial state and emits nothing.

    Args:
        cell: any :class:`~rnnlab.cells.Cell`.
        dilation: d, the recurrent skip (1 is a plain :class:`Recurrent`).
        fast: allow PyTorch's fused kernels (see :class:`Recurrent`).

    Shapes: ``x (B, T, D)``, optional ``lengths (B,)`` -> ``y (B, T, output_size)`` (zero on
    padded steps) and ``DilatedState(chains)``, every leaf of ``chains`` shaped
    ``(B, d, ...)``: ``chains[:, j]`` is the state after step ``L - d + j`` of a row of
    ``L`` real steps, the state that step ``L + j`` reads. Passing it back in continues the
    sequence exactly (chunked unrolls, truncated BPTT); ``initial_state`` gives ``d``
    copies of the cell's initial state.

    Example::

        layer = Dilated(GRUCell(3, 32), dilation=4)
        y, state = layer(torch.randn(8, 50, 3))

    Notes:
        Chang et al. also pad with zeros to a multiple of ``d`` and fold the time axis
        into the batch; their output at the top layer feeds the head of every step. The
        paper's recurrent skip of one layer is exactly this layer; the "exponentially
        increasing dilation" and the dilation base ``M = 2`` are :func:`build_dilated`'s
        defaults.
    """

    def __init__(self, cell: Cell, dilation: int, fast: bool = True) -> None:
        super().__init__()
        check_positive("dilation", dilation)
        self.layer = Recurrent(cell, fast=fast)
        self.dilation = dilation
        self.input_size = cell.input_size
        self.output_size = cell.output_size

    @property
    def cell(self) -> Cell:
        return self.layer.cell

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> DilatedState:
        s = self.layer.initial_state(batch * self.dilation, device=device, dtype=dtype)
        return DilatedState(_unfold(s, batch, self.dilation))

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, DilatedState]:
        check_sequence_input(x, self.input_size, lengths)
        B, T, D = x.shape
        d = self.dilation
        if state is None:
            state = self.initial_state(B, device=x.device, dtype=x.dtype)
        mask = step_mask(lengths, T, x.device)  # (B, T) or None
        if mask is not None:
            # padding may hold anything (NaN, inf): keep it out of the graph
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        n = -(-T // d)  # steps per chain
        if n * d > T:
            x = torch.cat([x, x.new_zeros(B, n * d - T, D)], dim=1)
        # (B, n*d, D) -> (B, n, d, D) -> (B, d, n, D) -> (B*d, n, D): chain j = steps j, j+d, ...
        x_chains = x.reshape(B, n, d, D).transpose(1, 2).reshape(B * d, n, D)
        L = torch.full((B,), T, device=x.device) if lengths is None else lengths.to(x.device)
        L = L.long()
        phase = torch.arange(d, device=x.device)
        chain_len = ((L.unsqueeze(1) - phase + d - 1) // d).clamp_min(0)  # (B, d)
        init = _fold(state.chains, B, d)
        full = bool((chain_len == n).all())
        y_chains, final = self.layer(
            x_chains, init, None if full else chain_len.clamp_min(1).reshape(B * d)
        )
        if not bool((chain_len > 0).all()):
            # a chain with no real step ran one step on zeros: it keeps its initial state
            final = where_state((chain_len > 0).reshape(B * d), final, init)
        # (B*d, n, H) -> (B, d, n, H) -> (B, n, d, H) -> (B, n*d, H), cut to T
        H = y_chains.shape[-1]
        y = y_chains.view(B, d, n, H).transpose(1, 2).reshape(B, n * d, H)[:, :T]
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        # chain (L + j) mod d last ran step L - d + j: put it at position j
        chains = _roll_chains(_unfold(final, B, d), L % d)
        return y, DilatedState(chains)

    def trajectory(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, DilatedState, list[State]]:
        r"""Like :meth:`forward`, also returning the cell's state after every step in time
        order (for diagnostics): ``states[t]`` has batch ``B`` and is the state of step
        ``t``, :math:`s_t = F(x_t, s_{t-d})`.

        The folded unroll of :meth:`forward` computes row ``b d + j`` of its ``(B d)``
        batch at chain step ``k`` for time ``t = k d + j``; unfolding that state afterwards
        (a slice of it) would give a tensor outside the graph, with no gradient. So this
        runs the definition itself, one time step at a time, keeping the last ``d`` states
        in a ring (slot ``t mod d`` holds :math:`s_{t-d}` until step ``t`` replaces it):
        every ``states[t]`` is a node of the graph, and
        ``torch.autograd.grad(loss, states[t].h)`` is :math:`\partial L / \partial h_t`.
        ``y`` and the final state equal :meth:`forward`'s up to float rounding (in eval
        mode; a stochastic cell such as :class:`~rnnlab.cells.VariationalDropout` draws its
        training noise per row here and per chain there). A padded step (``t >=
        lengths[b]``) keeps the ring's state, which ``states[t]`` then shows. The loop
        costs ``T`` steps of ``B`` rows instead of ``T / d`` of ``B d``.
        """
        check_sequence_input(x, self.input_size, lengths)
        B, T, _ = x.shape
        d = self.dilation
        if state is None:
            state = self.initial_state(B, device=x.device, dtype=x.dtype)
        mask = step_mask(lengths, T, x.device)  # (B, T) or None
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        cell = self.cell
        projected = cell.project_input(x)  # (B, T, P)
        # ring[j]: the state step t = j (mod d) reads, s_{t-d}; initially chains[:, j]
        ring = [_chain(state.chains, j) for j in range(d)]
        outputs: list[Tensor] = []
        states: list[State] = []
        masks: Sequence[Tensor | None] = [None] * T if mask is None else mask.unbind(1)
        with cell.unrolling():
            for t, (p_t, m_t) in enumerate(zip(projected.unbind(1), masks, strict=True)):
                # (y_t, s_t) = F(x_t, s_{t-d})
                y_t, new = cell.step(p_t, ring[t % d])
                if m_t is not None:  # padded steps keep the state and emit zeros
                    new = where_state(m_t, new, ring[t % d])
                    y_t = y_t.masked_fill(~m_t.unsqueeze(1), 0.0)
                ring[t % d] = new
                outputs.append(y_t)
                states.append(new)
        L = torch.full((B,), T, device=x.device) if lengths is None else lengths.to(x.device)
        # slot (L + j) mod d last ran step L - d + j: put it at position j, as forward does
        chains = _roll_chains(_stack_states(ring), L.long() % d)
        return torch.stack(outputs, dim=1), DilatedState(chains), states


def default_dilations(num_layers: int) -> list[int]:
    """Chang et al.'s exponentially increasing dilations: ``1, 2, 4, ..., 2^(L-1)``."""
    check_positive("num_layers", num_layers)
    return [2**i for i in range(num_layers)]


def build_dilated(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    dilations: Sequence[int] | None = None,
    dropout: float = 0.0,
    residual: bool = False,
    fast: bool = True,
    cell_options: Mapping[str, Any] | None = None,
) -> SequenceLayer:
    """A dilated RNN: ``num_layers`` :class:`Dilated` layers of the registered ``cell``,
    with dilations ``1, 2, 4, ...`` by default, stacked; one layer is returned bare.

    Example::

        layers = build_dilated("gru", input_size=1, hidden_size=64, num_layers=4)  # d 1..8
    """
    check_positive("hidden_size", hidden_size)
    check_positive("num_layers", num_layers)
    if dilations is None:
        dilations = default_dilations(num_layers)
    dilations = list(dilations)
    if len(dilations) != num_layers:
        raise ValueError(
            f"dilations must have num_layers={num_layers} entries, got {len(dilations)}"
        )
    for d in dilations:
        check_positive("every dilation", d)
    layers: list[SequenceLayer] = []
    size = input_size
    for d in dilations:
        layer = Dilated(
            make_cell(cell, size, hidden_size, **dict(cell_options or {})), d, fast=fast
        )
        layers.append(layer)
        size = layer.output_size
    if len(layers) == 1:
        return layers[0]
    return Stacked(layers, dropout=dropout, residual=residual)
