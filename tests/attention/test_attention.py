"""Attention modules: closed forms, masking, normalisation, gradcheck in float64."""

from __future__ import annotations

import pytest
import torch

import rnnlab.attention.base as attention_base
from rnnlab.attention import (
    AdditiveAttention,
    Attention,
    DotAttention,
    GeneralAttention,
    make_attention,
)

KINDS = ["additive", "dot", "general"]


def _inputs(B: int = 3, S: int = 5, Q: int = 4, M: int = 4, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(0)
    query = torch.randn(B, Q, generator=g, dtype=dtype)
    memory = torch.randn(B, S, M, generator=g, dtype=dtype)
    lengths = torch.tensor([S, 2, 1])[:B]
    mask = torch.arange(S).unsqueeze(0) < lengths.unsqueeze(1)
    return query, memory, mask


def _module(kind: str, Q: int = 4, M: int = 4) -> Attention:
    torch.manual_seed(0)
    return make_attention(kind, Q, M).double()


def _reference_scores(attn: Attention, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """Scores written out position by position from the papers' formulas."""
    B, S, _ = memory.shape
    e = torch.empty(B, S, dtype=q.dtype)
    for b in range(B):
        for j in range(S):
            h = memory[b, j]
            if isinstance(attn, AdditiveAttention):
                W_q, W_k = attn.query_proj.weight, attn.key_proj.weight
                hidden = torch.tanh(W_q @ q[b] + W_k @ h + attn.key_proj.bias)
                e[b, j] = attn.v.weight[0] @ hidden
            elif isinstance(attn, GeneralAttention):
                e[b, j] = q[b] @ attn.key_proj.weight @ h
            else:
                e[b, j] = q[b] @ h
    return e


@pytest.mark.parametrize("kind", KINDS)
def test_matches_the_formula_with_masking(kind: str) -> None:
    attn = _module(kind)
    query, memory, mask = _inputs()
    context, weights = attn(query, attn.project_keys(memory), memory, mask)
    e = _reference_scores(attn, query, memory).masked_fill(~mask, float("-inf"))
    alpha = torch.softmax(e, dim=-1)
    torch.testing.assert_close(weights, alpha)
    torch.testing.assert_close(context, torch.einsum("bs,bsm->bm", alpha, memory))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.float64))
    assert bool((weights[~mask] == 0).all())


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_cannot_leak(kind: str) -> None:
    attn = _module(kind)
    query, memory, mask = _inputs()
    noisy = memory.clone()
    noisy[~mask] = 1e6 * torch.randn(int((~mask).sum()), memory.shape[-1], dtype=torch.float64)
    a = attn(query, attn.project_keys(memory), memory, mask)
    b = attn(query, attn.project_keys(noisy), noisy, mask)
    torch.testing.assert_close(a.context, b.context)
    torch.testing.assert_close(a.weights, b.weights)


@pytest.mark.parametrize("kind", KINDS)
def test_all_steps_at_once_equals_one_at_a_time(kind: str) -> None:
    attn = _module(kind)
    _, memory, mask = _inputs()
    queries = torch.randn(3, 6, 4, dtype=torch.float64)
    keys = attn.project_keys(memory)
    together = attn(queries, keys, memory, mask)
    for t in range(6):
        single = attn(queries[:, t], keys, memory, mask)
        torch.testing.assert_close(together.context[:, t], single.context)
        torch.testing.assert_close(together.weights[:, t], single.weights)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("broadcast", [True, False])
def test_a_single_query_reads_alike_by_broadcast_and_by_bmm(
    kind: str, broadcast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query per row takes the broadcast multiply-sum up to BROADCAST_LIMIT (no bmm),
    the batched product above it; both give the formula's context, weights and gradients."""
    attn = _module(kind)
    query, memory, mask = _inputs()
    monkeypatch.setattr(attention_base, "BROADCAST_LIMIT", 1 << 20 if broadcast else 0)
    if broadcast:

        def no_bmm(*args: object) -> None:
            raise AssertionError("a small single query should not call torch.bmm")

        monkeypatch.setattr(torch, "bmm", no_bmm)
    q, m = query.clone().requires_grad_(True), memory.clone().requires_grad_(True)
    context, weights = attn(q, attn.project_keys(m), m, mask)
    (context.square().sum() + weights[:, 0].sum()).backward()
    monkeypatch.undo()
    e = _reference_scores(attn, query, memory).masked_fill(~mask, float("-inf"))
    alpha = torch.softmax(e, dim=-1)
    torch.testing.assert_close(weights, alpha)
    torch.testing.assert_close(context, torch.einsum("bs,bsm->bm", alpha, memory))
    q2, m2 = query.clone().requires_grad_(True), memory.clone().requires_grad_(True)
    ref_weights = torch.softmax(_reference_scores(attn, q2, m2).masked_fill(~mask, -1e9), -1)
    ref = torch.einsum("bs,bsm->bm", ref_weights, m2)
    (ref.square().sum() + ref_weights[:, 0].sum()).backward()
    torch.testing.assert_close(q.grad, q2.grad)
    torch.testing.assert_close(m.grad, m2.grad)


class _Whole(torch.nn.Module):
    """Keys projected and attention applied, so gradcheck covers every parameter."""

    def __init__(self, attn: Attention, mask: torch.Tensor) -> None:
        super().__init__()
        self.attn, self.mask = attn, mask

    def forward(self, q: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.attn(q, self.attn.project_keys(m), m, self.mask)
        return out.context, out.weights


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck(kind: str) -> None:
    query, memory, mask = _inputs(B=2, S=4, Q=3, M=3)
    whole = _Whole(_module(kind, Q=3, M=3), mask)
    names = [n for n, _ in whole.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in whole.parameters()]

    def f(q: torch.Tensor, m: torch.Tensor, *ps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.func.functional_call(whole, dict(zip(names, ps, strict=True)), (q, m))

    inputs = (query.requires_grad_(True), memory.requires_grad_(True), *params)
    assert torch.autograd.gradcheck(f, inputs)


def test_dot_needs_equal_sizes() -> None:
    with pytest.raises(ValueError, match="must be equal"):
        DotAttention(4, 8)
    with pytest.raises(ValueError, match="unknown attention"):
        make_attention("luong", 4, 4)
    assert GeneralAttention(4, 8).project_keys(torch.zeros(1, 2, 8)).shape == (1, 2, 4)
