"""Hierarchical multiscale LSTM (Chung, Ahn & Bengio 2016), all layers in one cell."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab._checks import check_positive
from rnnlab.cells.base import Cell, State, StatePart


class HMRNNState(NamedTuple):
    h: Tensor  # (B, L, H) hidden state of every layer, bottom first
    c: Tensor  # (B, L, H) memory cell of every layer
    z: Tensor  # (B, L) boundary of every layer at the last step (the top one is always 0)


def hard_sigmoid(x: Tensor, slope: float = 1.0) -> Tensor:
    r""":math:`\mathrm{hard\_sigm}(a x) = \max(0, \min(1, (a x + 1) / 2))`, ``a`` the slope."""
    return torch.clamp((slope * x + 1.0) / 2.0, 0.0, 1.0)


def straight_through_boundary(z_tilde: Tensor, slope: float = 1.0) -> Tensor:
    r"""Binary boundary with the straight-through estimator of the hard sigmoid.

    .. math::
        \begin{aligned}
        \text{forward:}\quad z &= \mathbb{1}[\mathrm{hard\_sigm}(a \tilde z) > 1/2]
                                = \mathbb{1}[\tilde z > 0] \\
        \text{backward:}\quad \frac{\partial z}{\partial \tilde z}
            &:= \frac{\partial\, \mathrm{hard\_sigm}(a \tilde z)}{\partial \tilde z}
             = \begin{cases} a/2 & |a \tilde z| < 1 \\ 0 & \text{otherwise} \end{cases}
        \end{aligned}

    The forward pass does not depend on the slope ``a`` (for ``a > 0``); annealing it only
    sharpens the backward pass (the slope-annealing trick). The result is exactly 0 or 1:
    ``hard + (soft - soft.detach())`` adds an exact zero whose gradient is ``d soft``.
    """
    soft = hard_sigmoid(z_tilde, slope)
    hard = (z_tilde > 0).to(z_tilde.dtype)
    return hard + (soft - soft.detach())


def annealed_slope(epoch: float, rate: float = 0.04, max_slope: float = 5.0) -> float:
    r"""The slope schedule :math:`a = \min(a_{max}, 1 + r \cdot \text{epoch})`.

    With the defaults it is the schedule Chung et al. give for character-level language
    modelling, :math:`a = \min(5, 1 + 0.04 N_{epoch})`.
    """
    if not epoch >= 0:
        raise ValueError(f"epoch must be non-negative, got {epoch!r}")
    return min(max_slope, 1.0 + rate * epoch)


def set_slope(module: nn.Module, slope: float) -> int:
    """Set the boundary slope of every :class:`HMRNNCell` inside ``module``; returns how many."""
    cells = [m for m in module.modules() if isinstance(m, HMRNNCell)]
    for cell in cells:
        cell.set_slope(slope)
    return len(cells)


class HMRNNCell(Cell):
    r"""Hierarchical multiscale LSTM: ``L`` LSTM layers, each with a binary boundary detector
    that decides, per row and step, whether the layer UPDATEs, COPYs or FLUSHes.

    Per layer :math:`l = 1..L` and step :math:`t`, with :math:`h^0_t = x_t`, :math:`z^0_t = 1`
    (the input always "ends a segment") and no layer above the top one:

    .. math::
        \begin{aligned}
        s^l_t &= U^l_l h^l_{t-1}
               + z^l_{t-1} U^l_{l+1} h^{l+1}_{t-1}
               + z^{l-1}_t W^l_{l-1} h^{l-1}_t + b^l
               && \text{recurrent, top-down, bottom-up} \\
        i, f, g, o, \tilde z &= \sigma, \sigma, \tanh, \sigma, \mathrm{id} \ (s^l_t) \\
        c^l_t &= \begin{cases}
            i \odot g & \text{FLUSH: } z^l_{t-1} = 1 \\
            f \odot c^l_{t-1} + i \odot g & \text{UPDATE: } z^l_{t-1} = 0,\ z^{l-1}_t = 1 \\
            c^l_{t-1} & \text{COPY: } z^l_{t-1} = 0,\ z^{l-1}_t = 0 \end{cases} \\
        h^l_t &= \begin{cases} h^l_{t-1} & \text{COPY} \\
                               o \odot \tanh(c^l_t) & \text{otherwise} \end{cases} \\
        z^l_t &= \begin{cases} z^l_{t-1} & \text{COPY} \\
            \mathbb{1}[\mathrm{hard\_sigm}(a \tilde z) > 1/2] & \text{otherwise}\end{cases}
            \qquad (l < L;\ z^L_t = 0) \\
        y_t &= [h^1_t; h^2_t; \dots; h^L_t]
        \end{aligned}

    The cases are computed as the weighted sum
    :math:`c = F \,(i g) + U\, (f c + i g) + C\, c` with :math:`F = z^l_{t-1}`,
    :math:`U = (1 - z^l_{t-1}) z^{l-1}_t`, :math:`C = (1 - z^l_{t-1})(1 - z^{l-1}_t)` (and
    likewise for ``h`` and ``z``), which equals the cases exactly for binary ``z`` and lets the
    straight-through estimator (:func:`straight_through_boundary`) carry gradient into the
    boundary detectors through every use of ``z``. Gate order ``i, f, g, o`` as in
    :class:`~rnnlab.cells.LSTMCell`, then the boundary pre-activation :math:`\tilde z`.

    ``slope`` is the hard sigmoid's slope ``a``; it changes the backward pass only (see
    :func:`straight_through_boundary`). Anneal it with :meth:`set_slope` (or the module-wide
    :func:`set_slope`, and :func:`annealed_slope` for the paper's schedule). With
    ``straight_through=False`` the boundaries are frozen: ``z`` is the same step function but
    carries no gradient, so every remaining path is an ordinary derivative.

    Args:
        input_size: D.
        hidden_size: H, units per layer.
        num_layers: L (default 3); layers ``1..L-1`` have boundary detectors.
        slope: the initial slope ``a`` of the hard sigmoid (positive).
        straight_through: pass gradient to the boundary detectors (else freeze them).
        reset_recurrent_on_flush: also drop the recurrent input :math:`U^l_l h^l_{t-1}` on a
            FLUSH step (off by default, as in the paper's equations; see Notes).
        forget_bias: initial forget-gate bias.

    Shapes: ``x_t (B, D)``, ``state = HMRNNState(h (B, L, H), c (B, L, H), z (B, L))`` ->
    ``y_t (B, L*H)``. Parameters: ``weight_ih (G_1, D)`` (:math:`W^1_0`, hoisted with
    ``bias[0]`` into :meth:`project_input`), ``weight_hh[l] (G_l, H)`` (:math:`U^l_l`),
    ``weight_td[l] (G_l, H)`` (:math:`U^l_{l+1}`, ``l < L``), ``weight_bu[l-1] (G_l, H)``
    (:math:`W^l_{l-1}`, ``l > 1``), ``bias[l] (G_l,)``, with ``G_l = 4H + 1`` below the top
    and ``4H`` at the top (which has no boundary detector).

    Example::

        cell = HMRNNCell(32, 128)  # three layers of 128 units
        layer = Recurrent(cell)
        y, state = layer(torch.randn(8, 100, 32))  # y: (8, 100, 384)
        cell.set_slope(2.0)
        z = rnnlab.diagnostics.boundary_matrix(layer, torch.randn(8, 100, 32))  # (8, 100, 2)

    Notes:
        Chung et al. (2016), "Hierarchical Multiscale Recurrent Neural Networks":

        * The top layer has no layer above it to receive a flushed summary, so it has no
          boundary detector here: :math:`z^L_t = 0`, and it only UPDATEs (when the layer
          below ends a segment) or COPYs. Its column of ``state.z`` is always 0 (the input
          value is ignored). Public reimplementations differ on this point.
        * COPY copies the whole layer state, boundary included (:math:`z^l_t = z^l_{t-1}`,
          which is 0 since a COPY needs :math:`z^l_{t-1} = 0`); some reimplementations
          recompute :math:`\tilde z` on COPY steps. Both give nested segments only where the
          layer below ends its segment.
        * As in the paper's equations the top-down input is gated by the layer's own
          previous boundary (it reaches a layer only as it starts a new segment) and the
          recurrent input :math:`U^l_l h^l_{t-1}` is kept on FLUSH; the paper's "reset"
          is the cell's, :math:`c = i g`. ``reset_recurrent_on_flush=True`` drops the
          recurrent input too, for a full restart.
        * The output is the concatenation of all layers' ``h`` (every layer feeds the
          head directly). The paper's gated output module,
          :math:`\mathrm{ReLU}(\sum_l g^l W^l h^l)` with scalar gates
          :math:`g^l = \sigma(w^l \cdot y_t)`, is left to the model's head; a linear head on
          ``y_t`` is its ungated, linear special case.
        * Every step computes all layers and selects with ``z``: the operation is chosen per
          row, so skipping a COPY layer batch-wide would need a host sync per layer and step.
        * The initial state has ``z = 0`` (no FLUSH on the first step), ``h = c = 0``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 3,
        slope: float = 1.0,
        straight_through: bool = True,
        reset_recurrent_on_flush: bool = False,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("num_layers", num_layers)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.output_size = num_layers * hidden_size
        self.straight_through = straight_through
        self.reset_recurrent_on_flush = reset_recurrent_on_flush
        self.slope = 1.0
        self.set_slope(slope)
        H, L = hidden_size, num_layers
        widths = [4 * H + 1] * (L - 1) + [4 * H]  # the top layer has no boundary row
        self.gate_widths: tuple[int, ...] = tuple(widths)
        bound = 1.0 / math.sqrt(H)

        def weight(rows: int, cols: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(rows, cols).uniform_(-bound, bound))

        self.weight_ih = weight(widths[0], input_size)  # W^1_0: (G_1, D)
        self.weight_hh = nn.ParameterList([weight(G, H) for G in widths])  # U^l_l
        self.weight_td = nn.ParameterList([weight(G, H) for G in widths[:-1]])  # U^l_{l+1}
        self.weight_bu = nn.ParameterList([weight(G, H) for G in widths[1:]])  # W^l_{l-1}
        biases = []
        for G in widths:
            b = torch.zeros(G)
            b[H : 2 * H] = forget_bias  # gate order i, f, g, o, z~
            biases.append(nn.Parameter(b))
        self.bias = nn.ParameterList(biases)

    def set_slope(self, slope: float) -> None:
        """Set the slope ``a`` of the hard sigmoid in the boundary's backward pass."""
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"slope must be a positive number, got {slope!r}")
        if not (math.isfinite(slope) and slope > 0):
            raise ValueError(f"slope must be a positive number, got {slope!r}")
        self.slope = float(slope)

    def on_progress(self, fraction: float) -> None:
        """The trainer's per-step hook: anneal the slope from 1 to 5 over the run (Chung et
        al. anneal it by 0.04 per epoch to 5; the run's progress, in steps or in its time
        budget, stands in for epochs, so the schedule also applies to tasks with fresh data
        every batch)."""
        self.set_slope(1.0 + 4.0 * min(1.0, fraction))

    def state_parts(self) -> list[StatePart]:
        """The levels, bottom first: level ``l`` is ``h[:, l - 1]`` of ``h (B, L, H)``,
        named ``"level l"``."""
        return [StatePart(f"level {l + 1}", l, 1) for l in range(self.num_layers)]

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"slope={self.slope}, straight_through={self.straight_through}"
        )

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> HMRNNState:
        ref = self.weight_ih
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        L, H = self.num_layers, self.hidden_size
        h = torch.zeros(batch, L, H, device=device, dtype=dtype)
        z = torch.zeros(batch, L, device=device, dtype=dtype)
        return HMRNNState(h, h.clone(), z)

    def project_input(self, x: Tensor) -> Tensor:
        # the first layer's bottom-up input, W^1_0 x_t + b^1 (z^0_t = 1): (..., G_1)
        return nn.functional.linear(x, self.weight_ih, self.bias[0])

    def boundary(self, z_tilde: Tensor) -> Tensor:
        """The binary boundary from its pre-activation (straight-through, or frozen)."""
        if self.straight_through:
            return straight_through_boundary(z_tilde, self.slope)
        return (z_tilde > 0).to(z_tilde.dtype)

    def step(self, p_t: Tensor, state: HMRNNState) -> tuple[Tensor, HMRNNState]:
        H, L = self.hidden_size, self.num_layers
        h_prev, c_prev, z_prev = state.h.unbind(1), state.c.unbind(1), state.z.unbind(1)
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        zs: list[Tensor] = []
        for l in range(L):
            top = l == L - 1
            # FLUSH weight z^l_{t-1} (the top layer never flushes)
            flush = torch.zeros_like(z_prev[l]) if top else z_prev[l]
            flush = flush.unsqueeze(1)  # (B, 1)
            if l == 0:
                s = p_t  # W^1_0 x_t + b^1, with z^0_t = 1
                below = None
            else:
                below = zs[l - 1].unsqueeze(1)  # z^{l-1}_t: (B, 1)
                # bottom-up: z^{l-1}_t W^l_{l-1} h^{l-1}_t + b^l
                s = torch.addmm(self.bias[l], below * hs[l - 1], self.weight_bu[l - 1].t())
            # recurrent: U^l_l h^l_{t-1} (optionally dropped on FLUSH)
            h_rec = (1 - flush) * h_prev[l] if self.reset_recurrent_on_flush else h_prev[l]
            s = torch.addmm(s, h_rec, self.weight_hh[l].t())
            if not top:
                # top-down: z^l_{t-1} U^l_{l+1} h^{l+1}_{t-1}
                s = torch.addmm(s, flush * h_prev[l + 1], self.weight_td[l].t())
            parts = s.split([H, H, H, H, 1] if not top else [H, H, H, H], dim=1)
            i, f, o = torch.sigmoid(parts[0]), torch.sigmoid(parts[1]), torch.sigmoid(parts[3])
            g = torch.tanh(parts[2])
            if below is None:  # z^0_t = 1: the first layer never copies
                update, copy = 1 - flush, None
            else:
                update, copy = (1 - flush) * below, (1 - flush) * (1 - below)
            # c = F (i g) + U (f c + i g) + C c
            c = flush * (i * g) + update * (f * c_prev[l] + i * g)
            if copy is not None:
                c = c + copy * c_prev[l]
            # h = (1 - C) o tanh(c) + C h
            h = o * torch.tanh(c)
            if copy is not None:
                h = (1 - copy) * h + copy * h_prev[l]
            if top:
                z = torch.zeros_like(z_prev[l])
            else:
                z = self.boundary(parts[4].squeeze(1))  # z^l_t: (B,)
                if copy is not None:
                    # COPY keeps the previous boundary: z = (1 - C) z_new + C z_{t-1}
                    C = copy.squeeze(1)
                    z = (1 - C) * z + C * z_prev[l]
            hs.append(h)
            cs.append(c)
            zs.append(z)
        h_all = torch.stack(hs, dim=1)  # (B, L, H)
        return h_all.flatten(1), HMRNNState(h_all, torch.stack(cs, dim=1), torch.stack(zs, dim=1))

    @staticmethod
    def boundaries(states: Sequence[State]) -> Tensor:
        """The boundaries of layers ``1..L-1`` from per-step states (e.g.
        :meth:`Recurrent.trajectory`'s): ``T`` states of ``z (B, L)`` -> ``(B, T, L-1)``."""
        if not states:
            raise ValueError("boundaries needs at least one state, got none")
        return torch.stack([s.z[:, :-1] for s in states], dim=1)
