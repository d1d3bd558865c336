"""The scan cells (minGRU, minLSTM, LRU and its block, S6, DeltaNet, Mamba) against
independent step-by-step constructions from their papers' equations; their ``scan``
against the step loop at awkward lengths and extreme gates (outputs, final state, every
gradient); padding and truncated-BPTT carry against one long sequence; one-line errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.cells import (
    Cell,
    DeltaNetCell,
    LRUBlockCell,
    LRUCell,
    MambaCell,
    MinGRUCell,
    MinLSTMCell,
    S6Cell,
    make_cell,
    select_rows,
    step_loop,
)
from rnnlab.layers import Recurrent

F64 = torch.float64
SCAN_CELLS = ["mingru", "minlstm", "lru", "lru_block", "s6", "deltanet", "mamba"]


def g_paper(x: Tensor) -> Tensor:
    return torch.where(x >= 0, x + 0.5, 1 / (1 + torch.exp(-x)))


def sigmoid(x: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-x))


def paper_mingru(cell: MinGRUCell, x: Tensor, h: Tensor) -> Tensor:
    H = cell.hidden_size
    W, b = cell.linear.weight, cell.linear.bias
    out = []
    for t in range(x.shape[1]):
        z = sigmoid(x[:, t] @ W[:H].t() + b[:H])
        cand = g_paper(x[:, t] @ W[H:].t() + b[H:])
        h = (1 - z) * h + z * cand
        out.append(h)
    return torch.stack(out, 1)


def paper_minlstm(cell: MinLSTMCell, x: Tensor, h: Tensor) -> Tensor:
    H = cell.hidden_size
    W, b = cell.linear.weight, cell.linear.bias
    out = []
    for t in range(x.shape[1]):
        f = sigmoid(x[:, t] @ W[:H].t() + b[:H])
        i = sigmoid(x[:, t] @ W[H : 2 * H].t() + b[H : 2 * H])
        cand = g_paper(x[:, t] @ W[2 * H :].t() + b[2 * H :])
        h = f / (f + i) * h + i / (f + i) * cand
        out.append(h)
    return torch.stack(out, 1)


def paper_lru(cell: LRUCell, x: Tensor, h: Tensor) -> Tensor:
    lam = torch.exp(-torch.exp(cell.nu_log) + 1j * torch.exp(cell.theta_log))
    gamma = torch.exp(cell.gamma_log)
    B = cell.B_re + 1j * cell.B_im
    C = cell.C_re + 1j * cell.C_im
    out = []
    for t in range(x.shape[1]):
        u = x[:, t].to(B.dtype)
        h = lam * h + gamma * (u @ B.t())
        out.append((h @ C.t()).real + x[:, t] @ cell.D.t())
    return torch.stack(out, 1)


def paper_lru_block(cell: LRUBlockCell, x: Tensor, h: Tensor) -> Tensor:
    # u = LayerNorm(x) (biased variance, eps 1e-5), the LRU, g = gelu (erf), GLU
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    u = (x - mean) / torch.sqrt(var + 1e-5) * cell.norm.weight + cell.norm.bias
    g = paper_lru(cell.lru, u, h)
    g = 0.5 * g * (1 + torch.erf(g / math.sqrt(2)))
    H = cell.hidden_size
    W, b = cell.gate.weight, cell.gate.bias
    return (g @ W[:H].t() + b[:H]) * sigmoid(g @ W[H:].t() + b[H:])


def paper_s6(cell: S6Cell, x: Tensor, h: Tensor) -> Tensor:
    A = -torch.exp(cell.A_log)  # (H, N)
    r, N = cell.dt_rank, cell.state_size
    out = []
    for t in range(x.shape[1]):
        W_u = getattr(cell.in_proj, "weight", None)
        u = x[:, t] if W_u is None else x[:, t] @ W_u.t()  # (B, H)
        proj = u @ cell.x_proj.weight.t()
        dt_low, Bt, Ct = proj[:, :r], proj[:, r : r + N], proj[:, r + N :]
        delta = F.softplus(dt_low @ cell.dt_proj.weight.t() + cell.dt_proj.bias)  # (B, H)
        # h[b, c, n] = exp(delta[b, c] A[c, n]) h[b, c, n] + delta[b, c] B[b, n] u[b, c]
        dA = torch.exp(torch.einsum("bc,cn->bcn", delta, A))
        h = dA * h + torch.einsum("bc,bn,bc->bcn", delta, Bt, u)
        out.append(torch.einsum("bcn,bn->bc", h, Ct) + cell.d * u)
    return torch.stack(out, 1)


def paper_deltanet(cell: DeltaNetCell, x: Tensor, S: Tensor) -> Tensor:
    H, heads, d = cell.hidden_size, cell.heads, cell.head_size
    Wq, Wk, Wv = cell.qkv.weight.split(H)
    eye = torch.eye(d, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        beta = sigmoid(xt @ cell.beta.weight.t() + cell.beta.bias)  # (B, heads)
        ys = []
        for j in range(heads):
            sl = slice(j * d, (j + 1) * d)
            q = F.normalize(F.silu(xt @ Wq[sl].t()), dim=-1)
            k = F.normalize(F.silu(xt @ Wk[sl].t()), dim=-1)
            v = xt @ Wv[sl].t()
            bj = beta[:, j, None, None]
            # S_t = S_{t-1} (I - beta k k^T) + beta v k^T, o = S q
            kkT = k.unsqueeze(-1) * k.unsqueeze(-2)
            vkT = v.unsqueeze(-1) * k.unsqueeze(-2)
            S_j = S[:, j] @ (eye - bj * kkT) + bj * vkT
            S = torch.cat([S[:, :j], S_j.unsqueeze(1), S[:, j + 1 :]], dim=1)
            ys.append((S_j @ q.unsqueeze(-1)).squeeze(-1))
        out.append(torch.cat(ys, -1))
    return torch.stack(out, 1)


def paper_mamba(cell: MambaCell, x: Tensor, h: Tensor) -> Tensor:
    E, K = cell.inner, cell.kernel
    proj = x @ cell.in_proj.weight.t() + cell.in_proj.bias
    xi, z = proj[..., :E], proj[..., E:]
    c = torch.zeros_like(xi)
    for t in range(x.shape[1]):  # c_t = silu(sum_j w_j xi_{t-j} + b), zero before the start
        acc = cell.conv_bias.expand_as(xi[:, t])
        for j in range(K):
            if t - j >= 0:
                acc = acc + cell.conv_weight[:, K - 1 - j] * xi[:, t - j]
        c[:, t] = F.silu(acc)
    y6 = paper_s6(cell.s6, c, h)
    return (y6 * F.silu(z)) @ cell.out_proj.weight.t() + cell.out_proj.bias


PAPER = {
    "mamba": paper_mamba,
    "mingru": paper_mingru,
    "minlstm": paper_minlstm,
    "lru": paper_lru,
    "lru_block": paper_lru_block,
    "s6": paper_s6,
    "deltanet": paper_deltanet,
}
OPTIONS: dict[str, dict[str, object]] = {
    "deltanet": {"heads": 2},
    "s6": {"state_size": 3},
    "mamba": {"state_size": 3},
}


def cell_of(name: str, d: int = 3, h: int = 4, **options: object) -> Cell:
    torch.manual_seed(0)
    return make_cell(name, d, h, **{**OPTIONS.get(name, {}), **options}).to(F64)


def make_state(cell: Cell, h0: Tensor) -> Any:
    """The cell's state with ``h0`` as its first field, the rest (Mamba's convolution
    inputs) drawn from a fixed seed."""
    s = cell.initial_state(h0.shape[0], dtype=F64)
    g = torch.Generator().manual_seed(1)
    return type(s)(h0, *(0.5 * torch.randn(t.shape, generator=g, dtype=F64) for t in s[1:]))


def random_h0(cell: Cell, batch: int) -> Tensor:
    h0 = cell.initial_state(batch, dtype=F64)[0]
    return 0.5 * torch.randn_like(h0)


@pytest.mark.parametrize("name", SCAN_CELLS)
def test_scan_follows_the_papers_equations(name: str) -> None:
    cell = cell_of(name)
    x = torch.randn(2, 75, 3, dtype=F64)
    h0 = random_h0(cell, 2)
    zero = cell.initial_state(2, dtype=F64)  # Mamba's convolution starts from zeros
    y, _ = cell.scan(x, type(zero)(h0, *zero[1:]))
    torch.testing.assert_close(y, PAPER[name](cell, x, h0))  # type: ignore[operator]


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_log_space_equals_plain_scan(name: str) -> None:
    plain, logs = cell_of(name), cell_of(name, log_space=True)
    x = torch.randn(2, 63, 3, dtype=F64)
    state = type(plain.initial_state(1))(random_h0(plain, 2))
    lengths = torch.tensor([63, 20])
    for lens in (None, lengths):
        y, s = plain.scan(x, state, lens)
        y_log, s_log = logs.scan(x, state, lens)
        torch.testing.assert_close(y_log, y)
        torch.testing.assert_close(s_log.h, s.h)


def test_lru_ring_initialisation() -> None:
    cell = LRUCell(3, 2000, r_min=0.4, r_max=0.9, max_phase=math.pi / 4)
    lam = cell.eigenvalues().detach()
    modulus, phase = lam.abs(), lam.angle()
    assert modulus.min() >= 0.4 - 1e-6 and modulus.max() <= 0.9 + 1e-6
    # |lambda|^2 uniform on [r_min^2, r_max^2]: its mean is the midpoint
    assert abs(float((modulus**2).mean()) - (0.4**2 + 0.9**2) / 2) < 0.02
    assert phase.min() >= 0 and phase.max() <= math.pi / 4 + 1e-6
    torch.testing.assert_close(torch.exp(cell.gamma_log).detach(), torch.sqrt(1 - modulus**2))


# extreme settings: decays near 0 and near 1
EXTREMES = [
    ("mingru", {}, "bias", 30.0),  # z ~ 1: a ~ 0
    ("mingru", {}, "bias", -30.0),  # z ~ 0: a ~ 1
    ("minlstm", {}, "bias", 30.0),
    ("lru", {"r_min": 0.9999, "r_max": 0.99999}, None, 0.0),
    ("lru", {"r_min": 0.0, "r_max": 1e-4}, None, 0.0),
    ("s6", {"dt_min": 10.0, "dt_max": 20.0}, None, 0.0),  # exp(Delta A) ~ 0
    ("s6", {"dt_min": 1e-6, "dt_max": 1e-5}, None, 0.0),  # ~ 1
    ("deltanet", {}, "beta", 30.0),  # beta ~ 1
]


def run_and_grads(cell: Cell, x: Tensor, h0: Tensor, fn: str, lengths: Tensor | None) -> list:  # type: ignore[type-arg]
    x = x.clone().requires_grad_(True)
    h0 = h0.clone().requires_grad_(True)
    state = make_state(cell, h0)
    if fn == "scan":
        y, final = cell.scan(x, state, lengths)
    else:
        y, final, _ = step_loop(cell, x, state, lengths)
    w = torch.linspace(-1, 1, y.numel(), dtype=F64).view_as(y)
    loss = (y * w).sum() + (final[0].abs() ** 2).sum()
    grads = torch.autograd.grad(loss, [x, h0, *cell.parameters()])
    return [y.detach(), final[0].detach(), *grads]


@pytest.mark.parametrize("T", [1, 63, 75])
@pytest.mark.parametrize(("name", "options", "which", "value"), EXTREMES)
def test_scan_equals_step_loop_at_extremes(
    name: str, options: dict[str, object], which: str | None, value: float, T: int
) -> None:
    cell = cell_of(name, **options)
    with torch.no_grad():
        if which == "bias":
            cell.linear.bias.fill_(value)  # type: ignore[union-attr, operator]
        elif which == "beta":
            cell.beta.bias.fill_(value)  # type: ignore[union-attr, operator]
    x = torch.randn(3, T, 3, dtype=F64)
    h0 = random_h0(cell, 3)
    lengths = torch.tensor([T, max(1, T // 2), 1])
    for lens in (None, lengths):
        got = run_and_grads(cell, x, h0, "scan", lens)
        want = run_and_grads(cell, x, h0, "loop", lens)
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", SCAN_CELLS)
def test_truncated_carry_and_padding_equal_one_long_sequence(name: str) -> None:
    cell = cell_of(name)
    x = torch.randn(2, 75, 3, dtype=F64)
    state = make_state(cell, random_h0(cell, 2))
    params = list(cell.parameters())
    y, final = cell.scan(x, state)
    full = torch.autograd.grad(y.sum() + final[0].abs().sum(), params)
    # in two pieces with the state carried (not detached): same outputs, state, gradients
    y1, s1 = cell.scan(x[:, :40], state)
    y2, s2 = cell.scan(x[:, 40:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y)
    for a, b in zip(s2, final, strict=True):
        torch.testing.assert_close(a, b)
    split = torch.autograd.grad(y1.sum() + y2.sum() + s2[0].abs().sum(), params)
    for a, b in zip(split, full, strict=True):
        torch.testing.assert_close(a, b)
    # a row padded from 40 to 75 steps equals that row cut to 40
    y_pad, s_pad = cell.scan(x, state, torch.tensor([75, 40]))
    y_cut, s_cut = cell.scan(x[1:, :40], select_rows(state, torch.tensor([1])))
    torch.testing.assert_close(y_pad[1:, :40], y_cut)
    assert not y_pad[1, 40:].any()
    for a, b in zip(select_rows(s_pad, torch.tensor([1])), s_cut, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(y_pad[:1], y[:1])


def test_bad_options_are_one_line_errors() -> None:
    cases = [
        (lambda: LRUCell(3, 4, r_min=0.9, r_max=0.5), "r_min <= r_max"),
        (lambda: LRUCell(3, 4, r_max=1.0), "r_max < 1"),
        (lambda: LRUCell(3, 4, max_phase=0.0), "max_phase"),
        (lambda: S6Cell(3, 4, dt_min=0.1, dt_max=0.01), "dt_min <= dt_max"),
        (lambda: S6Cell(3, 4, dt_max=math.inf), "S6 dt_max must be a finite number > 0, got inf"),
        (lambda: S6Cell(3, 4, dt_min="a"), "S6 dt_min must be a finite number"),  # type: ignore[arg-type]
        (lambda: LRUCell(3, 4, r_min="0.9"), "LRU r_min must be a finite number >= 0"),  # type: ignore[arg-type]
        (lambda: LRUCell(3, 4, r_max=math.nan), "LRU r_max must be a finite number"),
        (lambda: LRUCell(3, 4, max_phase=math.inf), "LRU max_phase must be a finite number"),
        (lambda: DeltaNetCell(3, 4, chunk=0), "chunk must be a positive integer, got 0"),
        (lambda: DeltaNetCell(3, 5, heads=2), "must divide"),
        (lambda: MinGRUCell(3, 4, scan_method="fft"), "scan_method"),
        (
            lambda: cell_of("mingru").scan(
                torch.zeros(1, 0, 3, dtype=F64), cell_of("mingru").initial_state(1)
            ),
            "T = 0",
        ),
    ]
    for make, words in cases:
        with pytest.raises(ValueError, match=words) as info:
            make()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", SCAN_CELLS)
def test_no_time_steps_is_a_one_line_error(name: str) -> None:
    """T = 0: the cell's own ``scan`` and ``Recurrent`` (scan and step loop) name it."""
    cell = cell_of(name)
    x = torch.zeros(2, 0, 3, dtype=F64)
    calls = [
        (lambda: cell.scan(x, cell.initial_state(2, dtype=F64)), "T = 0"),
        (lambda: Recurrent(cell)(x), "no time steps"),
        (lambda: Recurrent(cell, fast=False)(x), "no time steps"),
    ]
    for call, words in calls:
        with pytest.raises(ValueError, match=words) as info:
            call()
        assert "\n" not in str(info.value)


