"""NTM addressing against independent constructions: explicit loops over slots and heads,
and a circulant matrix built entry by entry for the shift (Graves et al. 2014, eq. 5-9)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from rnnlab.memory.addressing import (
    address,
    circular_shift,
    content_weights,
    cosine_similarity,
    interpolate,
    read,
    sharpen,
    write,
)

F64 = torch.float64
B, K, N, M = 2, 3, 7, 4


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def simplex(*shape: int) -> Tensor:
    return torch.softmax(torch.randn(*shape, dtype=F64), dim=-1)


def test_content_weights_match_the_loop_over_slots() -> None:
    keys, memory = torch.randn(B, K, M, dtype=F64), torch.randn(B, N, M, dtype=F64)
    beta = torch.rand(B, K, dtype=F64) * 5
    got = content_weights(keys, beta, memory, eps=0.0)
    cos = cosine_similarity(keys, memory, eps=0.0)
    for b in range(B):
        for h in range(K):
            k = keys[b, h]
            scores = [
                float(beta[b, h]) * float(k @ memory[b, i]) / float(k.norm() * memory[b, i].norm())
                for i in range(N)
            ]
            z = sum(math.exp(s) for s in scores)
            for i in range(N):
                assert float(got[b, h, i]) == pytest.approx(math.exp(scores[i]) / z, rel=1e-12)
                assert float(cos[b, h, i]) == pytest.approx(scores[i] / float(beta[b, h]))


def circulant(s: Tensor, n: int) -> Tensor:
    """The ``n x n`` matrix ``C[i, j] = s(i - j)``, offsets ``-S..S`` taken modulo ``n``."""
    S = (s.numel() - 1) // 2
    C = torch.zeros(n, n, dtype=s.dtype)
    for i in range(n):
        for j in range(n):
            for k in range(-S, S + 1):
                if (i - j - k) % n == 0:
                    C[i, j] += s[S + k]
    return C


@pytest.mark.parametrize("S", [1, 2, 3, 4])  # 4: offsets wrap past one another (2S+1 > N)
def test_circular_shift_is_the_circulant_matrix(S: int) -> None:
    w, s = simplex(B, K, N), simplex(B, K, 2 * S + 1)
    got = circular_shift(w, s)
    for b in range(B):
        for h in range(K):
            torch.testing.assert_close(got[b, h], circulant(s[b, h], N) @ w[b, h])


def test_shift_by_one_moves_a_one_hot_weighting_to_the_next_slot() -> None:
    w = torch.zeros(1, 1, N, dtype=F64)
    w[0, 0, N - 1] = 1.0
    forward = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=F64)  # all mass on offset +1
    assert circular_shift(w, forward)[0, 0].argmax() == 0  # wraps around
    with pytest.raises(ValueError, match="2S\\+1"):
        circular_shift(w, torch.ones(1, 1, 2, dtype=F64))


def test_interpolation_and_sharpening_follow_the_equations() -> None:
    content, previous = simplex(B, K, N), simplex(B, K, N)
    g, gamma = torch.rand(B, K, dtype=F64), 1 + 3 * torch.rand(B, K, dtype=F64)
    mixed = interpolate(content, previous, g)
    sharp = sharpen(mixed, gamma, eps=0.0)
    for b in range(B):
        for h in range(K):
            gg = float(g[b, h])
            expected = [
                gg * float(content[b, h, i]) + (1 - gg) * float(previous[b, h, i]) for i in range(N)
            ]
            torch.testing.assert_close(mixed[b, h], torch.tensor(expected, dtype=F64))
            powered = [v ** float(gamma[b, h]) for v in expected]
            total = sum(powered)
            torch.testing.assert_close(
                sharp[b, h], torch.tensor([p / total for p in powered], dtype=F64)
            )


@pytest.mark.parametrize("gamma", [6.0, 10.0, 20.0])
def test_sharpening_a_spread_out_weighting_sums_to_one(gamma: float) -> None:
    """128 slots near 1/128 (a first weighting over a constant memory) sharpened hard, in
    float32: the powers are ~1e-13..1e-42, yet the result is the float64 quotient of
    eq. 9 and sums to 1 (a quotient of float32 powers plus eps in the sum gave ~0)."""
    spread = torch.softmax(0.2 * torch.randn(1, 1, 128, dtype=F64), dim=-1)
    powered = [float(v) ** gamma for v in spread[0, 0]]
    expected = torch.tensor([v / sum(powered) for v in powered], dtype=F64)
    got = sharpen(spread.float(), torch.full((1, 1), gamma))
    torch.testing.assert_close(got[0, 0].double(), expected, rtol=1e-4, atol=1e-7)
    assert abs(float(got.sum()) - 1.0) < 1e-5


def test_address_composes_the_four_steps() -> None:
    memory, previous = torch.randn(B, N, M, dtype=F64), simplex(B, K, N)
    key = torch.randn(B, K, M, dtype=F64)
    beta, gate = torch.rand(B, K, dtype=F64), torch.rand(B, K, dtype=F64)
    shift, gamma = simplex(B, K, 3), 1 + torch.rand(B, K, dtype=F64)
    expected = sharpen(
        circular_shift(interpolate(content_weights(key, beta, memory), previous, gate), shift),
        gamma,
    )
    got = address(memory, previous, key, beta, gate, shift, gamma)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(-1), torch.ones(B, K, dtype=F64))


def test_read_and_write_match_the_loops() -> None:
    memory, weights = torch.randn(B, N, M, dtype=F64), simplex(B, K, N)
    erase, add = torch.rand(B, K, M, dtype=F64), torch.randn(B, K, M, dtype=F64)
    r = read(memory, weights)
    new = write(memory, weights, erase, add)
    for b in range(B):
        for h in range(K):
            expected = sum(weights[b, h, i] * memory[b, i] for i in range(N))
            torch.testing.assert_close(r[b, h], expected)
        for i in range(N):
            row = memory[b, i].clone()
            for h in range(K):  # erase with every head, then add every head's vector
                row = row * (1 - weights[b, h, i] * erase[b, h])
            for h in range(K):
                row = row + weights[b, h, i] * add[b, h]
            torch.testing.assert_close(new[b, i], row)


def test_eps_guards_keep_gradients_finite_where_nans_come_from() -> None:
    """A zero key against zero memory rows (the cosine's norms), weights that are exactly
    zero or negative (sharpening's pow), all with finite gradients."""
    keys = torch.zeros(1, 1, M, dtype=F64, requires_grad=True)
    memory = torch.zeros(1, N, M, dtype=F64, requires_grad=True)
    beta = torch.ones(1, 1, dtype=F64, requires_grad=True)
    w = content_weights(keys, beta, memory)
    w.pow(2).sum().backward()
    for t in (keys, memory, beta):
        assert t.grad is not None and bool(torch.isfinite(t.grad).all())
    weights = torch.zeros(1, 1, N, dtype=F64)
    weights[0, 0, 0], weights[0, 0, 1] = 1.0, -0.5
    weights.requires_grad_(True)
    gamma = torch.full((1, 1), 2.5, dtype=F64, requires_grad=True)
    out = sharpen(weights, gamma)
    assert bool(torch.isfinite(out).all()) and float(out.detach().min()) >= 0
    out[0, 0, 0].backward()
    assert weights.grad is not None and gamma.grad is not None
    assert bool(torch.isfinite(weights.grad).all()) and bool(torch.isfinite(gamma.grad).all())
