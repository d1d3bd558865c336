"""filter_logits: top-k and nucleus (top-p) keep the right sets on hand-made distributions."""

from __future__ import annotations

import pytest
import torch

from rnnlab.decoding import filter_logits

# probabilities in decreasing order: 0.4 (1), 0.3 (3), 0.2 (2), 0.1 (0)
PROBS = torch.tensor([0.1, 0.4, 0.2, 0.3])


def kept(logits: torch.Tensor) -> set[int]:
    return set(torch.nonzero(torch.isfinite(logits)).flatten().tolist())


@pytest.mark.parametrize(
    ("top_p", "expected"),
    [
        (1e-6, {1}),  # always at least the most probable token
        (0.35, {1}),  # 0.4 >= 0.35
        (0.5, {1, 3}),  # 0.4 < 0.5 <= 0.7
        (0.69, {1, 3}),
        (0.75, {1, 3, 2}),  # 0.7 < 0.75 <= 0.9
        (0.95, {0, 1, 2, 3}),  # 0.9 < 0.95
        (1.0, {0, 1, 2, 3}),
    ],
)
def test_top_p_keeps_smallest_set_reaching_p(top_p: float, expected: set[int]) -> None:
    assert kept(filter_logits(PROBS.log(), top_p=top_p)) == expected


def test_top_p_is_invariant_to_a_logit_shift_and_keeps_logit_values() -> None:
    logits = PROBS.log() + 7.0
    out = filter_logits(logits, top_p=0.5)
    assert kept(out) == {1, 3}
    assert torch.equal(out[[1, 3]], logits[[1, 3]])
    assert torch.all(out[[0, 2]] == float("-inf"))


@pytest.mark.parametrize(("top_k", "expected"), [(1, {1}), (2, {1, 3}), (3, {1, 2, 3})])
def test_top_k_keeps_k_largest(top_k: int, expected: set[int]) -> None:
    assert kept(filter_logits(PROBS.log(), top_k=top_k)) == expected


def test_top_k_at_least_vocabulary_is_a_no_op() -> None:
    logits = torch.randn(3, 5)
    assert torch.equal(filter_logits(logits, top_k=5), logits)
    assert torch.equal(filter_logits(logits, top_k=50), logits)
    assert torch.equal(filter_logits(logits), logits)


def test_top_k_then_top_p_on_renormalised_survivors() -> None:
    # top-2 leaves {0.4, 0.3}, renormalised {0.571, 0.429}: p = 0.5 keeps only token 1, while
    # top-p alone on the full distribution would keep {1, 3}
    assert kept(filter_logits(PROBS.log(), top_k=2, top_p=0.5)) == {1}
    assert kept(filter_logits(PROBS.log(), top_k=2, top_p=0.6)) == {1, 3}


def test_rows_are_filtered_independently() -> None:
    logits = torch.stack([PROBS.log(), PROBS.flip(0).log()])  # second row: 0.3, 0.2, 0.4, 0.1
    out = filter_logits(logits, top_p=0.5)
    assert kept(out[0]) == {1, 3}
    assert kept(out[1]) == {2, 0}


def test_does_not_modify_its_input() -> None:
    logits = torch.randn(2, 6)
    before = logits.clone()
    out = filter_logits(logits, top_k=2, top_p=0.3)
    assert torch.equal(logits, before)
    assert out.data_ptr() != logits.data_ptr()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k must be a positive integer, got 0"),
        ({"top_k": 2.0}, "top_k must be a positive integer, got 2.0"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\], got 1.5"),
        ({"top_p": -0.1}, r"top_p must be in \(0, 1\], got -0.1"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        filter_logits(torch.zeros(4), **kwargs)
