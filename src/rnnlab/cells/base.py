"""The one abstraction: a cell is one step, ``s_t = F(s_{t-1}, x_t)``.

Shape glossary used throughout rnnlab: ``B`` batch, ``T`` time, ``D`` input features,
``H`` hidden units, ``P`` width of the projected input.

A cell maps ``(x_t, state) -> (y_t, state')`` for one time step. To let the unroll hoist
the input-to-hidden matmul out of the time loop (one large matmul for all ``W x_t``),
every cell splits its step in two:

* ``project_input(x)``: the part that depends on ``x`` only, ``(..., D) -> (..., P)``;
  applied once to the whole ``(B, T, D)`` sequence by :class:`rnnlab.layers.Recurrent`.
* ``step(p_t, state)``: the recurrence proper on the projected input ``(B, P)``.

``forward(x_t, state)`` is ``step(project_input(x_t), state)``.

States are ``NamedTuple`` s of tensors (``LSTMState(h, c)``), so generic helpers such as
:func:`map_state` can detach them (truncated BPTT), select batch rows (beam search) or
keep them fixed on padded steps; they live in :mod:`rnnlab._tree` and are re-exported here.

A cell may also run a whole sequence at once, ``scan(x, state, lengths)``: by default the
step loop :func:`step_loop`; the plain Elman, LSTM and GRU cells run PyTorch's fused kernel
there instead, and a cell with a parallel form may run that. :func:`decoding` keeps the
tensors a cell derives from its parameters for a whole generation (one token per call).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._tree import (
    State,
    detach_state,
    map_state,
    select_rows,
    where_state,
    zip_map_state,
)

__all__ = [
    "Cell",
    "State",
    "StatePart",
    "check_chrono",
    "check_step_input",
    "detach_state",
    "map_state",
    "select_rows",
    "where_state",
    "zip_map_state",
]


class StatePart(NamedTuple):
    """Units ``start .. start + length - 1`` along axis 1 of a cell's hidden state ``h``:
    one named part of a structured state (a clockwork module, an HM-RNN level)."""

    name: str
    start: int
    length: int


class Cell(nn.Module):
    """Base class of every recurrent cell: one time step of ``s_t = F(s_{t-1}, x_t)``.

    Subclasses set ``input_size``, ``hidden_size`` and ``output_size`` and implement
    :meth:`initial_state` and :meth:`step`; they override :meth:`project_input` when part of
    the step depends on the input only (the hoisted ``W x_t + b``).

    :meth:`scan` runs the cell over a whole sequence; a cell overrides it when it has a
    faster form than the step loop (a fused kernel, a parallel scan) that computes the same.
    A cell with a structured state names its parts in :meth:`state_parts` (diagnostics
    report them separately).

    ``fused_mode`` names the PyTorch fused kernel with the same parametrisation
    (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``) or is ``None``; cells with a
    fused mode keep parameters named ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``
    in PyTorch's layout, and :attr:`uses_fused_kernel` says whether their :meth:`scan`
    runs that kernel.
    """

    input_size: int
    hidden_size: int
    output_size: int
    fused_mode: str | None = None

    def initial_state(
        self,
        batch: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        raise NotImplementedError

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        """Context of one unroll over time: the cell may cache tensors derived from its
        parameters (e.g. an orthogonal ``W = exp(A)``) once for all the steps inside it.

        :class:`rnnlab.layers.Recurrent` enters it around its time loop; a cell called step
        by step outside it recomputes them each step. Default: nothing to cache.
        """
        yield

    def on_progress(self, fraction: float) -> None:
        """Called by the trainer before every training step with the fraction of the run
        done (``0..1``, steps or time budget, whichever is further): for schedules inside
        a cell (the HM-RNN's boundary slope). Nothing by default."""

    def manifold_parameters(self) -> list[nn.Parameter]:
        """Parameters of a constrained (orthogonal / unitary) recurrence, which training
        may give their own learning rate; none by default."""
        return []

    def state_parts(self) -> list[StatePart]:
        """The named parts of the hidden state ``h`` that diagnostics report separately
        (:func:`rnnlab.diagnostics.gradient_flow`: a clockwork RNN's modules, an HM-RNN's
        levels), each a :class:`StatePart` slice of ``h`` along axis 1; none by default."""
        return []

    def project_input(self, x: Tensor) -> Tensor:
        """The input-only part of the step, ``(..., D) -> (..., P)``; identity by default."""
        return x

    def step(self, p_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step on the projected input ``p_t`` of shape ``(B, P)``."""
        raise NotImplementedError

    def affine_input(self) -> tuple[Tensor, Tensor | None] | None:
        """``(W, b)`` when :meth:`project_input` is the affine map ``x W^T + b`` (``W`` of
        shape ``(P, D)``, ``b`` of ``(P,)`` or ``None``), else ``None`` (the default).

        A caller may then split ``W`` by input columns, e.g. hoist the part of the input
        known ahead and add the part fed back inside the loop (the input feeding of
        :class:`rnnlab.models.EncoderDecoder`). A cell that overrides :meth:`project_input`
        must override this consistently.
        """
        return None

    @property
    def uses_fused_kernel(self) -> bool:
        """Whether :meth:`scan` runs one of PyTorch's fused kernels (cuDNN / oneDNN);
        ``False`` by default."""
        return False

    def scan(self, x: Tensor, state: State, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        r"""Run the cell over a whole batch-first sequence.

        Takes the raw inputs ``x (B, T, D)`` (not :meth:`project_input`'s output: a fused
        or parallel form projects its inputs in its own way, e.g. inside the kernel), the
        initial ``state`` and optional ``lengths (B,)`` in ``[1, T]``. Returns the outputs
        ``(B, T, output_size)`` and the state after each row's last real step. Steps
        ``t >= lengths[b]`` are padding: they keep the state, emit zeros, and whatever
        they hold (NaN, inf) reaches neither the outputs nor any gradient.

        The default is the step loop, :func:`step_loop`. An override (a fused kernel, a
        parallel scan) must equal it on the outputs, the final state and every gradient,
        up to float rounding, at any lengths; :class:`rnnlab.layers.Recurrent` calls it
        unless built with ``fast=False``. Inputs are checked by the caller
        (:class:`~rnnlab.layers.Recurrent`), not here.

        Example::

            cell = GRUCell(3, 16)
            y, s = cell.scan(torch.randn(4, 50, 3), cell.initial_state(4))
        """
        y, final, _ = step_loop(self, x, state, lengths)
        return y, final

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step: ``(B, D)`` input and state -> ``(B, output_size)`` output and state."""
        check_step_input(x_t, self.input_size)
        return self.step(self.project_input(x_t), state)

    def _zeros(self, batch: int, device: Any, dtype: torch.dtype | None) -> Tensor:
        ref = next(self.parameters(), None)
        if device is None and ref is not None:
            device = ref.device
        if dtype is None:
            dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        return torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)


def step_mask(lengths: Tensor | None, steps: int, device: Any) -> Tensor | None:
    """``(B, T)`` bool mask of real steps, or ``None`` when every row is full length."""
    if lengths is None:
        return None
    lengths = lengths.to(device)
    if bool((lengths == steps).all()):
        return None
    return torch.arange(steps, device=device).unsqueeze(0) < lengths.unsqueeze(1)


def step_loop(
    cell: Cell,
    x: Tensor,
    state: State,
    lengths: Tensor | None = None,
    keep_states: bool = False,
) -> tuple[Tensor, State, list[State]]:
    """The generic unroll: ``cell.step`` over time, the input projection hoisted.

    ``x (B, T, D)`` -> outputs ``(B, T, output_size)``, the final state and, with
    ``keep_states``, the state after every step (each a node of the graph, for diagnostics;
    else an empty list). ``cell.project_input`` runs once over all steps (one matmul), the
    loop iterates with ``unbind(1)`` inside ``cell.unrolling()``. Padded steps
    (``t >= lengths[b]``) keep the state and emit zeros; their inputs are zeroed first, so
    that NaN or inf padding cannot leak into the graph (through ``0 * NaN`` in backward it
    would reach every gradient).

    This is the reference every :meth:`Cell.scan` must equal.
    """
    mask = step_mask(lengths, x.shape[1], x.device)  # (B, T) or None
    if mask is not None:
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


def _outermost_cells(module: nn.Module) -> list[Cell]:
    """The cells in ``module`` not inside another cell (a wrapper's inner cell is left to
    the wrapper), each once, in module order; ``[module]`` when it is a cell itself."""
    found: list[Cell] = []
    seen: set[int] = set()

    def visit(m: nn.Module) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        if isinstance(m, Cell):
            found.append(m)
            return
        for child in m.children():
            visit(child)

    visit(module)
    return found


@contextmanager
def decoding(module: nn.Module) -> Iterator[None]:
    """Context of a generation: every cell in ``module`` is inside its :meth:`Cell.unrolling`
    until the context exits, so the tensors it derives from its parameters (an orthogonal
    ``W = exp(A)``, a Cayley transform) are computed once for all the tokens generated
    inside, not once per token.

    Decoding runs the model one token at a time (``model.step``), each call a whole unroll
    of one step; a cell's ``unrolling()`` entered again inside this context reuses what was
    computed on entry. Enter it around a generation loop, never around parameter updates:
    the tensors are computed from the parameters as they are on entry. With gradients
    enabled (free-running loops in training) the cached tensors are part of the graph, and
    the backward of their derivation runs once.

    Example::

        with torch.no_grad(), decoding(model):
            tokens = greedy(model.step, model.initial_state(1), bos, 200)
    """
    with ExitStack() as stack:
        for cell in _outermost_cells(module):
            stack.enter_context(cell.unrolling())
        yield


def check_chrono(max_delay: int) -> None:
    """Chrono initialisation draws from ``U(1, max_delay - 1)``: it needs ``max_delay > 2``."""
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay <= 2:
        raise ValueError(f"chrono max_delay must be an integer above 2, got {max_delay!r}")


def check_step_input(x_t: Tensor, input_size: int) -> None:
    if x_t.dim() != 2 or x_t.shape[-1] != input_size:
        raise ValueError(f"cell input must have shape (B, {input_size}), got {tuple(x_t.shape)}")
