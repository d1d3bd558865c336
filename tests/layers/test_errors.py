"""Bad input gives a one-line ``ValueError`` that names the bad value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from rnnlab.cells import ElmanCell, GRUCell, LSTMCell, cell_names, make_cell
from rnnlab.layers import Bidirectional, Recurrent, SequenceLayer, Stacked, build_layers

D, H = 3, 4

LAYERS: dict[str, Callable[[], SequenceLayer]] = {
    "loop": lambda: Recurrent(LSTMCell(D, H), fast=False),
    "fast": lambda: Recurrent(LSTMCell(D, H), fast=True),
    "bidir": lambda: Bidirectional(GRUCell(D, H), GRUCell(D, H)),
    "stacked": lambda: Stacked([Recurrent(ElmanCell(D, H)), Recurrent(ElmanCell(H, H))]),
    "built": lambda: build_layers("gru", D, H, num_layers=2, bidirectional=True),
}
layers = pytest.mark.parametrize("make", list(LAYERS.values()), ids=list(LAYERS))


def one_line_value_error(fn: Callable[[], object], *needles: str) -> str:
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, f"message spans lines: {msg!r}"
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


@layers
@pytest.mark.parametrize("shape", [(5, D), (2, 5, D, 1), (D,)])
def test_wrong_rank(make: Callable[[], SequenceLayer], shape: tuple[int, ...]) -> None:
    layer = make()
    one_line_value_error(lambda: layer(torch.randn(*shape)), str(tuple(shape)), "(B, T, 3)")


@layers
def test_wrong_feature_size(make: Callable[[], SequenceLayer]) -> None:
    layer = make()
    one_line_value_error(lambda: layer(torch.randn(2, 5, D + 2)), "5 features", "expected 3")


@layers
def test_no_time_steps(make: Callable[[], SequenceLayer]) -> None:
    layer = make()
    one_line_value_error(lambda: layer(torch.randn(2, 0, D)), "(2, 0, 3)")


@layers
@pytest.mark.parametrize(
    ("lengths", "needle"), [([0, 5], "[0, 5]"), ([6, 2], "[2, 6]"), ([-1, 3], "[-1, 3]")]
)
def test_lengths_out_of_range(
    make: Callable[[], SequenceLayer], lengths: list[int], needle: str
) -> None:
    layer = make()
    one_line_value_error(
        lambda: layer(torch.randn(2, 5, D), None, torch.tensor(lengths)), needle, "[1, 5]"
    )


@layers
def test_lengths_wrong_shape(make: Callable[[], SequenceLayer]) -> None:
    layer = make()
    x = torch.randn(2, 5, D)
    one_line_value_error(lambda: layer(x, None, torch.tensor([5, 5, 5])), "(3,)", "(2,)")


@pytest.mark.parametrize("hidden", [0, -3])
@pytest.mark.parametrize("name", cell_names())
def test_non_positive_hidden_size(name: str, hidden: int) -> None:
    one_line_value_error(lambda: make_cell(name, D, hidden), "hidden_size", str(hidden))
    one_line_value_error(lambda: build_layers(name, D, hidden), "hidden_size", str(hidden))


@pytest.mark.parametrize("cls", [ElmanCell, LSTMCell, GRUCell])
def test_non_positive_sizes_in_cells(cls: type) -> None:
    one_line_value_error(lambda: cls(D, 0), "hidden_size", "0")
    one_line_value_error(lambda: cls(0, H), "input_size", "0")
    one_line_value_error(lambda: cls(D, 2.5), "hidden_size", "2.5")


def test_non_positive_num_layers() -> None:
    one_line_value_error(lambda: build_layers("lstm", D, H, num_layers=0), "num_layers", "0")


def test_unknown_cell_lists_the_known_ones() -> None:
    msg = one_line_value_error(lambda: make_cell("lstn", D, H), "'lstn'")
    for known in cell_names():
        assert known in msg
    one_line_value_error(lambda: build_layers("lstn", D, H), "'lstn'", *cell_names())


def test_cell_step_input_shape() -> None:
    cell = LSTMCell(D, H)
    state = cell.initial_state(2)
    one_line_value_error(lambda: cell(torch.randn(2, D + 1), state), "(2, 4)", "(B, 3)")
    one_line_value_error(lambda: cell(torch.randn(2, 1, D), state), "(2, 1, 3)")


def test_elman_nonlinearity() -> None:
    one_line_value_error(lambda: ElmanCell(D, H, nonlinearity="sigmoid"), "'sigmoid'")


def test_mismatched_wrappers() -> None:
    one_line_value_error(lambda: Bidirectional(GRUCell(D, H), GRUCell(D + 1, H)), "3", "4")
    one_line_value_error(
        lambda: Stacked([Recurrent(GRUCell(D, H)), Recurrent(GRUCell(H + 1, H))]), "4", "5"
    )
    one_line_value_error(lambda: Stacked([Recurrent(GRUCell(D, H))], dropout=1.0), "1.0")
