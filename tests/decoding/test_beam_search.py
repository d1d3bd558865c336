"""beam_search: brute-force optimality, K=1 == greedy, batched == one sentence at a time,
nested-state reordering, per-step extras, eos handling, exact early stopping."""

from __future__ import annotations

import pytest
import torch
from decoding_toys import LSTMLM, Chain, ChainState, hypotheses, score
from torch import Tensor

from rnnlab.cells import select_rows
from rnnlab.decoding import BeamResult, beam_search, gnmt_length_penalty, greedy

START = torch.tensor([0, 3, 1])
PREV = torch.tensor([1, 2, 2])


def sentence(state: object, start: Tensor, b: int) -> tuple[object, Tensor]:
    """Sentence ``b`` alone: its state rows and start token, batch 1."""
    idx = torch.tensor([b])
    return select_rows(state, idx), start[idx]


def check_consistent(model: object, state: object, start: Tensor, out: BeamResult) -> None:
    """Scores sorted; log_probs equal teacher-forced rescoring; scores = log P / lp(n)."""
    B = out.tokens.shape[0]
    assert bool((out.scores[:, :-1] >= out.scores[:, 1:]).all())
    for b in range(B):
        s, st = sentence(state, start, b)
        real = out.lengths[b] > 0
        rescored = score(model, s, st, out.tokens[b][real], out.lengths[b][real])
        assert torch.allclose(out.log_probs[b][real].double(), rescored, atol=1e-5)


@pytest.mark.parametrize("eos", [None, 0])
def test_beam_of_one_equals_greedy(eos: int | None) -> None:
    chain = Chain(6, seed=1, eos=eos, eos_bias=1.0)
    state = chain.initial_state(PREV)
    expected = greedy(chain, state, START, 10, eos=eos)
    out = beam_search(chain, state, START, 1, 10, eos, length_penalty=0.0)
    assert out.tokens.shape[:2] == (3, 1)
    for b in range(3):
        n = int(out.lengths[b, 0])
        assert torch.equal(out.tokens[b, 0, :n], expected[b, :n])
        if eos is not None and n < 10:
            assert out.tokens[b, 0, n - 1] == eos
    check_consistent(chain, state, START, out)


@pytest.mark.parametrize(
    ("make", "V", "L", "eos", "alpha"),
    [
        ("chain", 3, 5, None, 0.0),
        ("chain", 4, 4, 0, 0.0),
        ("chain", 4, 4, 0, 0.6),
        ("chain", 4, 4, 2, 1.5),
        ("lstm", 4, 4, None, 0.0),
        ("lstm", 4, 4, 1, 0.0),
        ("lstm", 4, 4, 1, 1.0),
    ],
)
def test_wide_beam_finds_the_exact_best_hypotheses(
    make: str, V: int, L: int, eos: int | None, alpha: float
) -> None:
    """With K >= the number of prefixes of length L-1 nothing is ever pruned, so the K best
    hypotheses must be the K best of a brute-force enumeration (and early stopping, when it
    happens, must not lose any)."""
    start = START % V
    if make == "chain":
        model: object = Chain(V, seed=2, eos=eos, eos_bias=1.0)
        state: object = model.initial_state(PREV % V)  # type: ignore[attr-defined]
    else:
        model = LSTMLM(V, seed=2)
        state = model.initial_state(3)  # type: ignore[attr-defined]
    K = (V if eos is None else V - 1) ** (L - 1)
    out = beam_search(model, state, start, K, L, eos, length_penalty=alpha)  # type: ignore[arg-type]
    seqs, lengths = hypotheses(V, L, eos)
    lp = ((5 + lengths.double()) / 6) ** alpha
    for b in range(3):
        s, st = sentence(state, start, b)
        brute = score(model, s, st, seqs, lengths) / lp
        best = brute.topk(K).values
        assert torch.allclose(out.scores[b].double(), best, atol=1e-5)
        i = int(brute.argmax())
        n = int(lengths[i])
        assert int(out.lengths[b, 0]) == n
        assert torch.equal(out.tokens[b, 0, :n], seqs[i, :n])
    check_consistent(model, state, start, out)