def test_deltanet_chunk_longer_than_the_sequence_equals_step_loop() -> None:
    """A chunk longer than T runs as one chunk of T steps: the step loop's result."""
    cell = cell_of("deltanet", chunk=50)
    x = torch.randn(2, 7, 3, dtype=F64)
    h0 = random_h0(cell, 2)
    for lens in (None, torch.tensor([7, 3])):
        got = run_and_grads(cell, x, h0, "scan", lens)
        for a, b in zip(got, run_and_grads(cell, x, h0, "loop", lens), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("chunk", [2, 7, 16, 75])
def test_deltanet_chunked_form_equals_recurrent_form(chunk: int) -> None:
    from rnnlab.cells.deltanet import delta_rule_chunked, delta_rule_recurrent

    g = torch.Generator().manual_seed(chunk)
    B, T, h, d = 2, 75, 2, 4
    q, k = (F.normalize(torch.randn(B, T, h, d, generator=g, dtype=F64), dim=-1) for _ in "qk")
    v = torch.randn(B, T, h, d, generator=g, dtype=F64)
    beta = torch.rand(B, T, h, generator=g, dtype=F64)
    beta[:, ::5] = 1.0  # a full overwrite now and then
    S0 = torch.randn(B, h, d, d, generator=g, dtype=F64)
    leaves = [t.requires_grad_(True) for t in (q, k, v, beta, S0)]

    def run(fn) -> list[Tensor]:  # type: ignore[no-untyped-def]
        o, S = fn(*leaves)
        w = torch.linspace(-1, 1, o.numel(), dtype=F64).view_as(o)
        return [o, S, *torch.autograd.grad((o * w).sum() + (S * S).sum(), leaves)]

    got = run(lambda *t: delta_rule_chunked(*t, chunk))
    for a, b in zip(got, run(delta_rule_recurrent), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", ["mingru", "lru", "s6"])
def test_scan_in_blocks_of_time_equals_step_loop(name: str) -> None:
    """Long sequences run in blocks of time with the state carried: same as the loop."""
    cell = cell_of(name)
    cell.scan_block_elements = 50  # blocks of a few steps, the last one partial
    x = torch.randn(3, 31, 3, dtype=F64)
    h0 = random_h0(cell, 3)
    for lens in (None, torch.tensor([31, 9, 1])):
        got = run_and_grads(cell, x, h0, "scan", lens)
        for a, b in zip(got, run_and_grads(cell, x, h0, "loop", lens), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", SCAN_CELLS)
def test_bfloat16_autocast_keeps_the_recurrence_in_the_states_precision(name: str) -> None:
    """``--bf16`` trains under autocast: the projections run in bfloat16, the coefficients,
    scan and state in the state's precision; scan, step loop and float32 agree closely."""
    torch.manual_seed(0)
    cell = make_cell(name, 3, 8, **OPTIONS.get(name, {}))
    x = torch.randn(2, 40, 3)
    state = cell.initial_state(2)
    reference, _ = cell.scan(x, state)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, final = cell.scan(x, state)
        y_loop, final_loop, _ = step_loop(cell, x, state)
    assert final[0].dtype == final_loop[0].dtype == state[0].dtype
    # a layer whose input is bfloat16 (the layer below ran under autocast) asks for its
    # state in bfloat16: it gets the full precision
    assert cell.initial_state(2, dtype=torch.bfloat16)[0].dtype == state[0].dtype
    torch.testing.assert_close(y.float(), reference, atol=0.05, rtol=0.05)
    torch.testing.assert_close(y.float(), y_loop.float(), atol=0.05, rtol=0.05)
