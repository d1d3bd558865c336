"""The unitary and orthogonal cells against matrices built independently from the papers'
formulas (an explicit DFT matrix, an explicit inverse), not from the cells' own
``recurrence_matrix``; modReLU's sign and scale on hand-computed values."""

from __future__ import annotations

import math

import torch

from rnnlab.cells.cayley import CayleyCell
from rnnlab.cells.constrained import complex_modrelu, modrelu, modrelu_scale
from rnnlab.cells.urnn import URNNCell


def _dft(n: int) -> torch.Tensor:
    """The unitary DFT matrix F[j, k] = exp(-2 pi i j k / n) / sqrt(n), entry by entry."""
    j = torch.arange(n, dtype=torch.float64)
    angle = -2.0 * math.pi * torch.outer(j, j) / n
    return torch.complex(torch.cos(angle), torch.sin(angle)) / math.sqrt(n)


def _urnn_w(cell: URNNCell, swap_r1_pi: bool = False) -> torch.Tensor:
    """W = D3 R2 F^-1 D2 Pi R1 F D1 (Arjovsky et al. 2016, eq. 6) from the parameters."""
    n = cell.hidden_size
    theta = cell.theta.detach().double()
    d = [torch.diag(torch.exp(1j * theta[k]).to(torch.complex128)) for k in range(3)]
    v = torch.complex(cell.reflection_re.detach().double(), cell.reflection_im.detach().double())
    eye = torch.eye(n, dtype=torch.complex128)
    r = [eye - 2.0 * torch.outer(v[k], v[k].conj()) / (v[k].abs() ** 2).sum() for k in range(2)]
    pi = torch.zeros(n, n, dtype=torch.complex128)
    pi[torch.arange(n), cell.perm] = 1.0  # (Pi h)_i = h_perm[i]
    f = _dft(n)
    middle = r[0] @ pi if swap_r1_pi else pi @ r[0]
    return d[2] @ r[1] @ f.conj().T @ d[1] @ middle @ f @ d[0]


def test_urnn_step_is_the_papers_product_with_modrelu() -> None:
    torch.manual_seed(0)
    cell = URNNCell(3, 6).double()
    with torch.no_grad():
        cell.bias.uniform_(-0.5, 0.2)  # some units switched off by modReLU
    w = _urnn_w(cell)
    assert torch.allclose(w.conj().T @ w, torch.eye(6, dtype=torch.complex128), atol=1e-12)
    h = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    x = torch.randn(4, 3, dtype=torch.float64)
    y, _ = cell(x, cell.initial_state(4, dtype=torch.float64)._replace(h_re=h[0], h_im=h[1]))
    v = torch.complex(cell.weight_ih_re.detach(), cell.weight_ih_im.detach())
    z = torch.complex(*h) @ w.T + x.to(torch.complex128) @ v.T
    want = torch.relu(z.abs() + cell.bias.detach()) * z / z.abs()
    assert torch.allclose(y, torch.cat([want.real, want.imag], dim=-1), atol=1e-10)


def test_urnn_factor_order_matters_to_the_reference() -> None:
    """Swapping R1 and Pi, or dropping D3, changes W: the test above can tell."""
    torch.manual_seed(1)
    cell = URNNCell(2, 6).double()
    w = _urnn_w(cell)
    assert not torch.allclose(w, _urnn_w(cell, swap_r1_pi=True), atol=1e-6)
    with torch.no_grad():
        cell.theta[2].zero_()  # D3 = I
    assert not torch.allclose(w, _urnn_w(cell), atol=1e-6)


def test_modrelu_keeps_the_sign_and_shrinks_the_modulus() -> None:
    z = torch.tensor([-2.0, 0.3, -0.3, 1.0])
    b = torch.tensor([-0.5, -0.5, 1.0, 0.0])
    assert torch.equal(modrelu(z, b), torch.tensor([-1.5, 0.0, -1.3, 1.0]))
    c = torch.tensor([complex(-3.0, 4.0), complex(0.6, -0.8)])
    out = complex_modrelu(c, torch.tensor([-1.0, 0.5]))
    assert torch.allclose(out, torch.tensor([complex(-2.4, 3.2), complex(0.9, -1.2)]))
    scale = modrelu_scale(c.real, c.imag, torch.tensor([-1.0, 0.5]))
    assert torch.allclose(scale, torch.tensor([0.8, 1.5]))


def test_cayley_applies_d_on_the_right() -> None:
    """W = (I + S)^-1 (I - S) D (Helfrich et al. 2018): D scales W's columns."""
    torch.manual_seed(2)
    cell = CayleyCell(2, 6, num_negative=3).double()
    with torch.no_grad():
        cell.A.normal_()
    upper = cell.A.detach().triu(1)
    s = upper - upper.T
    eye = torch.eye(6, dtype=torch.float64)
    w = torch.inverse(eye + s) @ (eye - s) @ torch.diag(cell.D.double())
    h = torch.randn(4, 6, dtype=torch.float64)
    x = torch.randn(4, 2, dtype=torch.float64)
    y, _ = cell(x, type(cell.initial_state(4))(h))
    want = modrelu(h @ w.T + x @ cell.weight_ih.detach().T, cell.bias.detach())
    assert torch.allclose(y, want, atol=1e-10)
    d_left = torch.diag(cell.D.double()) @ torch.inverse(eye + s) @ (eye - s)
    assert not torch.allclose(w, d_left, atol=1e-3)  # the side is observable
