r"""Base of the cells whose state is linear in the state and gated by the input only,

.. math:: h_t = a_t \odot h_{t-1} + b_t, \qquad (a_t, b_t) = f(x_t), \qquad y_t = g(h_t, x_t)

so that a whole sequence runs as one :func:`~rnnlab.cells.linear_scan.linear_scan`
(minGRU, minLSTM, LRU, S6). A subclass gives ``coefficients`` (``a``, ``b`` from the
projected input, for one step ``(B, P)`` or all ``(B, T, P)``) and ``readout``; the step
and the scan share them, so they compute the same recurrence.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab.cells.base import Cell, step_mask
from rnnlab.cells.linear_scan import hold_padding, linear_scan, log_linear_scan


def check_scan_input(x: Tensor) -> None:
    """A one-line ``ValueError`` unless ``x`` is ``(B, T, D)`` with ``T >= 1`` (what a
    ``scan`` called directly, outside :class:`~rnnlab.layers.Recurrent`, checks)."""
    if x.dim() != 3 or x.shape[1] == 0:
        got = "T = 0" if x.dim() == 3 else f"shape {tuple(x.shape)}"
        raise ValueError(f"scan needs x of shape (B, T >= 1, D), got {got}")


class ScanState(NamedTuple):
    h: Tensor  # (B, *S): (B, H), or (B, N) complex (LRU), or (B, H, N) (S6)


HALF_DTYPES = (torch.bfloat16, torch.float16)


def state_dtype(dtype: torch.dtype | None, ref: torch.dtype) -> torch.dtype:
    """The dtype of a scan cell's state asked for in ``dtype`` (default ``ref``, the
    parameters'): half precision (bfloat16, float16: a layer's input under autocast)
    becomes float32, since the state sums every step's input."""
    dtype = dtype or ref
    return torch.float32 if dtype in HALF_DTYPES else dtype


def in_state_precision(p: Tensor, h: Tensor) -> Tensor:
    """``p`` in the state's (real) precision when it came in half precision (bfloat16 or
    float16, as under autocast): the matmuls before the recurrence run in half precision,
    the coefficients, the scan and the state in the state's."""
    if p.dtype not in HALF_DTYPES:
        return p
    return p.to(h.real.dtype if h.is_complex() else h.dtype)


class LinearScanCell(Cell):
    """A cell ``h_t = a_t * h_{t-1} + b_t`` with ``a``, ``b`` from the input only.

    Subclasses implement :meth:`coefficients`, :meth:`readout` and :meth:`state_shape`,
    and may implement :meth:`log_coefficients` (``log a``, ``log b`` for a positive
    recurrence) and set ``log_space`` to scan in log space (Heinsen 2023).

    ``scan_method`` picks the kernel of :func:`~rnnlab.cells.linear_scan.linear_scan`
    (``auto``: by measurement; ``loop``, ``chunked``, ``tree``, ``associative``).
    """

    log_space: bool = False
    scan_method: str = "auto"
    state_dtype_is_complex: bool = False
    # state elements (batch x state width x steps) per block of time that :meth:`scan`
    # computes at once: its coefficient and readout tensors then stay in the CPU's cache
    scan_block_elements: int = 2**20

    def state_shape(self) -> tuple[int, ...]:
        """The state's shape after the batch dimension."""
        return (self.hidden_size,)

    def coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of the recurrence from the projected input ``p (..., P)``."""
        raise NotImplementedError

    def log_coefficients(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)`` where the recurrence is positive (minGRU, minLSTM)."""
        raise NotImplementedError(f"{type(self).__name__} has no log-space form")

    def readout(self, h: Tensor, p: Tensor) -> Tensor:
        """The output ``y`` from the state ``h`` and the projected input ``p`` (same leading
        dimensions: one step or all); ``h`` itself by default."""
        return h

    def initial_state(
        self, batch: int, *, device: Any = None, dtype: torch.dtype | None = None
    ) -> ScanState:
        ref = next(self.parameters())
        dtype = state_dtype(dtype, ref.dtype)
        if self.state_dtype_is_complex and not dtype.is_complex:
            dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        shape = (batch, *self.state_shape())
        return ScanState(torch.zeros(shape, device=device or ref.device, dtype=dtype))

    def step(self, p_t: Tensor, state: ScanState) -> tuple[Tensor, ScanState]:
        p_t = in_state_precision(p_t, state.h)
        a, b = self.coefficients(p_t)
        h = a * state.h + b  # h_t = a_t * h_{t-1} + b_t
        return self.readout(h, p_t), ScanState(h)

    def scan(
        self, x: Tensor, state: ScanState, lengths: Tensor | None = None
    ) -> tuple[Tensor, ScanState]:
        """All steps at once: the coefficients of every step, one linear scan, the readout;
        padded steps hold the state (``a = 1``, ``b = 0``) and emit zeros."""
        check_scan_input(x)
        mask = step_mask(lengths, x.shape[1], x.device)  # (B, T) or None
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        p = in_state_precision(self.project_input(x), state.h)  # (B, T, P)
        if self.log_space:
            h = self._log_scan(p, state.h, mask)
            y, final = self.readout(h, p), h[:, -1]
        else:
            # blocks of time (split, not sliced: one node in the graph), the state carried
            block = max(1, self.scan_block_elements // state.h.numel())
            masks = [None] * -(-x.shape[1] // block) if mask is None else mask.split(block, 1)
            ys, final = [], state.h
            for p_b, m_b in zip(p.split(block, dim=1), masks, strict=True):
                a, b = hold_padding(*self.coefficients(p_b), m_b)
                h = linear_scan(a, b, final, method=self.scan_method)  # (B, T_b, *S)
                ys.append(self.readout(h, p_b))
                final = h[:, -1]
            y = ys[0] if len(ys) == 1 else torch.cat(ys, dim=1)
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y, ScanState(final)

    def _log_scan(self, p: Tensor, h0: Tensor, mask: Tensor | None) -> Tensor:
        """``h_t = A_t h_0 + (the log-space scan from a zero state)``, ``A_t = prod a``: any
        sign of ``h_0`` (only ``a`` and ``b`` must be positive)."""
        log_a, log_b = self.log_coefficients(p)
        if mask is not None:
            m = mask.view(*mask.shape, *([1] * (log_a.dim() - 2)))
            log_a = torch.where(m, log_a, torch.zeros_like(log_a))
            log_b = torch.where(m, log_b, torch.full_like(log_b, float("-inf")))
        from_zero = log_linear_scan(log_a, log_b)
        return from_zero + log_a.cumsum(dim=1).exp() * h0.unsqueeze(1)