def test_scores_are_length_normalised_with_gnmt_penalty() -> None:
    chain = Chain(5, seed=0, eos=0, eos_bias=0.5)
    state = chain.initial_state(PREV)
    out = beam_search(chain, state, START, 4, 9, 0, length_penalty=0.8)
    lp = ((5 + out.lengths.double()) / 6) ** 0.8
    assert torch.allclose(out.scores.double(), out.log_probs.double() / lp, atol=1e-6)
    assert gnmt_length_penalty(1, 0.8) == 1.0
    assert gnmt_length_penalty(7, 1.0) == 2.0
    check_consistent(chain, state, START, out)


@pytest.mark.parametrize("eos", [None, 0])
def test_batched_beam_equals_one_sentence_at_a_time_chain(eos: int | None) -> None:
    start = torch.tensor([0, 3, 1, 4, 2, 5])
    prev = torch.tensor([1, 2, 2, 0, 3, 4])
    chain = Chain(6, seed=4, eos=eos, eos_bias=1.0)
    state = chain.initial_state(prev)
    out = beam_search(chain, state, start, 3, 12, eos, length_penalty=0.6)
    for b in range(6):
        s, st = sentence(state, start, b)
        alone = beam_search(chain, s, st, 3, 12, eos, length_penalty=0.6)
        L = alone.tokens.shape[2]
        assert torch.equal(out.tokens[b, :, :L], alone.tokens[0])
        assert bool((out.tokens[b, :, L:] == out.tokens.new_tensor(eos or 0)).all())
        assert torch.equal(out.scores[b], alone.scores[0])  # bitwise: no batch-size effects
        assert torch.equal(out.lengths[b], alone.lengths[0])
    if eos is not None:
        assert len(set(out.lengths[:, 0].tolist())) > 1  # sentences ended at different steps


def test_batched_beam_equals_one_sentence_at_a_time_lstm() -> None:
    model = LSTMLM(9, seed=3)
    start = torch.tensor([0, 3, 1, 4, 2])
    state = model.initial_state(5)
    out = beam_search(model, state, start, 4, 15, 2, length_penalty=0.6)
    for b in range(5):
        s, st = sentence(state, start, b)
        alone = beam_search(model, s, st, 4, 15, 2, length_penalty=0.6)
        L = alone.tokens.shape[2]
        assert torch.equal(out.tokens[b, :, :L], alone.tokens[0])
        assert torch.equal(out.lengths[b], alone.lengths[0])
        torch.testing.assert_close(out.scores[b], alone.scores[0], atol=1e-10, rtol=0)
    check_consistent(model, state, start, out)


def test_nested_state_is_reordered_with_its_beams_and_extras_follow() -> None:
    """The state nests LSTMState and ChainState in a NamedTuple; recording the token read at
    each step (``chain.last``) and the LSTM output must give, along every returned
    hypothesis, its own inputs and the hidden states of teacher-forcing it."""
    model = LSTMLM(6, seed=5)
    state = model.initial_state(3)
    last = beam_search(model, state, START, 3, 8, 0, record=lambda s: s.chain.last)
    hidden = beam_search(model, state, START, 3, 8, 0, record=lambda s: s.lstm.h)
    assert torch.equal(last.tokens, hidden.tokens)
    assert last.extras is not None and hidden.extras is not None
    assert last.extras.shape == last.tokens.shape
    assert hidden.extras.shape == (*hidden.tokens.shape, 16)
    for b in range(3):
        for k in range(3):
            n = int(last.lengths[b, k])
            fed = torch.cat([START[b : b + 1], last.tokens[b, k, : n - 1]])
            assert torch.equal(last.extras[b, k, :n], fed)
            s, _ = sentence(state, START, b)
            hs = []
            for tok in fed:
                _, s = model(tok.view(1), s)
                hs.append(s.lstm.h[0])
            torch.testing.assert_close(hidden.extras[b, k, :n], torch.stack(hs))


def test_eos_hypotheses_end_with_eos_and_are_padded() -> None:
    chain = Chain(6, seed=1, eos=0, eos_bias=0.5)
    state = chain.initial_state(PREV)
    out = beam_search(chain, state, START, 3, 20, 0, length_penalty=0.6, pad=-1)
    for b in range(3):
        for k in range(3):
            n = int(out.lengths[b, k])
            row = out.tokens[b, k]
            assert bool((row[: n - 1] != 0).all())
            assert row[n - 1] == 0 or n == 20
            assert bool((row[n:] == -1).all())


