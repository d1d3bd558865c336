"""Translation metrics on text: corpus BLEU and chrF (sacrebleu) and exact match.

Hypotheses are detokenised model outputs, references the raw corpus sentences; both are
compared as they are (cased), and sacrebleu tokenises them itself (BLEU: its default
``13a`` tokeniser, the WMT standard), so scores are comparable with published sacrebleu
figures. Corpus BLEU (Papineni et al. 2002) over sentences ``s`` is

.. math::

    \\mathrm{BLEU} = 100 \\cdot \\mathrm{BP} \\cdot
        \\exp\\Big(\\tfrac14 \\sum_{n=1}^{4} \\log p_n\\Big), \\qquad
    p_n = \\frac{\\sum_s \\sum_{g \\in \\text{n-grams}(h_s)} \\min(c_{h_s}(g), c_{r_s}(g))}
               {\\sum_s |\\text{n-grams}(h_s)|}, \\qquad
    \\mathrm{BP} = \\min\\big(1, e^{\\,1 - r/c}\\big)

with ``c`` and ``r`` the total hypothesis and reference lengths in tokens (sacrebleu's
``exp`` smoothing only touches orders with no match at all). chrF (Popovic 2015) is the
character n-gram F-score, ``n = 1..6``, ``beta = 2``, whitespace ignored:
``100 * (1 + beta^2) P R / (beta^2 P + R)`` with ``P``, ``R`` the n-gram precision and
recall averaged over the orders.
"""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses for {len(references)} references; expected one each"
        )
    if len(references) == 0:
        raise ValueError("no sentences to score; expected at least one hypothesis/reference")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) of detokenised ``hypotheses`` against raw ``references`` (one
    each), cased, sacrebleu's ``13a`` tokenisation (signature
    ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp``)."""
    _check(hypotheses, references)
    return float(BLEU().corpus_score(list(hypotheses), [list(references)]).score)


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (0-100): character 6-grams, ``beta = 2``, cased (sacrebleu's defaults,
    signature ``nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no``)."""
    _check(hypotheses, references)
    return float(CHRF().corpus_score(list(hypotheses), [list(references)]).score)


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """The fraction (0-1) of hypotheses equal to their reference, with runs of whitespace
    made one space and the ends trimmed on both sides."""
    _check(hypotheses, references)
    hits = sum(
        " ".join(h.split()) == " ".join(r.split())
        for h, r in zip(hypotheses, references, strict=True)
    )
    return hits / len(references)


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``{"bleu", "chrf", "exact_match"}`` of ``hypotheses`` against ``references``."""
    return {
        "bleu": corpus_bleu(hypotheses, references),
        "chrf": corpus_chrf(hypotheses, references),
        "exact_match": exact_match(hypotheses, references),
    }
