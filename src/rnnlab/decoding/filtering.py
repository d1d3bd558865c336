"""Top-k and nucleus (top-p) filtering of next-token logits."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_positive


def check_top_k(top_k: int | None) -> None:
    if top_k is None:
        return
    check_positive("top_k", top_k)


def check_top_p(top_p: float | None) -> None:
    if top_p is None:
        return
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    r"""Set the logits of the tokens that top-k and top-p rule out to ``-inf``.

    With :math:`p = \mathrm{softmax}(z)` over the last dimension ``V`` of ``logits``:

    * **top-k** keeps the ``k`` largest logits, :math:`\{v : z_v \ge z_{(k)}\}` where
      :math:`z_{(k)}` is the ``k``-th largest (ties with it are kept, so a few more than
      ``k`` may survive); ``k >= V`` keeps everything.
    * **top-p** (nucleus sampling, Holtzman et al. 2020) keeps the smallest set of most
      probable tokens whose total probability reaches ``p``: with the probabilities sorted
      :math:`p_{(1)} \ge p_{(2)} \ge \dots`, token :math:`(i)` is kept iff
      :math:`\sum_{j<i} p_{(j)} < p`. The most probable token is always kept; ``p = 1``
      keeps everything.

    When both are given, top-k is applied first and top-p then acts on the distribution
    renormalised over the survivors (the order of Hugging Face's logits warpers). A
    temperature, if any, should be applied before: ``filter_logits(z / T, k, p)``.

    Args:
        logits: ``(..., V)`` unnormalised log-probabilities.
        top_k: keep the ``top_k`` most likely tokens; ``None`` for no limit.
        top_p: probability mass of the nucleus, in ``(0, 1]``; ``None`` for no limit.

    Returns:
        A new tensor like ``logits`` with the filtered entries at ``-inf``.

    Example::

        probs = torch.tensor([[0.1, 0.4, 0.2, 0.3]])
        filter_logits(probs.log(), top_p=0.5).isfinite()  # [[False, True, False, True]]
    """
    check_top_k(top_k)
    check_top_p(top_p)
    if logits.dim() == 0:
        raise ValueError("logits must have a vocabulary dimension, got a scalar")
    V = logits.shape[-1]
    out = logits
    if top_k is not None and top_k < V:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (..., 1)
        out = out.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = out.sort(dim=-1, descending=True)  # (..., V)
        dtype = torch.promote_types(sorted_logits.dtype, torch.float32)
        probs = sorted_logits.to(dtype).softmax(dim=-1)
        # mass of the strictly more probable tokens: sum_{j<i} p_(j), an exclusive cumsum
        cum = probs.cumsum(dim=-1)
        before = torch.cat([torch.zeros_like(cum[..., :1]), cum[..., :-1]], dim=-1)
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False  # always keep the most probable token
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out if out is not logits else logits.clone()
