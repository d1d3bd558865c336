"""``rnnlab.cells.decoding``: derived recurrent weights once per generation, not per token.

An expRNN's ``W = exp(A - A^T)`` (``torch.linalg.matrix_exp``) and a scoRNN's Cayley
transform (``torch.linalg.solve``) are counted while models generate token by token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from rnnlab.cells import decoding, make_cell
from rnnlab.decoding import decode_sources, generate, greedy, sample
from rnnlab.layers import Recurrent
from rnnlab.models import ConditionalGenerator, LanguageModel, RNNConfig, build_model
from rnnlab.tasks.base import Batch
from rnnlab.tasks.seq2seq import collate_sources
from rnnlab.tasks.spec import TaskSpec
from rnnlab.training.professor_forcing import free_running_run
from rnnlab.training.scheduled_sampling import scheduled_sampling_forward

V, N = 11, 20  # vocabulary, tokens generated


@pytest.fixture
def count(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[int]]:
    """``count("matrix_exp")``: a one-item list holding the calls of ``torch.linalg.<name>``
    since the fixture was asked for it."""

    def install(name: str) -> list[int]:
        calls = [0]
        original = getattr(torch.linalg, name)

        def counted(*args: Any, **kw: Any) -> Any:
            calls[0] += 1
            return original(*args, **kw)

        monkeypatch.setattr(torch.linalg, name, counted)
        return calls

    return install


def lm(cell: str = "exprnn", num_layers: int = 1) -> LanguageModel:
    config = RNNConfig(cell=cell, hidden_size=8, embedding_size=6, num_layers=num_layers)
    model = build_model(config, TaskSpec("lm", V, V)).eval()
    assert isinstance(model, LanguageModel)
    return model


def test_language_model_derives_w_once_per_generation(
    count: Callable[[str], list[int]],
) -> None:
    model = lm()
    calls = count("matrix_exp")
    start = torch.tensor([1, 2, 3])
    with torch.no_grad():
        plain = greedy(model.step, None, start, N)
        assert calls[0] == N  # one unroll per token, one matrix_exp each
        calls[0] = 0
        with decoding(model):
            cached = greedy(model.step, None, start, N)
    assert calls[0] == 1
    assert torch.equal(cached, plain)
    # sampling too, with the same generator: the same tokens
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        sampled = sample(model.step, None, start, N, generator=g)
        calls[0] = 0
        with decoding(model):
            g = torch.Generator().manual_seed(3)
            assert torch.equal(sample(model.step, None, start, N, generator=g), sampled)
    assert calls[0] == 1


def test_nested_contexts_and_stacks_derive_once_per_cell(
    count: Callable[[str], list[int]],
) -> None:
    model = lm(num_layers=2)
    calls = count("matrix_exp")
    with torch.no_grad(), decoding(model), decoding(model):
        greedy(model.step, None, torch.tensor([1]), N)
    assert calls[0] == 2  # one per layer
    # the cache is cleared on exit: a later step derives afresh
    with torch.no_grad():
        model.step(torch.tensor([1]), None)
    assert calls[0] == 4


def test_cayley_language_model(count: Callable[[str], list[int]]) -> None:
    model = lm("cayley")
    calls = count("solve")
    start = torch.tensor([4, 5])
    with torch.no_grad():
        plain = greedy(model.step, None, start, N)
        before = calls[0]
        with decoding(model):
            assert torch.equal(greedy(model.step, None, start, N), plain)
    assert before >= N and calls[0] - before == 1


def test_generate_and_decode_sources_enter_the_context(
    count: Callable[[str], list[int]],
) -> None:
    calls = count("matrix_exp")
    config = RNNConfig(cell="exprnn", hidden_size=8, embedding_size=6)
    torch.manual_seed(0)
    generator = build_model(config, TaskSpec("vec2seq", 4, V))
    assert isinstance(generator, ConditionalGenerator)
    generate(generator, torch.eye(4)[[0, 3]], N)
    assert calls[0] == 1

    calls[0] = 0
    model = build_model(config, TaskSpec("seq2seq", 12, 9))
    x, lengths = collate_sources([[4, 5, 6], [7, 8], [9, 10, 11, 4]])
    decode_sources(model, x, lengths, N, beam_size=3)
    assert calls[0] == 2  # the encoder's cell and the decoder's, once each


def test_training_loops_stay_differentiable(count: Callable[[str], list[int]]) -> None:
    """With gradients on, the cached ``W`` is in the graph: scheduled sampling at teacher
    probability 1 is teacher forcing, gradients included, for one ``matrix_exp``."""
    model = lm().train()
    x = torch.randint(V, (3, 9))
    calls = count("matrix_exp")
    logits, _ = scheduled_sampling_forward(model, x, 1.0)
    assert calls[0] == 1
    grads = torch.autograd.grad(logits.square().sum(), list(model.parameters()))
    expected = model(Batch(x))[0]
    grads_ref = torch.autograd.grad(expected.square().sum(), list(model.parameters()))
    torch.testing.assert_close(logits, expected)
    for a, e in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, e)

    calls[0] = 0
    _, hidden, _ = free_running_run(model, x[:, 0], 9, generator=torch.Generator().manual_seed(0))
    assert calls[0] == 1
    (g_A,) = torch.autograd.grad(hidden.sum(), [model.layers.cell.A])
    assert g_A.abs().sum() > 0


def test_single_cell_and_module_without_cells() -> None:
    cell = make_cell("clockwork", 3, 8)
    layer = Recurrent(cell)
    with torch.no_grad(), decoding(cell):
        masked = cell._masked
        assert masked is not None
        layer(torch.randn(2, 1, 3))
        assert cell._masked is masked  # the nested unroll reused it
    assert cell._masked is None
    with decoding(nn.Linear(2, 2)):  # nothing to enter
        pass
