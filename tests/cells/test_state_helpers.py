"""map_state / zip_map_state / detach_state / select_rows / where_state on nested states."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor

from rnnlab.cells import (
    GRUState,
    LSTMState,
    detach_state,
    map_state,
    select_rows,
    where_state,
    zip_map_state,
)
from rnnlab.layers import BidirectionalState, StackedState, build_layers

B, H = 4, 3


class MemoryState(NamedTuple):
    """A state with a higher-rank tensor, like an NTM's memory ``(B, N, M)``."""

    h: Tensor  # (B, H)
    memory: Tensor  # (B, N, M)


def nested(requires_grad: bool = False) -> StackedState:
    def t(*shape: int) -> Tensor:
        return torch.randn(B, *shape, requires_grad=requires_grad)

    return StackedState(
        (
            BidirectionalState(LSTMState(t(H), t(H)), GRUState(t(H))),
            MemoryState(t(H), t(2, 5)),
        )
    )


def leaves(state: Any) -> list[Tensor]:
    out: list[Tensor] = []
    map_state(lambda x: out.append(x) or x, state)
    return out


def assert_same_structure(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_structure(x, y)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_map_state_keeps_nested_types() -> None:
    s = nested()
    doubled = map_state(lambda x: 2 * x, s)
    assert_same_structure(doubled, s)
    assert isinstance(doubled.layers, tuple) and not hasattr(doubled.layers, "_fields")
    assert isinstance(doubled.layers[0].forward, LSTMState)
    assert doubled.layers[0].forward._fields == ("h", "c")
    for new, old in zip(leaves(doubled), leaves(s), strict=True):
        assert torch.equal(new, 2 * old)


def test_leaves_come_in_field_order() -> None:
    s = nested()
    expected = [
        s.layers[0].forward.h,
        s.layers[0].forward.c,
        s.layers[0].backward.h,
        s.layers[1].h,
        s.layers[1].memory,
    ]
    got = leaves(s)
    assert len(got) == len(expected)
    assert all(g is e for g, e in zip(got, expected, strict=True))


def test_map_state_none_and_bad_types() -> None:
    assert map_state(lambda x: x, None) is None
    with_none = LSTMState(torch.ones(2, 1), None)  # type: ignore[arg-type]
    mapped = map_state(lambda x: x + 1, with_none)
    assert isinstance(mapped, LSTMState) and mapped.c is None
    with pytest.raises(TypeError, match="list"):
        map_state(lambda x: x, [torch.ones(1)])


def test_zip_map_state() -> None:
    a, b = nested(), nested()
    summed = zip_map_state(torch.add, a, b)
    assert_same_structure(summed, a)
    for s, x, y in zip(leaves(summed), leaves(a), leaves(b), strict=True):
        assert torch.equal(s, x + y)
    with pytest.raises(ValueError):  # structures that do not match
        zip_map_state(torch.add, LSTMState(torch.ones(1), torch.ones(1)), GRUState(torch.ones(1)))


def test_detach_state_cuts_the_graph() -> None:
    s = map_state(lambda x: x * 3, nested(requires_grad=True))
    assert all(x.requires_grad for x in leaves(s))
    d = detach_state(s)
    assert_same_structure(d, s)
    for x, y in zip(leaves(d), leaves(s), strict=True):
        assert not x.requires_grad and x.grad_fn is None
        assert torch.equal(x, y)


@pytest.mark.parametrize("index", [[2, 0], [3, 2, 1, 0], [1, 1, 1, 1, 1, 1]])
def test_select_rows_selects_reorders_repeats(index: list[int]) -> None:
    s = nested()
    idx = torch.tensor(index)
    picked = select_rows(s, idx)
    assert_same_structure(picked, s)
    for new, old in zip(leaves(picked), leaves(s), strict=True):
        assert new.shape == (len(index), *old.shape[1:])
        for row, src in enumerate(index):
            assert torch.equal(new[row], old[src])


def test_where_state_picks_rows() -> None:
    new, old = nested(), nested()
    mask = torch.tensor([True, False, False, True])
    mixed = where_state(mask, new, old)
    assert_same_structure(mixed, new)
    for m, n, o in zip(leaves(mixed), leaves(new), leaves(old), strict=True):
        assert m.shape == n.shape
        for b in range(B):
            assert torch.equal(m[b], n[b] if mask[b] else o[b])


def test_where_state_gradient_flows_only_to_the_picked_side() -> None:
    new, old = nested(requires_grad=True), nested(requires_grad=True)
    mask = torch.tensor([True, False, True, False])
    mixed = where_state(mask, new, old)
    sum(x.sum() for x in leaves(mixed)).backward()
    for n, o in zip(leaves(new), leaves(old), strict=True):
        assert n.grad is not None and o.grad is not None
        assert torch.equal(n.grad[mask], torch.ones_like(n.grad[mask]))
        assert not n.grad[~mask].any() and not o.grad[mask].any()


def test_helpers_on_a_real_layer_state() -> None:
    """The states a built stack returns go through every helper unchanged in shape."""
    layer = build_layers("lstm", 2, H, num_layers=2, bidirectional=True)
    _, final = layer(torch.randn(B, 5, 2, requires_grad=True))
    assert isinstance(final, StackedState)
    assert isinstance(final.layers[1], BidirectionalState)
    assert isinstance(final.layers[1].backward, LSTMState)
    d = detach_state(final)
    assert all(x.grad_fn is None for x in leaves(d))
    rows = select_rows(d, torch.tensor([3, 0]))
    assert all(x.shape[0] == 2 for x in leaves(rows))
    mixed = where_state(torch.tensor([True, False]), rows, map_state(torch.zeros_like, rows))
    assert torch.equal(mixed.layers[0].forward.c[0], d.layers[0].forward.c[3])
    assert not mixed.layers[0].forward.c[1].any()
    # feeding the selected state back in continues the selected rows
    y, _ = layer(torch.randn(2, 3, 2), rows)
    assert y.shape == (2, 3, 2 * H)
