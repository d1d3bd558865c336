"""Deep output: an MLP head that Seq2Vec and Tagger take instead of their linear head."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab.layers import build_deep_stacked, build_layers
from rnnlab.models import DeepOutput, Seq2Vec, Tagger
from rnnlab.tasks.base import Batch

B, T, D, H = 3, 5, 2, 6


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_equals_the_mlp_it_describes() -> None:
    head = DeepOutput(H, 8, 4, num_layers=2, activation="relu")
    h = torch.randn(B, T, H)
    l1, l2, out = (m for m in head.modules() if isinstance(m, nn.Linear))
    expected = out(torch.relu(l2(torch.relu(l1(h)))))
    torch.testing.assert_close(head(h), expected)
    assert head(h[:, 0]).shape == (B, 4)


def test_models_take_it_as_their_head() -> None:
    x = torch.randn(B, T, D)
    lengths = torch.tensor([5, 2, 4])
    layers = build_layers("gru", D, H)
    model = Seq2Vec(layers, 3, head=DeepOutput(H, 16, 3))
    assert isinstance(model.head, DeepOutput)
    assert model(Batch(x, None, lengths))[0].shape == (B, 3)
    deep = build_deep_stacked("lstm", D, H, num_layers=2)
    tagger = Tagger(deep, 7, head=DeepOutput(deep.output_size, 16, 7, dropout=0.1))
    assert tagger(Batch(x, None, lengths))[0].shape == (B, T, 7)
    assert isinstance(Tagger(layers, 7).head, nn.Linear)  # unchanged default


def test_errors() -> None:
    layers = build_layers("gru", D, H)
    with pytest.raises(ValueError, match="head takes 5 features, but the layers give 6"):
        Seq2Vec(layers, 3, head=DeepOutput(5, 8, 3))
    with pytest.raises(ValueError, match="head gives 4 outputs, but output_size is 3"):
        Tagger(layers, 3, head=nn.Linear(H, 4))
    with pytest.raises(ValueError, match="'sigmoid'"):
        DeepOutput(H, 8, 3, activation="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer, got 0"):
        DeepOutput(H, 0, 3)
    with pytest.raises(ValueError, match="dropout"):
        DeepOutput(H, 8, 3, dropout=1.5)
