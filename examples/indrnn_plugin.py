"""An rnnlab plugin: the independently recurrent network (IndRNN, Li et al. 2018) as a cell.

    h_t = relu(W x_t + b + u * h_{t-1})        (u: one recurrent weight per unit)

Use it from the command line with ``--plugin examples/indrnn_plugin.py --model indrnn``;
the run folder records the plugin, so ``rnnlab eval`` and ``rnnlab.load`` find it again.
"""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.cells import Cell, register_cell


class IndRNNState(NamedTuple):
    h: Tensor  # (B, H)


class IndRNNCell(Cell):
    def __init__(self, input_size: int, hidden_size: int, max_weight: float = 1.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.input = nn.Linear(input_size, hidden_size)  # W x_t + b, hoisted out of the loop
        self.u = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, max_weight))

    def initial_state(self, batch: int, *, device=None, dtype=None) -> IndRNNState:
        return IndRNNState(self._zeros(batch, device, dtype))

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def step(self, p_t: Tensor, state: IndRNNState) -> tuple[Tensor, IndRNNState]:
        h = torch.relu(p_t + self.u * state.h)
        return h, IndRNNState(h)


register_cell("indrnn", "IndRNN (Li et al. 2018), h_t = relu(W x_t + b + u * h_{t-1})", IndRNNCell)
