"""Multi-head attention against torch.nn.MultiheadAttention with copied weights; mask
conventions and alignment; position schemes against their papers' formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab.attention import MultiHeadAttention, Rotary, alibi_bias, alibi_slopes, attend
from rnnlab.attention.multihead import causal_mask
from rnnlab.attention.positions import LearnedPositions, sinusoidal_table

F64 = torch.float64


def _pair(E: int = 12, h: int = 3, bias: bool = True) -> tuple[MultiHeadAttention, nn.Module]:
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, h, bias=bias).double()
    ref = nn.MultiheadAttention(E, h, bias=bias, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.in_proj.weight)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        if bias:
            ref.in_proj_bias.copy_(ours.in_proj.bias)
            ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ours.eval(), ref.eval()


@pytest.mark.parametrize("need_weights", [False, True])
def test_self_attention_with_padding_matches_torch(need_weights: bool) -> None:
    ours, ref = _pair()
    x = torch.randn(3, 7, 12, dtype=F64)
    real = torch.arange(7) < torch.tensor([7, 4, 1])[:, None]  # (B, S) True: attend
    out, w = ours(x, mask=real[:, None, None, :], need_weights=need_weights)
    # torch's key_padding_mask is the opposite convention: True = ignore
    expected, ref_w = ref(x, x, x, key_padding_mask=~real, need_weights=True)
    torch.testing.assert_close(out, expected)
    if need_weights:
        assert w is not None and w.shape == (3, 3, 7, 7)
        torch.testing.assert_close(w.mean(1), ref_w)  # torch averages over heads
        assert bool((w[1, :, :, 4:] == 0).all())  # padded keys get no weight
    else:
        assert w is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_causal_and_cross_attention_match_torch(need_weights: bool) -> None:
    ours, ref = _pair(E=8, h=2)
    x = torch.randn(2, 5, 8, dtype=F64)
    memory = torch.randn(2, 9, 8, dtype=F64)
    out, _ = ours(x, causal=True, need_weights=need_weights)
    future = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)  # torch: True = masked
    expected, _ = ref(x, x, x, attn_mask=future)
    torch.testing.assert_close(out, expected)
    out, _ = ours(x, memory, need_weights=need_weights)
    expected, _ = ref(x, memory, memory)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("Tq", [1, 3, 6])
def test_cached_queries_use_the_bottom_right_causal_mask(Tq: int, need_weights: bool) -> None:
    """The last ``Tq`` queries over all 6 keys equal the last rows of full causal attention;
    top-left alignment (``is_causal`` with fewer queries) would hide keys they may read."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 6, 4, dtype=F64, generator=g) for _ in range(3))
    full, _ = attend(q, k, v, causal=True)
    last, _ = attend(q[:, :, -Tq:], k, v, causal=True, need_weights=need_weights)
    torch.testing.assert_close(last, full[:, :, -Tq:])
    # with an extra mask the causal part is folded in the same way
    bias = torch.randn(3, Tq, 6, dtype=F64, generator=g)
    masked, _ = attend(q[:, :, -Tq:], k, v, bias, causal=True, need_weights=need_weights)
    scores = q[:, :, -Tq:] @ k.transpose(-2, -1) / 2 + bias
    scores = scores.masked_fill(~causal_mask(Tq, 6), float("-inf"))
    torch.testing.assert_close(masked, scores.softmax(-1) @ v)
    if Tq < 6:
        top_left = nn.functional.scaled_dot_product_attention(q[:, :, -Tq:], k, v, is_causal=True)
        assert not torch.allclose(top_left, full[:, :, -Tq:])


def test_causal_mask_alignment() -> None:
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]
    with pytest.raises(ValueError, match="at least as many keys"):
        causal_mask(3, 2)


def test_padded_keys_do_not_leak() -> None:
    """Whatever the padded keys and values hold, the outputs stay (True = attend)."""
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 2, 5, 4, dtype=F64, generator=g) for _ in range(3))
    real = (torch.arange(5) < torch.tensor([3, 5])[:, None])[:, None, None, :]
    out, _ = attend(q, k, v, real)
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 3:], v2[0, :, 3:] = 100.0, -100.0
    out2, _ = attend(q, k2, v2, real)
    torch.testing.assert_close(out2, out)
    assert not torch.allclose(attend(q, k2, v2)[0], out)  # without the mask they would


def test_bad_shapes_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=r"query must have shape \(B, T, 8\)"):
        MultiHeadAttention(8, 2)(torch.randn(2, 3, 5))


def test_rotary_is_the_half_rotated_complex_rotation() -> None:
    """Features ``(i, i + d/2)`` as one complex number, multiplied by
    ``exp(i p 10000^(-2i/d))`` (RoFormer's rotation, GPT-NeoX layout)."""
    d, positions = 8, torch.tensor([0, 3, 17, 1000])
    x = torch.randn(2, 4, d, dtype=F64)
    cos, sin = Rotary(d).angles(positions, F64)
    rotated = Rotary.rotate(x, cos, sin)
    z = torch.complex(x[..., : d // 2], x[..., d // 2 :])
    theta = positions[:, None].double() * 10000.0 ** (-torch.arange(0, d, 2).double() / d)
    expected = z * torch.exp(1j * theta)
    torch.testing.assert_close(rotated, torch.cat([expected.real, expected.imag], -1))


def test_rotary_scores_depend_on_the_distance_only() -> None:
    rope = Rotary(6)
    q, k = torch.randn(6, dtype=F64), torch.randn(6, dtype=F64)

    def score(m: int, n: int) -> torch.Tensor:
        cq, sq = rope.angles(torch.tensor([m]), F64)
        ck, sk = rope.angles(torch.tensor([n]), F64)
        return (Rotary.rotate(q, cq, sq) * Rotary.rotate(k, ck, sk)).sum()

    torch.testing.assert_close(score(7, 3), score(1007, 1003))
    assert not torch.allclose(score(7, 3), score(7, 4))


def test_alibi_slopes_and_bias() -> None:
    assert alibi_slopes(8).tolist() == [2.0**-i for i in range(1, 9)]
    # 6 heads: the 4-head slopes, then every other slope of 8 heads (Press et al.'s code)
    expected = [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]
    torch.testing.assert_close(alibi_slopes(6), torch.tensor(expected))
    bias = alibi_bias(torch.tensor([0.5, 0.25]), torch.tensor([5, 6]), torch.arange(7))
    assert bias.shape == (2, 2, 7)
    assert bias[0, 0].tolist() == [-2.5, -2.0, -1.5, -1.0, -0.5, 0.0, -0.5]
    assert bias[1, 1, 6] == 0 and bias[1, 1, 2] == -1.0


def test_sinusoidal_table_is_the_papers() -> None:
    table = sinusoidal_table(torch.arange(50), 6)
    p, i = 37, 2
    assert math.isclose(table[p, 2 * i], math.sin(p / 10000 ** (2 * i / 6)), abs_tol=1e-6)
    assert math.isclose(table[p, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 6)), abs_tol=1e-6)


def test_learned_positions_stop_at_max_length() -> None:
    table = LearnedPositions(4, 3)
    assert table(torch.arange(4)).shape == (4, 3)
    with pytest.raises(ValueError, match="past the learned table of 4 positions"):
        table(torch.arange(5))
