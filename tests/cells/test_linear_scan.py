"""The linear-scan primitive: every kernel against a plain autograd loop written here from
the recurrence ``h_t = a_t h_{t-1} + b_t``, on values, final state and every gradient
(the initial state's too), at awkward lengths and extreme decays; gradcheck; errors; the
backward's cost linear in ``T``; the dispatch table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from torch import Tensor

from rnnlab.cells import scan_table
from rnnlab.cells.linear_scan import METHODS, hold_padding, linear_scan, log_linear_scan

F64, C128 = torch.float64, torch.complex128


def naive(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def draw(T: int, dtype: torch.dtype, decay: str, shape: tuple[int, ...] = (2, 3)) -> list[Tensor]:
    g = torch.Generator().manual_seed(T)
    B, *S = shape
    mod = torch.rand(B, T, *S, generator=g, dtype=F64)
    # decays near 0, near 1, or spread over (0, 1)
    mod = {"zero": 1e-7 * mod, "one": 1 - 1e-7 * mod, "spread": mod}[decay]
    b = torch.randn(B, T, *S, generator=g, dtype=F64)
    h0 = torch.randn(B, *S, generator=g, dtype=F64)
    if dtype.is_complex:
        phase = torch.rand(B, T, *S, generator=g, dtype=F64) * 6.28
        a = torch.polar(mod, phase)
        b = torch.complex(b, torch.randn_like(b))
        h0 = torch.complex(h0, torch.randn_like(h0))
        return [a, b, h0]
    return [mod, b, h0]


def values_and_grads(fn, a: Tensor, b: Tensor, h0: Tensor) -> list[Tensor]:  # type: ignore[no-untyped-def]
    leaves = [t.clone().requires_grad_(True) for t in (a, b, h0)]
    h = fn(*leaves)
    weights = torch.linspace(-1, 1, h.numel(), dtype=F64).view(h.shape)
    loss = (h.real * weights).sum() + (h[:, -1].abs() ** 2).sum()
    return [h.detach(), *torch.autograd.grad(loss, leaves)]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("dtype", [F64, C128], ids=["real", "complex"])
@pytest.mark.parametrize(
    ("T", "decay"),
    [(1, "spread"), (63, "spread"), (75, "zero"), (75, "one"), (1500, "spread")],
)
def test_scan_equals_loop_values_and_gradients(
    method: str, dtype: torch.dtype, T: int, decay: str
) -> None:
    a, b, h0 = draw(T, dtype, decay)
    got = values_and_grads(lambda *t: linear_scan(*t, method=method), a, b, h0)
    want = values_and_grads(naive, a, b, h0)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("chunk", [1, 7, 10, 75])
def test_chunk_lengths(chunk: int) -> None:
    a, b, h0 = draw(75, F64, "spread", shape=(2, 3, 2))  # a state of shape (3, 2)
    got = values_and_grads(lambda *t: linear_scan(*t, method="chunked", chunk=chunk), a, b, h0)
    for g, w in zip(got, values_and_grads(naive, a, b, h0), strict=True):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("dtype", [F64, C128], ids=["real", "complex"])
def test_gradcheck(method: str, dtype: torch.dtype) -> None:
    a, b, h0 = (t.requires_grad_(True) for t in draw(5, dtype, "spread"))
    assert torch.autograd.gradcheck(lambda *t: linear_scan(*t, method=method), (a, b, h0))


def test_log_space_form() -> None:
    a, b, h0 = draw(63, F64, "spread")
    b, h0 = b.abs() + 0.1, h0.abs() + 0.1
    torch.testing.assert_close(log_linear_scan(a.log(), b.log(), h0.log()), naive(a, b, h0))
    # from a zero state (log h0 = None)
    torch.testing.assert_close(log_linear_scan(a.log(), b.log()), naive(a, b, 0 * h0))


def test_padding_holds_the_state() -> None:
    a, b, h0 = draw(10, F64, "spread")
    mask = torch.arange(10).unsqueeze(0) < torch.tensor([[4], [10]])
    a_p, b_p = hold_padding(a.masked_fill(~mask.unsqueeze(-1), float("nan")), b, mask)
    h = linear_scan(a_p, b_p, h0)
    torch.testing.assert_close(h[0, 4:], h[0, 3].expand(6, -1))
    torch.testing.assert_close(h[0, :4], naive(a[:1, :4], b[:1, :4], h0[:1])[0])


def test_errors_are_one_line() -> None:
    a, b, h0 = draw(5, F64, "spread")
    cases = [
        (lambda: linear_scan(a[:, :0], b[:, :0], h0), "T = 0"),
        (lambda: linear_scan(a, b, h0, chunk=6), "chunk must be at most"),
        (lambda: linear_scan(a, b, h0, chunk=0), "chunk must be a positive"),
        (lambda: linear_scan(a, b[:, :4], h0), "one shape"),
        (lambda: linear_scan(a, b, h0[:1]), "h0 must have shape"),
        (lambda: linear_scan(a, b, h0, method="fft"), "unknown scan method"),
        (lambda: linear_scan(a, b.float(), h0), "share a dtype"),
    ]
    for call, words in cases:
        with pytest.raises((ValueError, TypeError), match=words) as info:
            call()
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("method", ["auto", "loop"])
def test_backward_time_grows_linearly(method: str) -> None:
    """4x the length costs about 4x (a per-step slice in the graph would cost ~16x)."""

    def seconds(T: int) -> float:
        a = torch.rand(1, T, 4, requires_grad=True)
        b = torch.randn(1, T, 4, requires_grad=True)
        h0 = torch.zeros(1, 4, requires_grad=True)
        best = float("inf")
        for _ in range(3):
            h = linear_scan(a, b, h0, method=method)
            start = time.perf_counter()
            h.sum().backward()
            best = min(best, time.perf_counter() - start)
        return best

    seconds(500)  # warm up
    ratio = seconds(8000) / seconds(2000)
    assert ratio < 9, f"backward 4x longer took {ratio:.1f}x the time"


def test_dispatch_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path))
    assert scan_table.choose(256, 4000, "cpu") == ("chunked", None)
    assert scan_table.choose(10, 10, "no-such-device") == ("loop", None)
    # a calibration file replaces the built-in rows of the devices it measured
    rows = [scan_table.ScanChoice("cpu", 100, 100, "tree")]
    path = scan_table.write_table(rows)
    assert json.loads(path.read_text())[0]["method"] == "tree"
    assert scan_table.choose(5000, 9000, "cpu") == ("tree", None)
    a, b, h0 = draw(9, F64, "spread")
    torch.testing.assert_close(linear_scan(a, b, h0), naive(a, b, h0))
    path.write_text("not json")
    scan_table._loaded.clear()
    with pytest.raises(ValueError, match="not a scan calibration table"):
        scan_table.read_table(path)
    assert scan_table.choose(256, 4000, "cpu") == ("chunked", None)  # unreadable: built-in
