"""The vec->seq generator: teacher forcing == stepwise decoding, the state bridge for every
cell, decoding (sampling, greedy, beam search) from a condition, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.cells import cell_names
from rnnlab.cells.base import map_state
from rnnlab.decoding import beam_search, generate, greedy
from rnnlab.models import (
    ConditionalGenerator,
    ConditionalState,
    RNNConfig,
    build_model,
)
from rnnlab.tasks.base import Batch
from rnnlab.tasks.spec import TaskSpec

C, V, T = 5, 7, 9


def make(cell: str = "lstm", feed: bool = False, layers: int = 1) -> ConditionalGenerator:
    torch.manual_seed(0)
    stack = "dilated" if cell == "dilated" else "plain"
    config = RNNConfig(
        cell="gru" if cell == "dilated" else cell,
        stack=stack,
        hidden_size=8,
        num_layers=layers,
        feed_condition=feed,
    )
    model = build_model(config, TaskSpec("vec2seq", C, V))
    assert isinstance(model, ConditionalGenerator)
    return model.double().eval()


def conditions(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, C, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def targets(batch: int = 3) -> torch.Tensor:
    return torch.randint(V, (batch, T), generator=torch.Generator().manual_seed(2))


def tensors_of(state: object) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    map_state(lambda t: found.append(t) or t, state)
    return found


def stepwise_logits(model: ConditionalGenerator, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    state = model.initial_state(c)
    token = model.start(c.shape[0])
    out = []
    for t in range(y.shape[1]):
        logits, state = model.step(token, state)
        out.append(logits)
        token = y[:, t]
    return torch.stack(out, 1)


@pytest.mark.parametrize(("cell", "feed", "layers"), [("lstm", False, 2), ("gru", True, 1)])
def test_teacher_forced_forward_equals_stepwise(cell: str, feed: bool, layers: int) -> None:
    model = make(cell, feed, layers)
    c, y = conditions(), targets()
    full = model(Batch(c, y))[0]  # (B, T, V)
    assert full.shape == (3, T, V)
    torch.testing.assert_close(full, stepwise_logits(model, c, y), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cell", [*cell_names(), "dilated"])
def test_every_cell_is_conditioned_and_steps_like_forward(cell: str) -> None:
    model = make(cell, feed=True)
    c, y = conditions(2), targets(2)
    torch.testing.assert_close(
        model(Batch(c, y))[0], stepwise_logits(model, c, y), rtol=1e-8, atol=1e-8
    )
    # the condition reaches the first prediction through the state
    first = model(Batch(c, y))[0][:, 0]
    assert not torch.allclose(first[0], first[1])


def test_bridge_maps_every_state_tensor_of_lstm_and_gru() -> None:
    for cell, tensors in (("lstm", 2), ("gru", 1)):
        model = make(cell)
        assert len(model.bridge.maps) == tensors  # (h, c) for the LSTM, h for the GRU
        c = conditions(2)
        state = model.initial_state(c)
        assert isinstance(state, ConditionalState)
        torch.testing.assert_close(state.condition, c)
        default = model.layers.initial_state(2, dtype=torch.float64)
        leaves, defaults = tensors_of(state.layers), tensors_of(default)
        for leaf, base, linear in zip(leaves, defaults, model.bridge.maps, strict=True):
            torch.testing.assert_close(leaf, base + linear(c))  # s_0 = s_default + W c + b


def test_bridge_skips_integer_state_and_gets_gradients() -> None:
    model = make("clockwork")  # state (h, t) with t a long step counter
    assert len(model.bridge.maps) == 1
    state = model.initial_state(conditions(2))
    counters = [t for t in tensors_of(state.layers) if not t.dtype.is_floating_point]
    assert len(counters) == 1 and int(counters[0].abs().sum()) == 0  # left at its initial 0
    lstm = make("lstm").train()
    c, y = conditions(), targets()
    F.cross_entropy(lstm(Batch(c, y))[0].flatten(0, 1), y.flatten()).backward()
    for linear in lstm.bridge.maps:
        assert float(linear.weight.grad.abs().sum()) > 0  # type: ignore[union-attr]


def test_feed_condition_reaches_every_step() -> None:
    c, y = conditions(2), targets(2)
    seen: dict[str, torch.Tensor] = {}

    def record(module: object, args: tuple[torch.Tensor, ...], out: object) -> None:
        seen["input"] = args[0]

    for feed in (True, False):
        model = make("gru", feed=feed)
        assert model.layers.input_size == 8 + (C if feed else 0)
        model.layers.register_forward_hook(record)
        model(Batch(c, y))[0]
        if feed:  # the layers read [E[x_{t-1}]; c] at every step
            torch.testing.assert_close(seen["input"][..., 8:], c.unsqueeze(1).expand(-1, T, -1))
        # same layer state, other condition: only a fed condition changes the logits
        state = model.initial_state(c)
        other = ConditionalState(state.layers, c.flip(0))
        a = model.read(y, state)[0]
        b = model.read(y, other)[0]
        assert torch.allclose(a, b) != feed


def test_decoders_from_a_condition() -> None:
    model = make("lstm")
    c = conditions(4)
    g = torch.Generator().manual_seed(5)
    first = generate(model, c, 12, generator=g)
    again = generate(model, c, 12, generator=torch.Generator().manual_seed(5))
    assert first.shape == (4, 12) and torch.equal(first, again)
    assert int(first.min()) >= 0 and int(first.max()) < V  # the start symbol is never emitted
    best = generate(model, c, T, greedy_decoding=True)
    # greedy tokens are the argmax of the teacher-forced logits on themselves
    assert torch.equal(model(Batch(c, best))[0].argmax(-1), best)
    direct = greedy(model.step, model.initial_state(c), model.start(4), T)
    assert torch.equal(best, direct)


def test_beam_search_keeps_each_rows_condition() -> None:
    model = make("lstm")
    c = conditions(2)
    both = beam_search(model.step, model.initial_state(c), model.start(2), 3, 6, eos=0)
    for row in range(2):
        alone = beam_search(
            model.step, model.initial_state(c[row : row + 1]), model.start(1), 3, 6, eos=0
        )
        torch.testing.assert_close(both.scores[row], alone.scores[0])
        assert torch.equal(both.tokens[row], alone.tokens[0])


def test_bad_input_is_a_one_line_error() -> None:
    model = make("gru")
    with pytest.raises(ValueError, match="condition has 4 features, expected 5"):
        model.initial_state(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="condition must have shape"):
        model.initial_state(torch.zeros(5))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 7\)"):
        model(Batch(conditions(), torch.full((3, 4), V)))  # the start symbol is not a target
    with pytest.raises(ValueError, match="tokens must be a"):
        model(Batch(conditions(), None))
    with pytest.raises(ValueError, match="rows"):
        model(Batch(conditions(2), targets(3)))[0]
    with pytest.raises(ValueError, match="bidirectional"):
        build_model(RNNConfig(cell="gru", bidirectional=True), TaskSpec("vec2seq", C, V))
