r"""The uRNN over a whole sequence with a hand-written backward (:class:`URNNScan`).

The forward loop runs without recording a graph; the backward loop runs the adjoint of
each factor, which for a unitary map is cheap: :math:`F^H` is an inverse FFT, the
reflections are self-adjoint, the phases are conjugated. Per step, with
:math:`h_{t-1} \in \mathbb{C}^{B \times N}` (rows are batch entries, factors act on each
row) and :math:`\Pi` a gather of the columns:

.. math::
    \begin{aligned}
    y^1 &= d_1 \odot h_{t-1}, & x^1 &= \mathrm{fft}(y^1), &
        r^1 &= x^1 - 2 (x^1 \bar u_1) u_1^T, \\
    y^2 &= (d_2 / N) \odot \Pi r^1, & x^2 &= N\, \mathrm{ifft}(y^2), &
        r^2 &= x^2 - 2 (x^2 \bar u_2) u_2^T, \\
    z_t &= d_3 \odot r^2 + p_t, & h_t &= s_t \odot z_t, &
        s_t &= \mathrm{relu}(1 + b / m_t), \quad m_t = \max(|z_t|, \epsilon)
    \end{aligned}

with :math:`d_k = e^{i\theta_k}`, :math:`u_k` unit vectors and ``fft`` / ``ifft`` unscaled
apart from ``ifft``'s :math:`1/N` (undone by the factor :math:`N`), so that
:math:`x^2 = F^{-1} D_2 \Pi R_1 F D_1 h_{t-1}` with the unitary DFT :math:`F`: the two
scalings of the unitary transforms, :math:`1/\sqrt N` each, are folded into :math:`d_2 / N`
times the :math:`N` of the unscaled inverse, saving two passes over the state.
:math:`s_t = \mathrm{relu}(|z| + b) / |z|` is modReLU's real scale (:func:`modrelu_scale`).

Backward, with :math:`g_v = \partial L / \partial \mathrm{Re}\, v + i\, \partial L /
\partial \mathrm{Im}\, v` (PyTorch's convention for complex gradients),
:math:`g_h = g_{y_t} + g_{h_t}^{\mathrm{rec}}` and :math:`\rho = \mathrm{Re}(\bar z_t
g_h)`:

.. math::
    \begin{aligned}
    g_z &= s\, g_h + k\, z, \quad k = -\rho\, b\, [s > 0]\, [|z| \ge \epsilon]\, m^{-3}, &
        g_b &= \textstyle\sum \rho\, [s > 0] / m, \\
    g_{r^2} &= \bar d_3\, g_z, \quad g_{x^2} = g_{r^2} - 2 (g_{r^2} \bar u_2) u_2^T, &
        g_{d_3} &= \textstyle\sum g_z\, \bar r^2, \\
    g_{y^2} &= \mathrm{fft}(g_{x^2}) \quad (\text{the adjoint of } N\, \mathrm{ifft}), &
        g_{d_2} &= \textstyle\sum g_{y^2}\, \overline{\Pi r^1} / N, \\
    g_{r^1} &= \Pi^T \big((\bar d_2 / N)\, g_{y^2}\big), \quad
        g_{x^1} = g_{r^1} - 2 (g_{r^1} \bar u_1) u_1^T, &
        g_{y^1} &= N\, \mathrm{ifft}(g_{x^1}) \quad (\text{the adjoint of fft}), \\
    g_{h_{t-1}}^{\mathrm{rec}} &= \bar d_1\, g_{y^1}, &
        g_{d_1} &= \textstyle\sum g_{y^1}\, \bar h_{t-1}, \\
    g_{u} &= -2 \textstyle\sum \big(\bar a_b\, g_{r,b} + \bar c_b\, x_b\big), &
        a_b &= u^H x_b, \quad c_b = u^H g_{r,b}
    \end{aligned}

(sums over time and batch; for each reflection ``x`` is its input and ``g_r`` the
gradient of its output). The inner products :math:`u^H x_b` and the rank-one updates run
as real matrix products on the interleaved ``view_as_real`` layout, where a reflection is
:math:`x - 2 (x K^T) K` with :math:`K = [u; iu] \in \mathbb{R}^{2 \times 2N}`.

The projected input ``p`` is interleaved (``[Re p_0, Im p_0, Re p_1, ...]``, so that it is
a complex tensor without a copy); the output is ``[Re h_t, Im h_t]``, the cell's layout.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.constrained import MODRELU_EPS


def _real_pair(u: Tensor) -> Tensor:
    """``K = [u; i u]`` as real rows of length 2N (interleaved): ``u^H x = K x_f`` as
    ``[Re, Im]`` and ``a u = a_r K_0 + a_i K_1``."""
    n = u.shape[-1]
    return torch.stack([torch.view_as_real(u), torch.view_as_real(1j * u)]).reshape(2, 2 * n)


def _reflect(x: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """``(x - 2 u (u^H x), [Re u^H x; Im u^H x])`` for each row of complex ``x (B, N)``."""
    xf = torch.view_as_real(x).flatten(-2)  # (B, 2N), a view
    a = torch.mm(k, xf.t())  # (2, B)
    out = torch.addr(xf, a[0], k[0], alpha=-2.0).addr_(a[1], k[1], alpha=-2.0)
    return torch.view_as_complex(out.view(x.shape[0], -1, 2)), a


def _permute(x: Tensor, index: Tensor) -> Tensor:
    """``x[:, index]`` for complex ``x (B, N)``; ``index`` expanded to ``(B, N)``. A
    complex64 entry is gathered as one 8-byte word (much faster than a complex gather)."""
    if x.element_size() == 8:
        return torch.gather(x.view(torch.float64), 1, index).view(x.dtype)
    return x.index_select(1, index[0])


def _modrelu_forward(
    z: Tensor, bias: Tensor, one: Tensor, keep: bool
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``s = relu(1 + b / m)`` with ``m = max(|z|, eps)``; with ``keep`` also the two real
    factors the backward needs: ``[s > 0] / m`` (``g_b``'s) and ``-b [s > 0] [|z| >= eps]
    / m^3`` (``k``'s). ``one`` is a 0-d tensor 1 of the real dtype."""
    q = torch.mul(z, z.conj()).real  # |z|^2
    inv = q.clamp_min(MODRELU_EPS * MODRELU_EPS).rsqrt_()
    s = torch.addcmul(one, inv, bias).relu_()
    if not keep:
        return s, None, None
    sb = torch.sign(s).mul_(inv)  # [s > 0] / m
    inv_m = inv  # [|z| >= eps] / m; on the CPU the mask only where some |z| is below eps
    if q.device.type != "cpu" or bool(q.min() < MODRELU_EPS * MODRELU_EPS):
        inv_m = torch.heaviside(q - MODRELU_EPS * MODRELU_EPS, one).mul_(inv)
    kf = (inv_m * inv_m).mul_(sb).mul_(-bias)
    return s, sb, kf


