"""Clockwork RNN: the schedule, the block structure, and that skipped modules cost nothing.

The generic behaviour (stepwise == unroll, padding, gradcheck, state round trips) is in the
conformance suite, which runs over the registered ``clockwork`` cell.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from rnnlab.bench import run_benchmarks
from rnnlab.cells import ClockworkCell, ClockworkState, ElmanCell, StatePart, make_cell
from rnnlab.cells.clockwork import default_num_modules
from rnnlab.layers import Recurrent

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def dense_reference(
    cell: ClockworkCell, x: Tensor, h0: Tensor, t0: Tensor
) -> tuple[Tensor, Tensor]:
    """Every module computed with the full masked ``W_h``, inactive ones copied back."""
    m, g = cell.module_size, cell.num_modules
    periods = torch.tensor(cell.periods)
    # block (i, j) is connected when module j is at least as slow as module i
    blocks = (periods.unsqueeze(0) >= periods.unsqueeze(1)).to(F64)  # (g, g)
    W = cell.weight_hh * torch.kron(blocks, torch.ones(m, m, dtype=F64))
    h, t, ys = h0, t0.clone(), []
    for x_t in x.unbind(1):
        # the same arithmetic as the cell, on all H units: tanh(W_h h + (W_x x_t + b))
        new = torch.tanh(torch.addmm(torch.addmm(cell.bias, x_t, cell.weight_ih.T), h, W.T))
        active = (t.unsqueeze(1) % periods == 0).repeat_interleave(m, dim=1)  # (B, H)
        h = torch.where(active, new, h)
        t = t + 1
        ys.append(h)
    assert g * m == cell.hidden_size
    return torch.stack(ys, dim=1), h


@pytest.mark.parametrize(
    ("periods", "t0"),
    [
        (None, [0, 0, 0]),  # 1, 2, 4, 8 from the start
        (None, [5, 5, 5]),  # a continued sequence
        ((1, 3, 5, 5), [0, 0, 0]),  # periods that do not divide each other, a tie
        (None, [0, 3, 6]),  # rows at different steps
    ],
)
def test_equals_dense_masked_reference(periods: tuple[int, ...] | None, t0: list[int]) -> None:
    cell = ClockworkCell(3, 12, num_modules=4, periods=periods).to(F64)
    x = torch.randn(3, 20, 3, dtype=F64)
    h0 = torch.randn(3, 12, dtype=F64)
    t = torch.tensor(t0)
    y, final = Recurrent(cell)(x, ClockworkState(h0, t))
    y_ref, h_ref = dense_reference(cell, x, h0, t)
    # equal up to float64 rounding: a GEMM (and tanh) on a row prefix may order its sums
    # differently from one on all rows; differences seen are ~2e-16
    torch.testing.assert_close(y, y_ref, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(final.h, h_ref, rtol=1e-14, atol=1e-14)
    assert torch.equal(final.t, t + 20)


def test_inactive_modules_copy_exactly() -> None:
    cell = ClockworkCell(2, 8, num_modules=4)  # periods 1, 2, 4, 8; modules of 2 units
    x = torch.randn(4, 16, 2)
    y, _ = Recurrent(cell)(x)
    h = torch.cat([torch.zeros(4, 1, 8), y], dim=1)  # h[:, t] = h_{t-1}
    for t in range(16):
        for i, period in enumerate(cell.periods):
            units = slice(2 * i, 2 * i + 2)
            same = torch.equal(h[:, t + 1, units], h[:, t, units])
            assert same == (t % period != 0), (t, i)


def test_slow_modules_do_not_read_fast_ones() -> None:
    """d h_t[module j] / d h_{t-1}[module i] is zero for faster i < j, non-zero otherwise."""
    cell = ClockworkCell(2, 12, num_modules=3).to(F64)  # periods 1, 2, 4; m = 4
    x = torch.randn(1, 2, dtype=F64)
    h0 = torch.randn(1, 12, dtype=F64)
    t0 = torch.zeros(1, dtype=torch.long)  # step 0: every module updates

    def step(h: Tensor) -> Tensor:
        return cell(x, ClockworkState(h, t0))[0]

    J = torch.autograd.functional.jacobian(step, h0)[0, :, 0]  # (H out, H in)
    m = cell.module_size
    for j in range(3):  # reading module (rows)
        for i in range(3):  # read module (columns)
            block = J[j * m : (j + 1) * m, i * m : (i + 1) * m]
            if i < j:
                assert torch.equal(block, torch.zeros_like(block)), (j, i)
            else:
                assert block.abs().sum() > 0, (j, i)
    # and the lower blocks of the parameter get no gradient from a whole unroll
    y, _ = Recurrent(cell)(torch.randn(2, 9, 2, dtype=F64))
    y.sum().backward()
    assert cell.weight_hh.grad is not None
    lower = cell.connectivity == 0
    assert lower.any() and torch.equal(cell.weight_hh.grad[lower], torch.zeros(int(lower.sum())))


def recurrent_flops(fn: object) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()  # type: ignore[operator]
    return int(counter.get_total_flops())


def test_step_computes_only_the_active_prefix() -> None:
    """Matmul FLOPs of step t are 2 B (k m) (H + D), k the number of modules that tick."""
    B, D, H, g = 4, 3, 32, 4
    m = H // g
    cell = ClockworkCell(D, H, num_modules=g)  # periods 1, 2, 4, 8
    state = cell.initial_state(B)
    p = cell.project_input(torch.randn(B, 10, D))
    total = 0
    with torch.no_grad(), cell.unrolling():
        for t, p_t in enumerate(p.unbind(1)):
            k = sum(t % period == 0 for period in cell.periods)
            with FlopCounterMode(display=False) as counter:
                _, state = cell.step(p_t, state)
            flops = int(counter.get_total_flops())
            assert flops == 2 * B * (k * m) * (H + D), t
            total += flops
    dense = 2 * B * H * (H + D) * 10
    # ks over t = 0..9: 4 1 2 1 3 1 2 1 4 1 -> 20 of 40 module-steps
    assert total == dense * 20 // 40


def test_forward_backward_cheaper_than_dense_elman() -> None:
    B, T, D, H = 2, 32, 1, 64
    x = torch.randn(B, T, D)
    clock = Recurrent(ClockworkCell(D, H, num_modules=8))
    dense = Recurrent(ElmanCell(D, H), fast=False)

    def train_step(layer: Recurrent) -> int:
        return recurrent_flops(lambda: layer(x)[0].sum().backward())

    # power-of-two periods: about 2 of 8 modules tick per step
    assert train_step(clock) < 0.35 * train_step(dense)


def test_masked_weight_is_formed_once_per_unroll(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = ClockworkCell(2, 16, num_modules=4)
    calls = []
    original = cell.recurrence_matrix

    def spy() -> Tensor:
        calls.append(1)
        return original()

    monkeypatch.setattr(cell, "recurrence_matrix", spy)
    Recurrent(cell)(torch.randn(3, 40, 2))[0].sum().backward()
    assert len(calls) == 1


def test_gradcheck_custom_periods_and_ragged_rows() -> None:
    cell = ClockworkCell(2, 6, periods=(1, 2, 3)).to(F64)
    layer = Recurrent(cell)
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    x = torch.randn(3, 7, 2, dtype=F64, requires_grad=True)
    h0 = torch.randn(3, 6, dtype=F64, requires_grad=True)
    t0 = torch.tensor([0, 1, 4])
    lengths = torch.tensor([7, 3, 5])

    def run(x: Tensor, h0: Tensor, *ps: Tensor) -> tuple[Tensor, Tensor]:
        state = ClockworkState(h0, t0)
        y, final = functional_call(layer, dict(zip(names, ps, strict=True)), (x, state, lengths))
        return y, final.h

    assert torch.autograd.gradcheck(run, (x, h0, *params))


def test_state_parts_are_the_modules_fast_to_slow() -> None:
    # the split gradient_flow reports per module: m = H / g units each, named with the period
    assert ClockworkCell(2, 12, periods=[1, 3, 9]).state_parts() == [
        StatePart("module 1 (period 1)", 0, 4),
        StatePart("module 2 (period 3)", 4, 4),
        StatePart("module 3 (period 9)", 8, 4),
    ]
    parts = ClockworkCell(1, 16).state_parts()  # 8 modules of 2 units, periods 1..128
    assert [(p.start, p.length) for p in parts] == [(2 * i, 2) for i in range(8)]
    assert parts[-1].name == "module 8 (period 128)"
    assert ElmanCell(1, 16).state_parts() == []


def test_registry_default_modules() -> None:
    assert default_num_modules(1024) == 8
    assert [default_num_modules(h) for h in (5, 9, 12, 11)] == [5, 3, 6, 1]
    cell = make_cell("clockwork", 3, 64)
    assert isinstance(cell, ClockworkCell)
    assert cell.periods == (1, 2, 4, 8, 16, 32, 64, 128)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(hidden_size=10, num_modules=4), "hidden_size 10 is not a multiple of num_modules 4"),
        (dict(hidden_size=8, num_modules=0), "num_modules must be a positive integer, got 0"),
        (dict(hidden_size=8, periods=(2, 1)), r"fast to slow .*\(2, 1\)"),
        (dict(hidden_size=8, num_modules=2, periods=(1, 2, 4)), r"2 entries, got \(1, 2, 4\)"),
        (dict(hidden_size=8, periods=(1, 0)), "every period must be a positive integer, got 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClockworkCell(3, **kwargs)  # type: ignore[arg-type]


def test_quick_benchmark_reports_a_ratio() -> None:
    (result,) = run_benchmarks(select="clockwork", repeats=1, quick=True)
    assert result.name == "clockwork_vs_dense_elman"
    assert result.ratio == result.numerator_s / result.denominator_s > 0
    assert "ClockworkCell" in result.numerator and "fast=False" in result.denominator
    assert result.config["periods"] == [1, 2, 4, 8, 16, 32, 64, 128]
