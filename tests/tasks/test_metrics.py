"""BLEU, chrF and exact match against figures computed by hand."""

from __future__ import annotations

import math

import pytest

from rnnlab.tasks.metrics import corpus_bleu, corpus_chrf, exact_match, translation_scores


def test_bleu_single_sentence_by_hand() -> None:
    # hyp: the cat sat on the mat today (7)   ref: the cat sat on a mat (6)
    # 1-grams: the (clipped to 1), cat, sat, on, mat = 5/7; 2-grams: the cat, cat sat,
    # sat on = 3/6; 3-grams: the cat sat, cat sat on = 2/5; 4-grams: the cat sat on = 1/4;
    # hyp longer than ref: BP = 1.
    expected = 100 * (5 / 7 * 3 / 6 * 2 / 5 * 1 / 4) ** 0.25
    got = corpus_bleu(["the cat sat on the mat today"], ["the cat sat on a mat"])
    assert got == pytest.approx(expected, abs=1e-9)
    assert round(got, 2) == 43.47


def test_bleu_corpus_sums_counts_and_brevity_penalty() -> None:
    hyps = ["the cat sat on the mat today", "a dog runs in the park"]
    refs = ["the cat sat on a mat", "a big dog runs in the green park"]
    # sentence 2: hyp 6 tokens, ref 8. 1-grams a dog runs in the park = 6/6; 2-grams
    # dog runs, runs in, in the = 3/5; 3-grams dog runs in, runs in the = 2/4;
    # 4-grams dog runs in the = 1/3. Corpus: c = 13, r = 14 -> BP = exp(1 - 14/13).
    p = [(5 + 6) / (7 + 6), (3 + 3) / (6 + 5), (2 + 2) / (5 + 4), (1 + 1) / (4 + 3)]
    expected = 100 * math.exp(1 - 14 / 13) * math.exp(sum(math.log(x) for x in p) / 4)
    assert corpus_bleu(hyps, refs) == pytest.approx(expected, abs=1e-9)


def test_bleu_is_cased_and_tokenises_13a() -> None:
    ref = "A man rides a bike."
    assert corpus_bleu(["A man rides a bike."], [ref]) == pytest.approx(100.0)
    # 13a splits the final period off, so "bike ." detokenised or not scores the same
    assert corpus_bleu(["A man rides a bike ."], [ref]) == pytest.approx(100.0)
    # case counts: "a" != "A" leaves 5/6, 4/5, 3/4, 2/3 of the 1..4-grams matching
    lower = corpus_bleu(["a man rides a bike."], [ref])
    assert lower == pytest.approx(100 * (5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) ** 0.25, abs=1e-9)


def test_chrf_by_hand() -> None:
    # hyp abcdefgh vs ref abcdefgx: order-n character n-grams number 9 - n on each side and
    # 8 - n match, so P_n = R_n = (8 - n)/(9 - n) and chrF = 100 * mean over n = 1..6.
    expected = 100 * sum((8 - n) / (9 - n) for n in range(1, 7)) / 6
    assert corpus_chrf(["abcdefgh"], ["abcdefgx"]) == pytest.approx(expected, abs=1e-9)
    assert corpus_chrf(["a b c d e f g h"], ["abcdefgh"]) == pytest.approx(100.0)  # spaces ignored


def test_exact_match_and_scores() -> None:
    hyps = ["Ein Hund  rennt.", "Zwei Katzen.", "x"]
    refs = [" Ein Hund rennt.", "Zwei Katzen!", "x"]
    assert exact_match(hyps, refs) == pytest.approx(2 / 3)
    scores = translation_scores(hyps, refs)
    assert set(scores) == {"bleu", "chrf", "exact_match"}
    assert 0 < scores["bleu"] < 100 and 0 < scores["chrf"] < 100


def test_bad_input_is_one_line_valueerror() -> None:
    with pytest.raises(ValueError, match="2 hypotheses for 1 references") as e:
        corpus_bleu(["a", "b"], ["a"])
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="no sentences"):
        corpus_chrf([], [])