class URNNScan(torch.autograd.Function):
    """``(p (B, T, 2N) interleaved, h0 (B, N) complex, d (3, N), u (2, N) complex, bias
    (N,), index, inverse index)`` -> ``(y (B, T, 2N) as [Re h, Im h], h_T (B, N) complex)``.
    See the module docstring for the equations of both loops.

    With gradients needed the forward keeps six complex and three real ``(B, N)`` tensors a
    step (what the backward reads: 3.9 MB a step at B = 64, N = 1024, where autograd keeps
    5.5 MB for the step loop); recomputing them in the backward was slower on the CPU."""

    @staticmethod
    def forward(
        ctx: Any,
        p: Tensor,
        h0: Tensor,
        d: Tensor,
        u: Tensor,
        bias: Tensor,
        index: Tensor,
        inverse: Tensor,
    ) -> tuple[Tensor, Tensor]:
        B, T, two_n = p.shape
        N = two_n // 2
        keep = any(ctx.needs_input_grad)
        pc = torch.view_as_complex(p.view(B, T, N, 2))
        d1, d3 = d[0], d[2]
        d2 = d[1] / N
        k1, k2 = _real_pair(u[0]), _real_pair(u[1])
        y = p.new_empty(B, T, 2 * N)
        one = torch.ones((), dtype=p.dtype, device=p.device)
        saved: list[list[Tensor]] = []
        h = h0
        for t in range(T):
            x1 = torch.fft.fft(h * d1)
            r1, a1 = _reflect(x1, k1)
            pr1 = _permute(r1, index)
            x2 = torch.fft.ifft(pr1 * d2, norm="forward")
            r2, a2 = _reflect(x2, k2)
            z = torch.addcmul(pc[:, t], r2, d3)
            s, sb, kf = _modrelu_forward(z, bias, one, keep)
            h_prev, h = h, z * s
            y[:, t].view(B, 2, N).copy_(torch.view_as_real(h).permute(0, 2, 1))
            if keep:
                assert sb is not None and kf is not None
                saved.append([h_prev, x1, a1, pr1, x2, a2, r2, z, s, sb, kf])
        ctx.saved = saved
        ctx.factors = (d, k1, k2, index, inverse)
        return y, h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor, gh: Tensor) -> tuple[Tensor | None, ...]:
        d, k1, k2, _, inverse = ctx.factors
        saved: list[list[Tensor]] = ctx.saved
        B, T, two_n = gy.shape
        N = two_n // 2
        d1c, d2c, d3c = d[0].conj(), d[1].conj() / N, d[2].conj()
        gp = gy.new_empty(B, T, 2 * N)
        gpc = torch.view_as_complex(gp.view(B, T, N, 2))
        acc = torch.zeros(3, B, N, dtype=d.dtype, device=d.device)  # sum_t g_y conj(input)
        acc_b = gy.new_zeros(B, N)
        q1, q2 = gy.new_zeros(2, 2 * N), gy.new_zeros(2, 2 * N)  # reflections
        g_h = torch.complex(gy[:, T - 1, :N], gy[:, T - 1, N:]).add_(gh)
        for t in range(T - 1, -1, -1):
            h_prev, x1, a1, pr1, x2, a2, r2, z, s, sb, kf = saved[t]
            rho = torch.mul(z.conj(), g_h).real  # Re(conj(z) g_h)
            acc_b.addcmul_(rho, sb)
            g_z = torch.mul(g_h, s, out=gpc[:, t]).addcmul_(z, rho.mul_(kf))
            acc[2].addcmul_(g_z, r2.conj())
            g_r2 = g_z * d3c
            g_x2, c2 = _reflect(g_r2, k2)
            q2.addmm_(a2, torch.view_as_real(g_r2).flatten(-2))
            q2.addmm_(c2, torch.view_as_real(x2).flatten(-2))
            g_y2 = torch.fft.fft(g_x2)
            acc[1].addcmul_(g_y2, pr1.conj())
            g_r1 = _permute(g_y2 * d2c, inverse)
            g_x1, c1 = _reflect(g_r1, k1)
            q1.addmm_(a1, torch.view_as_real(g_r1).flatten(-2))
            q1.addmm_(c1, torch.view_as_real(x1).flatten(-2))
            g_y1 = torch.fft.ifft(g_x1, norm="forward")
            acc[0].addcmul_(g_y1, h_prev.conj())
            g_prev = g_y1 * d1c
            if t > 0:
                g_h = torch.complex(gy[:, t - 1, :N], gy[:, t - 1, N:]).add_(g_prev)
            else:
                g_h = g_prev
        g_d = acc.sum(1)
        g_d[1] /= N
        g_u = torch.stack([_from_pair(q1), _from_pair(q2)])
        return gp, g_h, g_d, g_u, acc_b.sum(0), None, None


def _from_pair(q: Tensor) -> Tensor:
    """``-2 (Q_0 - i Q_1)`` as a complex vector: ``Q = sum [a_r; a_i] g`` over the batch
    and time, so ``Q_0 - i Q_1 = sum conj(a) g``."""
    c = torch.view_as_complex(q.view(2, -1, 2))
    return -2.0 * (c[0] - 1j * c[1])


def urnn_scan(
    p: Tensor, h0: Tensor, d: Tensor, u: Tensor, bias: Tensor, perm: Tensor
) -> tuple[Tensor, Tensor]:
    """Run :class:`URNNScan`: ``p (B, T, 2N)`` interleaved projected inputs, ``h0 (B, N)``
    complex, phases ``d (3, N)``, unit reflection vectors ``u (2, N)``, modReLU ``bias``,
    ``perm`` with ``(Pi h)_i = h_perm[i]`` -> outputs ``(B, T, 2N)`` and ``h_T``."""
    B = p.shape[0]
    index = perm.expand(B, -1).contiguous()
    inverse = torch.argsort(perm).expand(B, -1).contiguous()
    y, h = URNNScan.apply(p.contiguous(), h0, d, u, bias, index, inverse)
    return y, h
