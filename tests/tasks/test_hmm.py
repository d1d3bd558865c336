"""The hidden Markov process: forward algorithm against brute force, sampling, the task."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnlab.tasks import HMMProcess, HMMTask, TaskOptions, build_task
from rnnlab.tasks.hmm import random_hmm_parameters, stationary_distribution
from rnnlab.training.resolve import resolve_config

F64 = torch.float64


def tiny_process() -> HMMProcess:
    """K=3 states, V=2 symbols, with a zero transition to exercise sparsity."""
    A = torch.tensor([[0.7, 0.3, 0.0], [0.1, 0.6, 0.3], [0.5, 0.0, 0.5]], dtype=F64)
    E = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]], dtype=F64)
    pi = torch.tensor([0.5, 0.3, 0.2], dtype=F64)
    return HMMProcess.from_parameters(A, E, pi)


def brute_force_prob(process: HMMProcess, x: tuple[int, ...]) -> float:
    """P(x_1..x_L) by summing the joint over all K^L hidden paths."""
    A, E, pi = process.transition, process.emission, process.initial
    total = 0.0
    for z in itertools.product(range(process.num_states), repeat=len(x)):
        p = float(pi[z[0]] * E[z[0], x[0]])
        for t in range(1, len(x)):
            p *= float(A[z[t - 1], z[t]] * E[z[t], x[t]])
        total += p
    return total


def test_forward_algorithm_matches_brute_force_enumeration() -> None:
    process = tiny_process()
    L = 4
    seqs = list(itertools.product(range(2), repeat=L))
    tokens = torch.tensor(seqs)  # (16, 4)
    probs = torch.tensor([brute_force_prob(process, s) for s in seqs], dtype=F64)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(process.log_likelihood(tokens), probs.log(), atol=1e-12, rtol=0)
    nd = process.next_distributions(tokens)  # (16, 4, 2)
    for i, s in enumerate(seqs):
        for t in range(L):
            prefix = brute_force_prob(process, s[:t]) if t else 1.0
            for v in range(2):
                expected = brute_force_prob(process, (*s[:t], v)) / prefix
                assert float(nd[i, t, v]) == pytest.approx(expected, abs=1e-12)


def test_next_distributions_are_normalised_float64() -> None:
    process = HMMProcess(32, 16, seed=3)
    x = process.sample(8, 40, torch.Generator().manual_seed(0))
    p = process.next_distributions(x)
    assert p.shape == (8, 40, 16) and p.dtype == F64
    torch.testing.assert_close(p.sum(-1), torch.ones(8, 40, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(p[:, 0], (process.initial @ process.emission).expand(8, -1))


def test_sampling_frequencies_match_the_model() -> None:
    process = tiny_process()
    n = 40_000
    x = process.sample(n, 4, torch.Generator().manual_seed(1))
    codes = (x * torch.tensor([8, 4, 2, 1])).sum(1)
    freq = torch.bincount(codes, minlength=16).to(F64) / n
    seqs = torch.tensor(list(itertools.product(range(2), repeat=4)))
    p = process.log_likelihood(seqs).exp()
    se = (p * (1 - p) / n).sqrt()
    assert bool(((freq - p).abs() < 4.5 * se).all()), (freq - p).abs() / se


def test_exact_step_equals_next_distributions() -> None:
    process = HMMProcess(8, 5, seed=2, num_blocks=2)
    x = process.sample(6, 12, torch.Generator().manual_seed(0))
    state = process.initial_state(6)
    token = torch.full((6,), 5)  # the start symbol reads nothing
    rows = []
    for t in range(12):
        logits, state = process.step(token, state)
        rows.append(logits.exp())
        token = x[:, t]
    torch.testing.assert_close(torch.stack(rows, 1), process.next_distributions(x))


def test_random_process_structure() -> None:
    A, E, pi = random_hmm_parameters(32, 16, seed=0, num_blocks=4, switch_prob=0.02)
    torch.testing.assert_close(A.sum(1), torch.ones(32, dtype=F64))
    torch.testing.assert_close(E.sum(1), torch.ones(32, dtype=F64))
    torch.testing.assert_close(pi @ A, pi)
    torch.testing.assert_close(stationary_distribution(A), pi)
    block = torch.arange(32) * 4 // 32
    leave = (A * (block[:, None] != block[None, :])).sum(1)
    torch.testing.assert_close(leave, torch.full((32,), 0.02, dtype=F64))
    within = (A > 0) & (block[:, None] == block[None, :])
    assert int(within.sum(1).max()) <= 3  # sparse within the block: fanout 3


def test_determinism_by_seed() -> None:
    a, b, c = HMMProcess(32, 16, 0), HMMProcess(32, 16, 0), HMMProcess(32, 16, 1)
    assert torch.equal(a.transition, b.transition) and torch.equal(a.emission, b.emission)
    assert not torch.equal(a.emission, c.emission)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(a.sample(4, 10, g1), b.sample(4, 10, g2))
    t1, t2 = HMMTask(T=16, seed=0), HMMTask(T=16, seed=0)
    assert torch.equal(t1.split("test").y, t2.split("test").y)
    assert torch.equal(t1.train_batch(7, 4).y, t2.train_batch(7, 4).y)
    assert not torch.equal(t1.train_batch(7, 4).y, t1.train_batch(8, 4).y)
    assert not torch.equal(t1.split("val").y, HMMTask(T=16, seed=1).split("val").y)
    assert torch.equal(t1.process.emission, HMMTask(T=16, seed=1).process.emission)


def test_task_layout_and_baseline() -> None:
    task = build_task("hmm", TaskOptions(T=16))
    assert isinstance(task, HMMTask) and task.T == 16 and task.options() == {"T": 16}
    assert task.kind == "lm" and not task.stateful and task.main_metric == "bpc"
    assert (task.input_size, task.output_size, task.start_token) == (17, 16, 16)
    batch = task.train_batch(0, 5)
    assert batch.x.shape == batch.y.shape == (5, 16) and batch.x.dtype == torch.long
    assert bool((batch.x[:, 0] == 16).all()) and torch.equal(batch.x[:, 1:], batch.y[:, :-1])
    test = task.split("test").y
    bits = -float(task.process.log_likelihood(test).sum()) / test.numel() / math.log(2)
    assert task.baseline == pytest.approx(bits)
    # a perfect model's bpc is the baseline; the true rate lies well below log2 V
    assert 2.0 < task.baseline < 3.5
    config = resolve_config("hmm", task, TaskOptions(T=16))
    assert config.model.cell == "lstm" and config.model.hidden_size == 64
    assert config.train.optimizer == "adam" and config.train.steps == 1500


def test_errors_name_the_bad_value() -> None:
    process = tiny_process()
    with pytest.raises(ValueError, match=r"symbol ids must lie in \[0, 2\), got \[0, 2\]"):
        process.next_distributions(torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="num_blocks must lie in"):
        HMMProcess(4, 3, num_blocks=5)
    with pytest.raises(ValueError, match="rows of transition must sum to 1"):
        HMMProcess.from_parameters(torch.ones(2, 2), torch.eye(2), torch.ones(2) / 2)
    with pytest.raises(ValueError, match="probability 0"):
        HMMProcess.from_parameters(torch.eye(2), torch.eye(2), torch.tensor([1.0, 0.0])).update(
            torch.tensor([[1.0, 0.0]], dtype=F64), torch.tensor([1])
        )
    with pytest.raises(ValueError, match="does not apply"):
        build_task("hmm", TaskOptions(data="x"))
