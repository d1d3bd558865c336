"""The language model: shapes, chunked == whole, one-step decoding == full recompute."""

from __future__ import annotations

import pytest
import torch

from rnnlab.layers import build_layers
from rnnlab.models import LanguageModel, RNNConfig, build_model
from rnnlab.tasks.base import Batch
from rnnlab.tasks.spec import TaskSpec


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman", "exprnn"])
def test_step_by_step_equals_full_recompute(cell: str) -> None:
    torch.manual_seed(0)
    lm = LanguageModel(11, build_layers(cell, 8, 16, num_layers=2)).double().eval()
    x = torch.randint(11, (3, 9))
    full = lm(Batch(x))[0]  # (3, 9, 11)
    assert full.shape == (3, 9, 11)
    state = lm.initial_state(3, dtype=torch.float64)
    for t in range(9):
        logits, state = lm.step(x[:, t], state)
        torch.testing.assert_close(logits, full[:, t])


def test_chunks_with_carried_state_equal_the_whole_sequence() -> None:
    torch.manual_seed(1)
    lm = LanguageModel(7, build_layers("lstm", 6, 10)).double().eval()
    x = torch.randint(7, (2, 12))
    whole, final = lm(Batch(x))
    a, state = lm(Batch(x[:, :5]))
    b, state = lm(Batch(x[:, 5:]), state)
    torch.testing.assert_close(torch.cat([a, b], dim=1), whole)
    torch.testing.assert_close(state.h, final.h)


def test_build_model_for_lm_and_bad_input() -> None:
    model = build_model(
        RNNConfig(cell="gru", hidden_size=12, embedding_size=5), TaskSpec("lm", 9, 9)
    )
    assert isinstance(model, LanguageModel)
    assert model.embedding.weight.shape == (9, 5)
    with pytest.raises(ValueError, match="drop --bidirectional"):
        build_model(RNNConfig(cell="gru", hidden_size=4, bidirectional=True), TaskSpec("lm", 9, 9))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 9\), got \[0, 9\]"):
        model(Batch(torch.tensor([[0, 9]])))
    with pytest.raises(ValueError, match="shape \\(B, T\\), dtype long"):
        model(Batch(torch.zeros(2, 3, 9)))
