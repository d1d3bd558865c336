"""Non-parametric memory: models whose state reads and writes a memory through attention.

The lecture's last part: a fixed-size state maps two memories to one spot; a memory that
grows with the input does not. This floor sits above ``models`` (its cells register with
``cells.registry``, its families with ``models.registry``) and beside ``decoding``; the
package facade ``rnnlab/__init__`` imports it, so its registrations happen whenever any
part of rnnlab is imported.
"""

# memory networks (issue 12): the memn2n family and its recurrent baseline story_rnn
# gated graph neural networks (issue 12): the ggnn family and its recurrent baseline edge_rnn
# --- neural Turing machine (issue 13) ---------------------------------------------------
from rnnlab.cells.registry import make_cell, register_cell
from rnnlab.memory.edge_rnn import EdgeRNN as EdgeRNN
from rnnlab.memory.edge_rnn import EdgeRNNConfig as EdgeRNNConfig
from rnnlab.memory.ggnn import GGNN as GGNN
from rnnlab.memory.ggnn import GGNNConfig as GGNNConfig
from rnnlab.memory.memn2n import MemN2N as MemN2N
from rnnlab.memory.memn2n import MemN2NConfig as MemN2NConfig
from rnnlab.memory.ntm import NTMCell as NTMCell
from rnnlab.memory.ntm import NTMState as NTMState
from rnnlab.memory.story_rnn import StoryRNN as StoryRNN
from rnnlab.memory.story_rnn import StoryRNNConfig as StoryRNNConfig


def build_ntm(
    input_size: int,
    hidden_size: int,
    memory_slots: int = 128,
    memory_width: int = 20,
    read_heads: int = 1,
    write_heads: int = 1,
    shift_range: int = 1,
    controller: str = "lstm",
    clip: float = 20.0,
    memory_init: float = 1e-6,
    initial_focus: float | None = 0.9,
) -> NTMCell:
    """An :class:`NTMCell` whose controller is the registered cell ``controller`` of
    ``hidden_size`` units, reading ``input_size`` features and the previous reads."""
    inner = make_cell(controller, input_size + read_heads * memory_width, hidden_size)
    return NTMCell(
        inner,
        memory_slots=memory_slots,
        memory_width=memory_width,
        read_heads=read_heads,
        write_heads=write_heads,
        shift_range=shift_range,
        clip=clip,
        memory_init=memory_init,
        initial_focus=initial_focus,
    )


register_cell(
    "ntm",
    "Neural Turing machine (Graves et al. 2014): an LSTM controller (any cell: controller=) "
    "with N=128 slots of M=20, 1 read and 1 write head, shifts -1..1; output [h, reads]",
    build_ntm,
)
# --- end neural Turing machine ------------------------------------------------------------
