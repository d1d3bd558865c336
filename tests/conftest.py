"""Shared pytest setup.

The tests use tiny tensors, where intra-op threads only add synchronisation cost (on a
busy 2-core machine, a 20x slowdown was measured), so torch runs single-threaded here.
"""

from __future__ import annotations

import torch

torch.set_num_threads(1)
