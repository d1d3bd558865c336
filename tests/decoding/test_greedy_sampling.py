"""greedy / sample / sample_iter over a known second-order Markov chain and an LSTM LM."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from decoding_toys import LSTMLM, Chain, ChainState, Outer
from torch import Tensor

from rnnlab.decoding import greedy, greedy_iter, sample, sample_iter, sequence_lengths

V = 7
START = torch.tensor([0, 3, 5, 6])
PREV = torch.tensor([1, 1, 4, 2])


def chain_args(chain: Chain) -> tuple[Chain, ChainState, Tensor]:
    return chain, chain.initial_state(PREV), START


def manual_greedy(chain: Chain, length: int) -> Tensor:
    """The argmax chain, one row at a time in plain Python."""
    rows = []
    for prev2, prev in zip(PREV.tolist(), START.tolist(), strict=True):
        row = []
        for _ in range(length):
            nxt = int(chain.to_logits(prev2, prev).argmax())
            row.append(nxt)
            prev2, prev = prev, nxt
        rows.append(row)
    return torch.tensor(rows)


def test_greedy_equals_manual_argmax_chain() -> None:
    chain = Chain(V)
    out = greedy(*chain_args(chain), 12)
    assert out.shape == (4, 12) and out.dtype == torch.long
    assert torch.equal(out, manual_greedy(chain, 12))


def test_greedy_iter_yields_one_step_at_a_time() -> None:
    chain = Chain(V)
    steps = list(greedy_iter(*chain_args(chain), 5))
    assert len(steps) == 5 and all(s.shape == (4,) for s in steps)
    assert torch.equal(torch.stack(steps, 1), greedy(*chain_args(Chain(V)), 5))


def test_greedy_eos_pads_finished_rows_and_stops_when_all_done() -> None:
    eos = 2
    chain = Chain(V, seed=2, eos=eos, eos_bias=2.5)
    free = greedy(*chain_args(Chain(V, seed=2, eos=eos, eos_bias=2.5)), 30)  # no eos handling
    out = greedy(*chain_args(chain), 30, eos=eos, pad=-1)
    lengths = sequence_lengths(free, eos)
    assert bool((lengths < 30).all()), "the toy chain should end every row"
    L = int(lengths.max())
    assert out.shape == (4, L) and chain.calls == L  # stopped as soon as all rows ended
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(out[b, :n], free[b, :n])
        assert out[b, n - 1] == eos
        assert bool((out[b, n:] == -1).all())
    # pad defaults to eos
    out_eos = greedy(*chain_args(Chain(V, seed=2, eos=eos, eos_bias=2.5)), 30, eos=eos)
    assert torch.equal(out_eos, torch.where(out == -1, eos, out))


def test_sequence_lengths() -> None:
    tokens = torch.tensor([[1, 2, 0, 0], [0, 1, 1, 1], [3, 3, 3, 3]])
    assert sequence_lengths(tokens, 0).tolist() == [3, 1, 4]


def test_greedy_with_nested_lstm_state() -> None:
    model = LSTMLM(V)
    state = model.initial_state(4)
    out = greedy(model, state, START, 6)
    # manual: one row at a time
    for b in range(4):
        s = Outer(
            type(state.lstm)(state.lstm.h[b : b + 1], state.lstm.c[b : b + 1]),
            ChainState(state.chain.last[b : b + 1], state.chain.count[b : b + 1]),
        )
        tok = START[b : b + 1]
        for t in range(6):
            logits, s = model(tok, s)
            tok = logits.argmax(-1)
            assert tok.item() == out[b, t].item()


def sampler(**kwargs: object) -> Callable[[int], Tensor]:
    def run(seed: int) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        return sample(*chain_args(Chain(V)), 15, generator=g, **kwargs)  # type: ignore[arg-type]

    return run


def test_sampling_at_low_temperature_equals_greedy() -> None:
    expected = greedy(*chain_args(Chain(V)), 15)
    for seed in range(3):
        assert torch.equal(sampler(temperature=1e-4)(seed), expected)


def test_top_k_one_equals_greedy() -> None:
    expected = greedy(*chain_args(Chain(V)), 15)
    for seed in range(3):
        assert torch.equal(sampler(top_k=1, temperature=2.0)(seed), expected)
        assert torch.equal(sampler(top_p=1e-6, temperature=2.0)(seed), expected)


def test_same_seed_same_samples() -> None:
    run = sampler(temperature=1.3, top_p=0.9)
    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_iter_streams_the_same_tokens() -> None:
    g = torch.Generator().manual_seed(5)
    it = sample_iter(*chain_args(Chain(V)), 15, temperature=0.8, top_k=4, generator=g)
    streamed = torch.stack(list(it), dim=1)
    assert torch.equal(streamed, sampler(temperature=0.8, top_k=4)(5))


def one_step_frequencies(logits: Tensor, n: int, **kwargs: object) -> Tensor:
    """Empirical distribution of the first sampled token over ``n`` rows."""

    def step(tokens: Tensor, state: ChainState) -> tuple[Tensor, ChainState]:
        return logits.expand(tokens.shape[0], -1), state

    start = torch.zeros(n, dtype=torch.long)
    state = ChainState(start, start)
    g = torch.Generator().manual_seed(0)
    out = sample(step, state, start, 1, generator=g, **kwargs)  # type: ignore[arg-type]
    return torch.bincount(out[:, 0], minlength=logits.shape[0]).double() / n


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_frequencies_match_softmax_over_temperature(temperature: float) -> None:
    logits = torch.tensor([1.0, -0.5, 0.3, 2.0, 0.0])
    freq = one_step_frequencies(logits, 20_000, temperature=temperature)
    expected = (logits.double() / temperature).softmax(-1)
    # binomial std <= sqrt(0.25 / 20000) = 0.0035: 0.015 is over 4 std
    assert torch.allclose(freq, expected, atol=0.015), (freq, expected)


def test_sampling_frequencies_with_top_k_and_top_p() -> None:
    probs = torch.tensor([0.1, 0.4, 0.2, 0.3])
    freq = one_step_frequencies(probs.log(), 20_000, top_p=0.5)
    assert torch.allclose(freq, torch.tensor([0, 4 / 7, 0, 3 / 7]).double(), atol=0.015)
    freq = one_step_frequencies(probs.log(), 20_000, top_k=3)
    assert torch.allclose(freq, torch.tensor([0, 4 / 9, 2 / 9, 3 / 9]).double(), atol=0.015)


def test_sampling_eos_pads_finished_rows() -> None:
    eos = 2
    g = torch.Generator().manual_seed(0)
    chain = Chain(V, seed=2, eos=eos, eos_bias=2.5)
    out = sample(*chain_args(chain), 40, eos=eos, pad=-1, generator=g)
    lengths = sequence_lengths(out, eos)
    assert bool((lengths < 40).all()), "the toy chain should end every row"
    assert out.shape[1] == int(lengths.max()) == chain.calls
    for b, n in enumerate(lengths.tolist()):
        assert bool((out[b, :n] >= 0).all()) and out[b, n - 1] == eos
        assert bool((out[b, n:] == -1).all())
    assert len(set(lengths.tolist())) > 1  # rows really finish at different steps


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.0}, "temperature must be a positive number, got 0.0"),
        ({"temperature": -1.0}, "temperature must be a positive number, got -1.0"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_p": 1.01}, r"top_p must be in \(0, 1\], got 1.01"),
        ({"top_k": 0}, "top_k must be a positive integer, got 0"),
        ({"max_length": 0}, "max_length must be a positive integer, got 0"),
        ({"eos": 99}, "eos must be a token id below the vocabulary size 7, got 99"),
        ({"eos": -2}, "eos must be a non-negative token id, got -2"),
    ],
)
def test_bad_sampling_arguments(kwargs: dict, match: str) -> None:
    max_length = kwargs.pop("max_length", 3)
    with pytest.raises(ValueError, match=match):
        sample(*chain_args(Chain(V)), max_length, **kwargs)


def test_sample_iter_checks_arguments_when_called() -> None:
    with pytest.raises(ValueError, match="temperature"):
        sample_iter(*chain_args(Chain(V)), 3, temperature=0.0)


@pytest.mark.parametrize(
    ("start", "match"),
    [
        (
            torch.zeros(2, 3, dtype=torch.long),
            r"start must have shape \(B,\) with B >= 1, got \(2, 3\)",
        ),
        (torch.zeros(0, dtype=torch.long), r"start must have shape \(B,\) with B >= 1, got \(0,\)"),
        (torch.zeros(4), "start must hold integer token ids, got dtype torch.float32"),
    ],
)
def test_bad_start(start: Tensor, match: str) -> None:
    chain = Chain(V)
    with pytest.raises(ValueError, match=match):
        greedy(chain, chain.initial_state(PREV), start, 3)


def test_state_batch_must_match_start() -> None:
    chain = Chain(V)
    with pytest.raises(ValueError, match=r"batch \(3\) first, got shape \(4,\)"):
        greedy(chain, chain.initial_state(PREV), START[:3], 3)
