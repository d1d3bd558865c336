"""Neural Turing machine (Graves, Wayne & Danihelka 2014) as one step of the cell protocol."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, State
from rnnlab.memory.addressing import EPS, address, read, write


class NTMState(NamedTuple):
    controller: Any  # the controller cell's state (LSTMState(h, c) by default)
    memory: Tensor  # (B, N, M)
    read_weights: Tensor  # (B, R, N): w_{t-1} of each read head
    write_weights: Tensor  # (B, W, N): w_{t-1} of each write head
    reads: Tensor  # (B, R, M): r_{t-1}, read at the previous step


class HeadParameters(NamedTuple):
    """Every head's parameters from the controller's output: ``K = R + W`` heads, the read
    heads first, each squashed into its range."""

    key: Tensor  # (B, K, M), tanh
    beta: Tensor  # (B, K), softplus: >= 0
    gate: Tensor  # (B, K), sigmoid
    shift: Tensor  # (B, K, 2S+1), softmax
    gamma: Tensor  # (B, K), 1 + softplus: >= 1
    erase: Tensor  # (B, W, M), sigmoid: the write heads'
    add: Tensor  # (B, W, M), tanh: the write heads'


class NTMCell(Cell):
    r"""Neural Turing machine: a controller cell that reads and writes a memory of ``N``
    slots of width ``M`` through ``R`` read and ``W`` write heads (Graves et al. 2014).

    One step, with :math:`r_{t-1}` the ``R`` reads of the previous step:

    .. math::
        \begin{aligned}
        (h_t, c_t) &= \mathrm{controller}([x_t;\ r_{t-1}],\ c_{t-1}) \\
        \xi_t &= \mathrm{clip}(W_\xi h_t + b_\xi, \pm C)
            \quad\text{(every head's } k, \beta, g, s, \gamma \text{; } e, a
            \text{ for writes)} \\
        w_t &= \mathrm{address}(M_{t-1}, w_{t-1}, \xi_t) \quad \text{(every head)} \\
        r_t &= w^{r}_t M_{t-1}, \qquad
            M_t = M_{t-1} \odot \textstyle\prod_h (1 - w^{w,h}_t e^h_t)
                  + \sum_h w^{w,h}_t a^h_t \\
        y_t &= [h_t;\ r_t]
        \end{aligned}

    with :math:`k = \tanh(\cdot)`, :math:`\beta = \mathrm{softplus}(\cdot)`,
    :math:`g = \sigma(\cdot)`, :math:`s = \mathrm{softmax}(\cdot)` over the shifts
    :math:`-S..S`, :math:`\gamma = 1 + \mathrm{softplus}(\cdot)`, :math:`e = \sigma(\cdot)`,
    :math:`a = \tanh(\cdot)`; ``address`` is content addressing, interpolation, circular
    shift and sharpening (:mod:`rnnlab.memory.addressing`). The model's head reads
    :math:`y_t`, the controller output and the reads, as the paper's output layer does.

    The controller is any cell reading ``D + R*M`` features. When its input map is affine
    (:meth:`Cell.affine_input`: the LSTM, GRU, Elman cells), the ``x_t`` columns are hoisted
    out of the time loop by :meth:`project_input` and only :math:`W_r r_{t-1}` is added per
    step (its column slice formed once per unroll); otherwise ``[x_t; r_{t-1}]`` goes
    through the controller's own ``project_input`` every step.

    Args:
        controller: the controller cell; its ``input_size`` is ``D + R*M`` (``D`` the
            NTM's input width).
        memory_slots: N.
        memory_width: M.
        read_heads: R.
        write_heads: W.
        shift_range: S, shifts ``-S..S`` (1: the paper's ``{-1, 0, 1}``).
        clip: C, the bound on the controller's output and on the head parameters
            (Collier & Beel 2018: 20).
        memory_init: the constant every memory entry starts at (Collier & Beel 2018).
        initial_focus: the weight every head's first weighting puts on slot 0 (the rest
            spread evenly), in ``(1/N, 1)``; ``None``: Collier & Beel's random first
            weightings, a softmax of logits from :math:`U(\pm\sqrt{6/(N+1)})`.

    Shapes: ``x_t (B, D)``; ``state = NTMState(controller, memory (B, N, M), read_weights
    (B, R, N), write_weights (B, W, N), reads (B, R, M))`` -> ``y_t (B, H + R*M)`` with
    ``H`` the controller's output width.

    Example::

        cell = NTMCell(LSTMCell(9 + 20, 100), memory_slots=128, memory_width=20)
        y, state = Recurrent(cell)(torch.randn(32, 41, 9))  # y: (32, 41, 120)

    Notes:
        Memory starts at a small constant (1e-6), not learned or random: Collier & Beel
        (2018, "Implementing neural Turing machines") found it converges about twice as
        fast and never gave NaNs. Every slot then holds the same vector, so content
        addressing is uniform and only the first weightings can tell slots apart (with
        uniform first weightings and a constant memory every slot would stay alike
        forever). They are :math:`\mathrm{softmax}` of learned logits, initialised so
        that every head starts focused on the same slot (``initial_focus`` = 0.9 of the
        weight on slot 0): a head then moves by its shift alone, and a read head finds
        where the writes began without content addressing, which a constant memory does
        not offer before it is written. With Collier & Beel's random logits instead
        (``initial_focus=None``; near uniform, every head's peak elsewhere) the heads must
        first learn to sharpen a spread-out weighting: on ``ntm-copy`` (batch 8, Adam
        1e-3) that run was still at 55 wrong bits per sequence after 120 s, the focused
        start at 0.00 after 60 s (benchmarks/RESULTS.md). The first reads are
        :math:`\tanh` of learned values, as in Collier & Beel's implementation. As there,
        every head addresses
        :math:`M_{t-1}` and the reads see the memory before this step's writes (the paper
        does not fix the order). The clip of the head parameters is Collier & Beel's (the
        paper names no bound), applied here to the controller's output as well (a no-op
        for an LSTM, whose output lies in (-1, 1)). The key and add vectors pass through
        ``tanh``, as theirs (the paper leaves the squashing open).
    """

    def __init__(
        self,
        controller: Cell,
        memory_slots: int = 128,
        memory_width: int = 20,
        read_heads: int = 1,
        write_heads: int = 1,
        shift_range: int = 1,
        clip: float = 20.0,
        memory_init: float = 1e-6,
        initial_focus: float | None = 0.9,
    ) -> None:
        super().__init__()
        if not isinstance(controller, Cell):
            raise TypeError(f"NTMCell needs an rnnlab Cell as controller, got {controller!r}")
        for name, value in (
            ("memory_slots", memory_slots),
            ("memory_width", memory_width),
            ("read_heads", read_heads),
            ("write_heads", write_heads),
            ("shift_range", shift_range),
        ):
            check_positive(name, value)
        if not clip > 0:
            raise ValueError(f"clip must be positive, got {clip!r}")
        if not math.isfinite(memory_init):
            raise ValueError(f"memory_init must be a finite number, got {memory_init!r}")
        if initial_focus is not None and not 1 / memory_slots < initial_focus < 1:
            raise ValueError(
                f"initial_focus must be in (1/memory_slots, 1) = (1/{memory_slots}, 1) or "
                f"None, got {initial_focus!r}"
            )
        N, M, R, W = memory_slots, memory_width, read_heads, write_heads
        if controller.input_size <= R * M:
            raise ValueError(
                f"controller input_size {controller.input_size} leaves no room for x_t next "
                f"to {R} reads of width {M}"
            )
        self.controller = controller
        self.memory_slots, self.memory_width = N, M
        self.read_heads, self.write_heads = R, W
        self.shift_range = shift_range
        self.clip = float(clip)
        self.memory_init = float(memory_init)
        self.initial_focus = initial_focus
        self.input_size = controller.input_size - R * M
        self.hidden_size = controller.output_size
        self.output_size = controller.output_size + R * M
        # k (M), beta, g, s (2S+1), gamma per head (reads first); e, a (M each) per write head
        self._addressing_width = (R + W) * (M + 3 + 2 * shift_range + 1)
        self.heads = nn.Linear(controller.output_size, self._addressing_width + W * 2 * M)
        # the first weightings: not uniform, to tell the slots of a constant memory apart
        self.initial_read_logits = nn.Parameter(torch.empty(R, N))
        self.initial_write_logits = nn.Parameter(torch.empty(W, N))
        self.initial_reads = nn.Parameter(torch.empty(R, M))
        for param in (self.initial_read_logits, self.initial_write_logits):
            if initial_focus is None:  # Collier & Beel: random logits
                nn.init.uniform_(param, -math.sqrt(6 / (N + 1)), math.sqrt(6 / (N + 1)))
            else:  # softmax = initial_focus on slot 0, the rest spread evenly
                with torch.no_grad():
                    param.zero_()
                    param[:, 0] = math.log(initial_focus * (N - 1) / (1 - initial_focus))
        nn.init.uniform_(self.initial_reads, -math.sqrt(6 / (M + 1)), math.sqrt(6 / (M + 1)))
        self._affine_controller = controller.affine_input() is not None
        self._read_columns: Tensor | None = None  # W_r of the unroll in progress

    # -- the controller's input: [x_t; r_{t-1}] -----------------------------------------
    def affine_input(self) -> tuple[Tensor, Tensor | None] | None:
        affine = self.controller.affine_input()
        if affine is None:
            return None
        weight, bias = affine
        return weight[:, : self.input_size], bias

    def project_input(self, x: Tensor) -> Tensor:
        affine = self.affine_input()
        if affine is None:
            return x  # the controller projects [x_t; r_{t-1}] itself, step by step
        return F.linear(x, *affine)

    def _read_weight(self) -> Tensor:
        """``W_r``: the controller's input columns that read the previous reads."""
        if self._read_columns is not None:
            return self._read_columns
        affine = self.controller.affine_input()
        assert affine is not None
        return affine[0][:, self.input_size :]

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        with self.controller.unrolling():
            cached = self._read_columns
            if cached is not None and (cached.requires_grad or not torch.is_grad_enabled()):
                yield  # nested (decoding): the outer unroll's slice serves here too
                return
            affine = self.controller.affine_input()
            self._read_columns = None if affine is None else affine[0][:, self.input_size :]
            try:
                yield
            finally:
                self._read_columns = cached

    # -- state ---------------------------------------------------------------------------
    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> NTMState:
        ref = self._zeros(batch, device, dtype)  # (B, H): the device and dtype to use
        N, M = self.memory_slots, self.memory_width

        def rows(param: Tensor) -> Tensor:
            return param.to(ref).unsqueeze(0).expand(batch, *param.shape)

        return NTMState(
            controller=self.controller.initial_state(batch, device=ref.device, dtype=ref.dtype),
            memory=ref.new_full((batch, N, M), self.memory_init),
            read_weights=rows(torch.softmax(self.initial_read_logits, dim=-1)),
            write_weights=rows(torch.softmax(self.initial_write_logits, dim=-1)),
            reads=rows(torch.tanh(self.initial_reads)),
        )

    # -- heads ---------------------------------------------------------------------------
    def head_parameters(self, h: Tensor) -> HeadParameters:
        r"""Every head's parameters from the controller output ``h (B, H)``: the clipped
        :math:`\xi = W_\xi h + b_\xi`, split by head and squashed."""
        M, S = self.memory_width, self.shift_range
        heads = self.read_heads + self.write_heads
        xi = self.heads(h).clamp(-self.clip, self.clip)
        addressing, erase_add = xi.split(
            [self._addressing_width, xi.shape[-1] - self._addressing_width], dim=-1
        )
        key, beta, gate, shift, gamma = addressing.view(h.shape[0], heads, -1).split(
            [M, 1, 1, 2 * S + 1, 1], dim=-1
        )
        erase, add = erase_add.view(h.shape[0], self.write_heads, 2 * M).split([M, M], dim=-1)
        return HeadParameters(
            key=torch.tanh(key),
            beta=F.softplus(beta.squeeze(-1)),
            gate=torch.sigmoid(gate.squeeze(-1)),
            shift=torch.softmax(shift, dim=-1),
            gamma=1.0 + F.softplus(gamma.squeeze(-1)),
            erase=torch.sigmoid(erase),
            add=torch.tanh(add),
        )

    # -- the step ------------------------------------------------------------------------
    def step(self, p_t: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        previous_reads = state.reads.flatten(1)  # (B, R*M)
        if not self._affine_controller:
            z = torch.cat([p_t, previous_reads], dim=-1)  # [x_t; r_{t-1}]
            controller_in = self.controller.project_input(z)
        else:
            # W [x_t; r_{t-1}] + b = (W_x x_t + b) + W_r r_{t-1}
            controller_in = p_t + previous_reads @ self._read_weight().T
        controller_state: State = state.controller
        h, controller_state = self.controller.step(controller_in, controller_state)
        h = h.clamp(-self.clip, self.clip)  # (B, H)
        p = self.head_parameters(h)
        # every head addresses M_{t-1}: (B, R+W, N)
        previous = torch.cat([state.read_weights, state.write_weights], dim=1)
        weights = address(state.memory, previous, p.key, p.beta, p.gate, p.shift, p.gamma, EPS)
        w_read, w_write = weights.split([self.read_heads, self.write_heads], dim=1)
        reads = read(state.memory, w_read)  # (B, R, M): r_t = w_t M_{t-1}
        memory = write(state.memory, w_write, p.erase, p.add)  # (B, N, M): erase, then add
        y = torch.cat([h, reads.flatten(1)], dim=-1)  # (B, H + R*M)
        return y, NTMState(controller_state, memory, w_read, w_write, reads)
