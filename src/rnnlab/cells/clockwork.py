"""Clockwork RNN (Koutnik, Greff, Gomez & Schmidhuber 2014)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, StatePart

MAX_DEFAULT_MODULES = 8


class ClockworkState(NamedTuple):
    h: Tensor  # (B, H)
    t: Tensor  # (B,) long: the index of the next step, counting from 0


def default_num_modules(hidden_size: int) -> int:
    """The largest ``g <= 8`` that divides ``hidden_size`` (8 when ``hidden_size % 8 == 0``)."""
    check_positive("hidden_size", hidden_size)
    return max(g for g in range(1, MAX_DEFAULT_MODULES + 1) if hidden_size % g == 0)


class ClockworkCell(Cell):
    r"""Clockwork RNN: ``g`` modules of ``m = H / g`` tanh units ticking at periods
    :math:`T_1 \le T_2 \le \dots \le T_g` (by default :math:`T_i = 2^{i-1}`).

    At step :math:`t` (counting from 0) the active modules are those whose period divides
    :math:`t`; with units ordered fast to slow,

    .. math::
        \begin{aligned}
        A_t &= \{\, i : t \bmod T_i = 0 \,\} \\
        h_t^{(i)} &= \tanh\big(\textstyle\sum_{j:\, T_j \ge T_i} W_h^{(ij)} h_{t-1}^{(j)}
                     + W_x^{(i)} x_t + b^{(i)}\big) && i \in A_t \\
        h_t^{(i)} &= h_{t-1}^{(i)} && i \notin A_t, \qquad y_t = h_t
        \end{aligned}

    so module :math:`i` reads only from modules at least as slow as itself: :math:`W_h` is
    block upper-triangular (a fixed 0/1 ``connectivity`` mask times the parameter).

    Skipped modules cost nothing. When each period divides the next (the default), the
    active modules form a prefix :math:`1..k` and the step computes only the first
    :math:`k m` rows, :math:`\tanh(W_h[{:}km]\, h_{t-1} + W_x[{:}km]\, x_t + b[{:}km])`,
    copying the others: :math:`O(B k m (H + D))` instead of :math:`O(B H (H + D))`; on
    average :math:`k < 2` for power-of-two periods, so a step costs about a quarter of a
    dense one with ``g = 8``. The masked :math:`W_h` and the row prefixes of :math:`W_h`,
    :math:`W_x` and :math:`b` are formed once per unroll (inside :meth:`unrolling`), so
    their backward runs once per unroll, not once per step.

    The state carries the step index ``t`` (a ``(B,)`` long tensor), so the clock survives
    chunked unrolls (truncated BPTT) and padded steps (which keep ``t`` fixed, like the rest
    of the state). The step count is read on the host every step (one device sync on GPU).

    Args:
        input_size: D.
        hidden_size: H, a multiple of ``num_modules``.
        num_modules: g; by default ``len(periods)`` if given, else the largest ``g <= 8``
            dividing ``H`` (:func:`default_num_modules`).
        periods: the g periods, fast to slow (non-decreasing); default
            :math:`1, 2, 4, \dots, 2^{g-1}`.

    Shapes: ``x_t (B, D)``, ``state.h (B, H)``, ``state.t (B,)`` -> ``y_t (B, H)``.

    Example::

        cell = ClockworkCell(1, 1024, num_modules=8)  # periods 1, 2, ..., 128
        y, state = Recurrent(cell)(torch.randn(64, 256, 1))

    Notes:
        Koutnik et al. count steps from 1 in the text; here step 0 is the first, so every
        module updates on the first step (slow modules see the first input instead of
        staying at their initial state for up to :math:`T_g - 1` steps). The paper's output
        layer :math:`y_t = f(W_O h_t)` is left to the model's head; ``y_t = h_t`` here.
        Rows of a batch are assumed to start at the same step (as they do from
        ``initial_state``), so that they share the step count and the active prefix. Rows
        whose ``t`` differs stay correct (each updates its own active modules), but the
        step then pays for the largest active prefix among them; in a ragged batch the
        rows that sit out padded steps keep their ``t``, so the steps after the shortest
        row ends may cost more (bucketing sequences by length avoids it). With periods that
        do not divide one another the active set is not a prefix: the step computes up to
        the last active module and copies the inactive ones inside that range. The lower
        blocks of ``weight_hh`` (slow modules reading fast ones) exist as parameters but
        are zero and receive zero gradient. Reading ``t`` on the host makes the step
        unsuitable for ``torch.compile`` graphs and ``vmap``. Unlike the other cells, the
        input projection is not hoisted out of the time loop (``project_input`` is the
        identity): hoisting computes :math:`W_x x_t` for skipped units too, and slicing
        the hoisted projection costs a full-width gradient buffer per step in backward;
        with ``B=64, T=128, D=32, H=1024`` on one CPU thread the per-step prefix
        projection took the forward+backward from 0.35x to 0.27x of the dense tanh RNN.
    """

    connectivity: Tensor  # (H, H) 0/1 buffer

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_modules: int | None = None,
        periods: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        if num_modules is None:
            num_modules = len(periods) if periods is not None else default_num_modules(hidden_size)
        check_positive("num_modules", num_modules)
        if hidden_size % num_modules != 0:
            raise ValueError(
                f"hidden_size {hidden_size} is not a multiple of num_modules {num_modules}"
            )
        if periods is None:
            periods = [2**i for i in range(num_modules)]
        periods = tuple(periods)
        if len(periods) != num_modules:
            raise ValueError(f"periods must have num_modules={num_modules} entries, got {periods}")
        for period in periods:
            check_positive("every period", period)
        if list(periods) != sorted(periods):
            raise ValueError(
                f"periods must be ordered fast to slow (non-decreasing), got {periods}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.num_modules = num_modules
        self.module_size = hidden_size // num_modules
        self.periods: tuple[int, ...] = periods
        # connectivity[r, c] = 1 when unit c's module is at least as slow as unit r's
        unit_period = torch.tensor(periods).repeat_interleave(self.module_size)  # (H,)
        mask = (unit_period.unsqueeze(0) >= unit_period.unsqueeze(1)).to(torch.get_default_dtype())
        self.register_buffer("connectivity", mask, persistent=False)  # (H, H)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # W_x: (H, D)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W_h: (H, H)
        self.bias = nn.Parameter(torch.empty(hidden_size))  # b: (H,)
        bound = 1.0 / math.sqrt(hidden_size)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)
        with torch.no_grad():
            self.weight_hh.mul_(self.connectivity)
        # rows -> (masked W_h[:rows], W_x[:rows], b[:rows]), for the unroll in progress
        self._prefixes: dict[int, tuple[Tensor, Tensor, Tensor]] | None = None
        self._masked: Tensor | None = None  # the masked W_h of the unroll in progress
        self._masked_has_grad = False  # the masked W_h was formed with gradients enabled

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> ClockworkState:
        h = self._zeros(batch, device, dtype)
        return ClockworkState(h, torch.zeros(batch, dtype=torch.long, device=h.device))

    def state_parts(self) -> list[StatePart]:
        """The modules, fast to slow: module ``i`` is units ``i m .. (i+1) m - 1`` of ``h``,
        named ``"module i (period p)"`` (counting from 1)."""
        m = self.module_size
        return [
            StatePart(f"module {i + 1} (period {p})", i * m, m) for i, p in enumerate(self.periods)
        ]

    def recurrence_matrix(self) -> Tensor:
        """The block upper-triangular ``W_h`` actually used, ``(H, H)``."""
        return self.weight_hh * self.connectivity

    @contextmanager
    def unrolling(self) -> Iterator[None]:
        masked = self._masked
        if masked is not None and (self._masked_has_grad or not torch.is_grad_enabled()):
            yield  # nested (decoding): the outer unroll's tensors serve here too
            return
        outer = self._prefixes, masked, self._masked_has_grad
        self._prefixes, self._masked = {}, self.recurrence_matrix()
        self._masked_has_grad = torch.is_grad_enabled()
        try:
            yield
        finally:
            self._prefixes, self._masked, self._masked_has_grad = outer

    def _prefix(self, rows: int) -> tuple[Tensor, Tensor, Tensor]:
        """Masked ``W_h[:rows]``, ``W_x[:rows]``, ``b[:rows]``. Inside an unroll the mask is
        applied once and each prefix sliced once, so the backward of the mask and of the
        slices runs once per unroll, and each step's weight gradient is only ``rows`` wide."""
        if self._prefixes is None or self._masked is None:
            W_h = self.weight_hh[:rows] * self.connectivity[:rows]
            return W_h, self.weight_ih[:rows], self.bias[:rows]
        if rows not in self._prefixes:
            self._prefixes[rows] = (
                self._masked[:rows],
                self.weight_ih[:rows],
                self.bias[:rows],
            )
        return self._prefixes[rows]

    def active_modules(self, t: int) -> list[bool]:
        """Which modules update at step ``t``: ``t mod T_i == 0``."""
        return [t % p == 0 for p in self.periods]

    def _schedule(self, t: Tensor) -> tuple[int, Tensor | None]:
        """Units to compute (a prefix of ``rows``) and, when some of them must copy
        instead, a bool mask of the updating ones, ``(rows,)`` or ``(B, rows)``."""
        m = self.module_size
        lo, hi = torch.stack(torch.aminmax(t)).tolist() if t.numel() else (0, 0)
        if lo == hi:  # the usual case: every row at the same step
            active = self.active_modules(lo)
            k = max(i for i, a in enumerate(active) if a) + 1  # period 1 divides all t
            if all(active[:k]):
                return k * m, None
            mask = torch.tensor(active[:k], device=t.device).repeat_interleave(m)
            return k * m, mask
        periods = torch.tensor(self.periods, device=t.device)
        active_rows = t.unsqueeze(1) % periods == 0  # (B, g)
        k = int(active_rows.any(0).nonzero().max()) + 1
        return k * m, active_rows[:, :k].repeat_interleave(m, dim=1)

    def step(self, p_t: Tensor, state: ClockworkState) -> tuple[Tensor, ClockworkState]:
        # p_t is x_t itself: project_input is the identity (see Notes)
        h, t = state
        rows, copy_mask = self._schedule(t)
        W_h, W_x, b = self._prefix(rows)  # (rows, H) block upper-triangular, (rows, D), (rows,)
        # h_t^{active} = tanh(W_h[active] h_{t-1} + W_x[active] x_t + b[active])
        new = torch.tanh(torch.addmm(torch.addmm(b, p_t, W_x.t()), h, W_h.t()))
        if copy_mask is not None:
            new = torch.where(copy_mask, new, h[:, :rows])
        # inactive modules copy: h_t^{(i)} = h_{t-1}^{(i)}
        h_next = torch.cat([new, h[:, rows:]], dim=1) if rows < self.hidden_size else new
        return h_next, ClockworkState(h_next, t + 1)
