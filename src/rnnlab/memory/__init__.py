"""Non-parametric memory: models whose state reads and writes a memory through attention.

The lecture's last part: a fixed-size state maps two memories to one spot; a memory that
grows with the input does not. This floor sits above ``models`` (its cells register with
``cells.registry``, its families with ``models.registry``) and beside ``decoding``; the
package facade ``rnnlab/__init__`` imports it, so its registrations happen whenever any
part of rnnlab is imported.
"""

# memory networks (issue 12): the memn2n family and its recurrent baseline story_rnn
# gated graph neural networks (issue 12): the ggnn family and its recurrent baseline edge_rnn
from rnnlab.memory.edge_rnn import EdgeRNN as EdgeRNN
from rnnlab.memory.edge_rnn import EdgeRNNConfig as EdgeRNNConfig
from rnnlab.memory.ggnn import GGNN as GGNN
from rnnlab.memory.ggnn import GGNNConfig as GGNNConfig
from rnnlab.memory.memn2n import MemN2N as MemN2N
from rnnlab.memory.memn2n import MemN2NConfig as MemN2NConfig
from rnnlab.memory.story_rnn import StoryRNN as StoryRNN
from rnnlab.memory.story_rnn import StoryRNNConfig as StoryRNNConfig