def run_eos_chain(max_length: int, **kwargs: object) -> tuple[BeamResult, int]:
    chain = Chain(6, seed=1, eos=0, eos_bias=2.0)
    out = beam_search(chain, chain.initial_state(PREV), START, 3, max_length, 0, **kwargs)  # type: ignore[arg-type]
    return out, chain.calls


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_exact_stopping_is_early_and_changes_nothing(alpha: float) -> None:
    out, calls = run_eos_chain(50, length_penalty=alpha)
    assert int(out.lengths.max()) <= calls < 50
    # with a far longer limit the search returns the same hypotheses
    longer, _ = run_eos_chain(400, length_penalty=alpha)
    assert torch.equal(longer.tokens, out.tokens) and torch.equal(longer.scores, out.scores)


def test_heuristic_stopping() -> None:
    exact, exact_calls = run_eos_chain(50, length_penalty=1.0)
    fast, fast_calls = run_eos_chain(50, length_penalty=1.0, stopping="heuristic")
    assert fast_calls < exact_calls
    assert bool((fast.scores[:, 0] <= exact.scores[:, 0] + 1e-6).all())
    # with alpha = 0 the two bounds coincide
    a, a_calls = run_eos_chain(50, length_penalty=0.0)
    b, b_calls = run_eos_chain(50, length_penalty=0.0, stopping="heuristic")
    assert a_calls == b_calls and torch.equal(a.tokens, b.tokens)


def test_tiny_vocabulary_leaves_empty_slots() -> None:
    chain = Chain(2, seed=0)
    out = beam_search(chain, chain.initial_state(PREV % 2), START % 2, 5, 2, None, pad=-1)
    # only 2^2 = 4 sequences of length 2 exist
    assert out.scores.shape == (3, 5)
    assert bool(torch.isfinite(out.scores[:, :4]).all())
    assert bool((out.scores[:, 4] == float("-inf")).all())
    assert out.lengths[:, 4].tolist() == [0, 0, 0] and bool((out.tokens[:, 4] == -1).all())
    assert bool((out.lengths[:, :4] == 2).all())


def test_works_with_half_precision_logits() -> None:
    chain = Chain(6, seed=1)

    def step(tokens: Tensor, state: ChainState) -> tuple[Tensor, ChainState]:
        logits, state = chain(tokens, state)
        return logits.bfloat16(), state

    out = beam_search(step, chain.initial_state(PREV), START, 2, 5, None)
    assert out.scores.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beam_size": 0}, "beam_size must be a positive integer, got 0"),
        ({"max_length": 0}, "max_length must be a positive integer, got 0"),
        ({"eos": -1}, "eos must be a non-negative token id, got -1"),
        ({"eos": 6}, "eos must be a token id below the vocabulary size 6, got 6"),
        ({"length_penalty": float("nan")}, "length_penalty must be a finite number, got nan"),
        ({"start": START[None]}, r"start must have shape \(B,\) with B >= 1, got \(1, 3\)"),
        ({"start": START[:2]}, r"batch \(2\) first, got shape \(3,\)"),
        ({"stopping": "never"}, "stopping must be 'exact' or 'heuristic', got 'never'"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    chain = Chain(6)
    args = {"beam_size": 2, "max_length": 4, "eos": 0, "start": START} | kwargs
    with pytest.raises(ValueError, match=match):
        beam_search(
            chain,
            chain.initial_state(PREV),
            args.pop("start"),
            args.pop("beam_size"),
            args.pop("max_length"),
            args.pop("eos"),
            **args,
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    chain = Chain(6, seed=1, eos=0, eos_bias=1.0)
    cpu = beam_search(chain, chain.initial_state(PREV), START, 3, 12, 0)
    gpu = beam_search(chain, chain.initial_state(PREV.cuda()), START.cuda(), 3, 12, 0)
    assert gpu.tokens.device.type == "cuda"
    assert torch.equal(gpu.tokens.cpu(), cpu.tokens)
    torch.testing.assert_close(gpu.scores.cpu(), cpu.scores)
    g = greedy(chain, chain.initial_state(PREV.cuda()), START.cuda(), 12, eos=0)
    assert torch.equal(g.cpu(), greedy(chain, chain.initial_state(PREV), START, 12, eos=0))
