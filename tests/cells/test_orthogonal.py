"""Orthogonal and unitary cells: urnn, fullurnn, exprnn, cayley.

The conformance suite covers them generically (shapes, loop == unroll, padding, gradcheck,
state_dict); these tests check what is special to them: the recurrence matrix is and stays
unitary, the structured uRNN step equals its dense matrix, the per-unroll cache really
caches, and the initialisations have the documented spectra.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

from rnnlab.cells import (
    CayleyCell,
    Cell,
    ExpRNNCell,
    FullURNNCell,
    URNNCell,
    URNNState,
    make_cell,
    map_state,
)
from rnnlab.cells.constrained import block_skew_init
from rnnlab.layers import Recurrent

NAMES = ["urnn", "fullurnn", "exprnn", "cayley"]
F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def recurrence_matrix(cell: Cell) -> Tensor:
    assert isinstance(cell, URNNCell | FullURNNCell | ExpRNNCell | CayleyCell)
    return cell.recurrence_matrix()


def unitarity_error(W: Tensor) -> float:
    """Spectral norm of ``W^H W - I``."""
    eye = torch.eye(W.shape[-1], dtype=W.dtype)
    return float(torch.linalg.matrix_norm(W.conj().mT @ W - eye, ord=2))


def random_state(cell: Cell, batch: int, dtype: torch.dtype = F64) -> Any:
    return map_state(lambda t: 0.5 * torch.randn_like(t), cell.initial_state(batch, dtype=dtype))


def state_norm(state: Any) -> Tensor:
    """Per-row Euclidean norm over every tensor of the state (``|h|`` for complex ``h``)."""
    return torch.cat(list(state), dim=-1).norm(dim=-1)


# ------------------------------------------------------------------ unitary by construction


@pytest.mark.parametrize(("dtype", "tol"), [(F64, 1e-5), (torch.float32, 1e-4)])
@pytest.mark.parametrize("name", NAMES)
def test_stays_unitary_after_optimiser_steps(name: str, dtype: torch.dtype, tol: float) -> None:
    layer = Recurrent(make_cell(name, 3, 12)).to(dtype)
    cell = layer.cell
    assert unitarity_error(recurrence_matrix(cell).detach()) < tol
    before = [p.detach().clone() for p in cell.manifold_parameters()]
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)  # large steps: far from the init
    x = torch.randn(4, 10, 3, dtype=dtype)
    target = torch.randn(4, 10, layer.output_size, dtype=dtype)
    for _ in range(5):
        opt.zero_grad()
        y, _ = layer(x)
        ((y - target) ** 2).mean().backward()
        opt.step()
    after = cell.manifold_parameters()
    assert after and all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert unitarity_error(recurrence_matrix(cell).detach()) < tol


@pytest.mark.parametrize(("dtype", "rtol"), [(F64, 1e-10), (torch.float32, 1e-3)])
@pytest.mark.parametrize("name", NAMES)
def test_linear_recurrence_preserves_the_state_norm(
    name: str, dtype: torch.dtype, rtol: float
) -> None:
    """With zero input and modReLU bias 0 the step is ``h <- W h`` exactly (modReLU with
    ``b = 0`` is the identity): the state norm holds over 1000 steps."""
    cell = make_cell(name, 3, 16).to(dtype)
    state = random_state(cell, 4, dtype)
    norm0 = state_norm(state)
    p = torch.zeros(4, cell.project_input(torch.zeros(1, 3, dtype=dtype)).shape[-1], dtype=dtype)
    with torch.no_grad():
        cell.bias.zero_()
        with cell.unrolling():
            for _ in range(1000):
                _, state = cell.step(p, state)
    torch.testing.assert_close(state_norm(state), norm0, rtol=rtol, atol=0)


def test_fullurnn_reaches_the_whole_unitary_group() -> None:
    """A complex W with non-real entries and det off the real line: not just SO(N)."""
    W = FullURNNCell(3, 6).double().recurrence_matrix().detach()
    assert W.is_complex() and unitarity_error(W) < 1e-12
    assert float(W.imag.abs().max()) > 1e-2
    assert abs(float(torch.linalg.det(W).imag)) > 1e-6


def test_cayley_determinant_is_set_by_d() -> None:
    """The Cayley transform is in SO(N); the fixed ``D`` with rho -1 entries sets det W."""
    for rho in (0, 1, 3, 6):
        cell = CayleyCell(3, 6, num_negative=rho).double()
        assert int((cell.D < 0).sum()) == rho
        W = cell.recurrence_matrix().detach()
        assert unitarity_error(W) < 1e-12
        torch.testing.assert_close(torch.linalg.det(W), torch.tensor((-1.0) ** rho, dtype=F64))
    assert CayleyCell(3, 190).num_negative == 95  # scoRNN's copy-task setting


# ------------------------------------------------------------------ the structured uRNN step


@pytest.mark.parametrize("n", [12, 16])
def test_urnn_fft_step_equals_dense_matrix_product(n: int) -> None:
    cell = URNNCell(3, n).double()
    W = cell.recurrence_matrix().detach()
    assert unitarity_error(W) < 1e-12
    h = torch.complex(torch.randn(5, n, dtype=F64), torch.randn(5, n, dtype=F64))
    # the linear part alone, column convention W h, row by row
    torch.testing.assert_close(cell.apply_recurrence(h).detach(), h @ W.mT)
    # and the whole step: modReLU(W h + V x) with a non-zero bias
    with torch.no_grad():
        cell.bias.uniform_(-0.5, 0.2)
    x = torch.randn(5, 3, dtype=F64)
    y, s = cell(x, URNNState(h.real, h.imag))
    V = torch.complex(cell.weight_ih_re, cell.weight_ih_im).detach()
    z = h @ W.mT + x.to(V.dtype) @ V.mT
    expected = torch.relu(z.abs() + cell.bias.detach()) * z / z.abs()
    torch.testing.assert_close(torch.complex(s.h_re, s.h_im).detach(), expected)
    torch.testing.assert_close(y.detach(), torch.cat([expected.real, expected.imag], -1))


def test_urnn_gradients_through_fft_equal_dense_gradients() -> None:
    cell = URNNCell(2, 8).double()
    h = torch.complex(torch.randn(3, 8, dtype=F64), torch.randn(3, 8, dtype=F64))
    w = torch.randn(3, 8, dtype=F64)
    params = cell.manifold_parameters()

    def grads(z: Tensor) -> list[Tensor]:
        loss = (w * z.real).sum() + (w.flip(0) * z.imag).sum()
        return list(torch.autograd.grad(loss, params))

    fft_grads = grads(cell.apply_recurrence(h))
    dense_grads = grads(h @ cell.recurrence_matrix().mT)
    for a, e in zip(fft_grads, dense_grads, strict=True):
        torch.testing.assert_close(a, e)


def test_urnn_permutation_is_a_seeded_buffer() -> None:
    a, b = URNNCell(3, 16), URNNCell(3, 16)
    assert torch.equal(a.perm, b.perm) and "perm" in a.state_dict()
    assert sorted(a.perm.tolist()) == list(range(16))
    assert not torch.equal(a.perm, URNNCell(3, 16, permutation_seed=1).perm)
    assert a.output_size == 32


# --------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_unitary_parameters_through_one_step(name: str) -> None:
    cell = make_cell(name, 2, 4).double()
    manifold = {id(p) for p in cell.manifold_parameters()}
    names = [n for n, p in cell.named_parameters() if id(p) in manifold]
    assert len(names) == len(manifold) > 0
    values = dict(cell.named_parameters())
    params = [values[n].detach().clone().requires_grad_(True) for n in names]
    x = torch.randn(3, 2, dtype=F64)
    state = random_state(cell, 3)

    def run(*ps: Tensor) -> tuple[Tensor, ...]:
        y, s = functional_call(cell, dict(zip(names, ps, strict=True)), (x, state))
        return (y, *s)

    assert torch.autograd.gradcheck(run, tuple(params))
    # and the unitary parameters really move the output
    y = run(*params)[0]
    g = torch.autograd.grad(y.square().sum(), params)
    assert all(float(t.abs().max()) > 0 for t in g)


@pytest.mark.parametrize("name", ["urnn", "fullurnn"])
def test_modrelu_at_zero_keeps_gradients_finite(name: str) -> None:
    """Zero state and zero input give ``z = 0`` exactly, where ``z / |z|`` is undefined."""
    cell = make_cell(name, 3, 6).double()
    with torch.no_grad():
        cell.bias.fill_(0.1)
    x = torch.zeros(2, 3, dtype=F64, requires_grad=True)
    state = map_state(lambda t: t.requires_grad_(True), cell.initial_state(2, dtype=F64))
    y, s = cell(x, state)
    assert torch.equal(y, torch.zeros_like(y))
    (y.sum() + s.h_re.sum()).backward()
    grads = [x.grad, state.h_re.grad, state.h_im.grad] + [p.grad for p in cell.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


# --------------------------------------------------------------------------- per-unroll cache


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, attr: str) -> list[int]:
    calls = [0]
    original = getattr(owner, attr)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, attr, counted)
    return calls


@pytest.mark.parametrize(
    ("name", "linalg_fn"),
    [("urnn", None), ("fullurnn", "matrix_exp"), ("exprnn", "matrix_exp"), ("cayley", "solve")],
)
def test_unrolling_computes_the_recurrence_once(
    name: str, linalg_fn: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    T = 7
    layer = Recurrent(make_cell(name, 3, 6)).double()
    cell = layer.cell
    derive = _count(monkeypatch, cell, "_derive")
    linalg = _count(monkeypatch, torch.linalg, linalg_fn) if linalg_fn else [0]
    x = torch.randn(2, T, 3, dtype=F64)
    state = random_state(cell, 2)

    y, final = layer(x, state)
    (y.square().sum() + sum(t.sum() for t in final)).backward()
    assert derive[0] == 1
    assert linalg[0] == (1 if linalg_fn else 0)
    grads = [p.grad.clone() for p in cell.parameters() if p.grad is not None]
    cell.zero_grad(set_to_none=True)

    # step by step outside an unroll: recomputed at every step, with the same results
    s, ys = state, []
    for x_t in x.unbind(1):
        y_t, s = cell(x_t, s)
        ys.append(y_t)
    y_ref = torch.stack(ys, 1)
    (y_ref.square().sum() + sum(t.sum() for t in s)).backward()
    assert derive[0] == 1 + T
    assert linalg[0] == (1 + T if linalg_fn else 0)
    torch.testing.assert_close(y, y_ref)
    for a, e in zip(final, s, strict=True):
        torch.testing.assert_close(a, e)
    ref_grads = [p.grad for p in cell.parameters() if p.grad is not None]
    assert len(ref_grads) == len(grads)
    for a, e in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, e)


def test_unrolling_is_reentrant_and_clears_its_cache() -> None:
    """A nested unroll (a token's unroll inside ``decoding``) reuses the outer cache, except
    when gradients were off for the outer one and are on now; each exit restores."""
    cell = ExpRNNCell(3, 4)
    with cell.unrolling():
        outer = cell._cache
        assert outer is not None and outer.requires_grad
        with cell.unrolling():
            assert cell._cache is outer
        with torch.no_grad(), cell.unrolling():
            assert cell._cache is outer
        assert cell._cache is outer
    assert cell._cache is None
    with torch.no_grad(), cell.unrolling():
        outer = cell._cache
        assert outer is not None and not outer.requires_grad
        with torch.enable_grad(), cell.unrolling():
            inner = cell._cache
            assert inner is not None and inner is not outer and inner.requires_grad
        assert cell._cache is outer
    assert cell._cache is None
    with pytest.raises(RuntimeError), cell.unrolling():
        raise RuntimeError("boom")
    assert cell._cache is None


# ---------------------------------------------------------------------------- initialisation


def _block_values(A: Tensor) -> Tensor:
    """``s`` of the 2x2 blocks ``[[0, s], [-s, 0]]`` on the diagonal of ``A``."""
    return torch.diagonal(A.detach(), 1)[::2]


@pytest.mark.parametrize("n", [10, 9])
@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_exprnn_init_spectrum(init: str, n: int) -> None:
    """W = exp(A - A^T) is block-diagonal with rotations by s: eigenvalues e^{+-is}."""
    cell = ExpRNNCell(3, n, init=init).double()
    W = cell.recurrence_matrix().detach()
    assert unitarity_error(W) < 1e-12
    eig = torch.linalg.eigvals(W)
    torch.testing.assert_close(eig.abs(), torch.ones(n, dtype=F64))
    s = _block_values(cell.A)
    assert s.numel() == n // 2
    expected = torch.cat([s, -s, torch.zeros(n % 2, dtype=F64)])  # odd n: a fixed unit
    torch.testing.assert_close(eig.angle().sort().values, expected.sort().values)
    if init == "henaff":
        assert float(s.abs().max()) < math.pi
    else:  # s = -tan(t/2), t in [0, pi/2): s in (-1, 0]
        assert float(s.max()) <= 0.0 and float(s.min()) > -1.0


def test_cayley_cell_init_spectrum() -> None:
    """scoRNN's init: (I + S)^-1 (I - S) rotates each block's plane by t in [0, pi/2)."""
    n = 10
    cell = CayleyCell(3, n).double()
    Z = cell.recurrence_matrix().detach() * cell.D  # undo the column scaling by D
    assert unitarity_error(Z) < 1e-12
    eig = torch.linalg.eigvals(Z)
    torch.testing.assert_close(eig.abs(), torch.ones(n, dtype=F64))
    t = -2.0 * torch.atan(_block_values(cell.A))  # s = -tan(t/2)
    assert float(t.min()) >= 0.0 and float(t.max()) < math.pi / 2
    torch.testing.assert_close(eig.angle().sort().values, torch.cat([t, -t]).sort().values)


def test_block_skew_init_matches_the_exprnn_code() -> None:
    """Blocks on (0,1), (2,3), ...; nothing elsewhere; the Cayley draw is -tan(t/2)."""
    g = torch.Generator().manual_seed(3)
    A = block_skew_init(7, "cayley", generator=g, dtype=F64)
    g = torch.Generator().manual_seed(3)
    t = torch.empty(3, dtype=F64).uniform_(0.0, math.pi / 2, generator=g)
    s = -torch.tan(t / 2)
    expected = torch.zeros(7, 7, dtype=F64)
    for k in range(3):
        expected[2 * k, 2 * k + 1], expected[2 * k + 1, 2 * k] = s[k], -s[k]
    torch.testing.assert_close(A, expected)


def test_fullurnn_init_is_unitary_with_spread_eigenvalues() -> None:
    cell = FullURNNCell(3, 16).double()
    W = cell.recurrence_matrix().detach()
    assert unitarity_error(W) < 1e-12
    eig = torch.linalg.eigvals(W)
    torch.testing.assert_close(eig.abs(), torch.ones(16, dtype=F64))
    assert float(eig.angle().max() - eig.angle().min()) > math.pi  # not bunched near 1


def test_manifold_parameters() -> None:
    u, f, e, c = (make_cell(n, 3, 4) for n in NAMES)
    assert isinstance(u, URNNCell) and isinstance(f, FullURNNCell)
    assert isinstance(e, ExpRNNCell) and isinstance(c, CayleyCell)
    expected = [[u.theta, u.reflection_re, u.reflection_im], [f.A_re, f.A_im], [e.A], [c.A]]
    for cell, params in zip((u, f, e, c), expected, strict=True):
        got = cell.manifold_parameters()
        assert len(got) == len(params) and all(a is b for a, b in zip(got, params, strict=True))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="init"):
        ExpRNNCell(3, 4, init="haar")
    with pytest.raises(ValueError, match="num_negative"):
        CayleyCell(3, 4, num_negative=5)
    with pytest.raises(ValueError, match="hidden_size"):
        URNNCell(3, 0)
