"""code2seq: the fixed spelling of a code, the task layout, and its exact-match metric."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from rnnlab.models import ConditionalGenerator, RNNConfig, build_model
from rnnlab.tasks import build_task
from rnnlab.tasks.code2seq import Code2SeqTask, CodeSpelling
from rnnlab.tasks.spec import TaskSpec
from rnnlab.training.evaluate import ModelEvaluator, evaluate


def test_spelling_reads_the_bits_in_a_fixed_order() -> None:
    spelling = CodeSpelling(bits=6, bits_per_symbol=2, seed=0)
    assert sorted(spelling.order.tolist()) == list(range(6))
    assert (spelling.length, spelling.symbols) == (3, 4)
    for code in ([1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1]):
        read = [code[i] for i in spelling.order.tolist()]  # b_pi(0), b_pi(1), ...
        expected = [read[2 * t] + 2 * read[2 * t + 1] for t in range(3)]
        assert spelling.spell(torch.tensor([code])).tolist() == [expected]
    # a bijection: every code has its own spelling
    codes = torch.tensor([[(n >> i) & 1 for i in range(6)] for n in range(64)])
    assert len({tuple(row) for row in spelling.spell(codes).tolist()}) == 64
    assert not torch.equal(CodeSpelling(6, 2, seed=1).order, spelling.order)


def test_spelling_errors() -> None:
    with pytest.raises(ValueError, match="multiple of bits_per_symbol"):
        CodeSpelling(bits=5, bits_per_symbol=2)
    with pytest.raises(ValueError, match="only 0 and 1"):
        CodeSpelling(bits=4).spell(torch.tensor([[0, 2, 1, 1]]))
    with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
        CodeSpelling(bits=4).spell(torch.zeros(2, 5))


def test_task_layout_and_exact_metric() -> None:
    task = build_task("code2seq")
    assert isinstance(task, Code2SeqTask)
    val = task.split("val")
    assert val.x.shape == (1000, 16) and val.y.shape == (1000, 8)
    assert torch.equal(task.spelling.spell(val.x.long()), val.y)
    assert (task.kind, task.input_size, task.output_size, task.baseline) == ("vec2seq", 16, 4, 2.0)
    assert task.metadata["generation"] == {"condition": "vector", "size": 16, "length": 8}
    torch.manual_seed(0)
    model = build_model(RNNConfig(cell="gru", hidden_size=8), TaskSpec("vec2seq", 16, 4))
    assert isinstance(model, ConditionalGenerator)
    assert evaluate(model, task, "val")["exact"] < 0.01  # untrained: 4^-8 by chance
    # a model that outputs the right symbol with certainty is exact
    oracle = OracleStep(task, model)
    assert evaluate(oracle, task, "val")["exact"] == 1.0
    # the task scores whatever the evaluator generates: the true spelling is exact
    spell = task.spelling.spell

    class Speller(ModelEvaluator):
        def generate(self, conditions: torch.Tensor, length: int, **_: object) -> torch.Tensor:
            return spell(conditions.long())

    with torch.no_grad():
        assert task.evaluate("val", Speller(model))["exact"] == 1.0
    with pytest.raises(ValueError, match=r"needs a vec->seq model .* got Linear"):
        ModelEvaluator(torch.nn.Linear(16, 4)).generate(val.x, 8)


class OracleStep(ConditionalGenerator):
    """A generator whose step emits the true spelling of its row's code (for the metric)."""

    def __init__(self, task: Code2SeqTask, like: ConditionalGenerator) -> None:
        super().__init__(16, 4, like.layers)
        self.spelling = task.spelling

    def step(self, tokens: torch.Tensor, state: object) -> tuple[torch.Tensor, object]:
        s, t = state  # (condition, position)
        target = self.spelling.spell(s.long())[torch.arange(len(t)), t]
        return torch.nn.functional.one_hot(target, 4).float() * 10, (s, t + 1)

    def forward(self, batch: Any, state: object = None) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        """Uniform teacher-forced logits (the loss does not matter here)."""
        return torch.zeros(*batch.y.shape, 4), None

    def initial_state(self, condition: torch.Tensor) -> object:  # type: ignore[override]
        return (condition, torch.zeros(condition.shape[0], dtype=torch.long))
