"""The translate task: corpus choice, splits, vocabularies from train, bucketed batches,
BLEU scoring on detokenised text, and the registry's options."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
import torch

from rnnlab.tasks import TaskOptions, build_task
from rnnlab.tasks.base import IGNORE_INDEX
from rnnlab.tasks.seq2seq import Seq2SeqCodec, target_ids
from rnnlab.tasks.tokens import EOS, PAD, UNK
from rnnlab.tasks.translate import POOL_BATCHES, TranslationTask

WORDS = ["dog", "cat", "man", "woman", "runs", "sits", "eats", "big", "small", "red"]
WORTER = ["Hund", "Katze", "Mann", "Frau", "rennt", "sitzt", "isst", "groß", "klein", "rot"]
N_TRAIN, N_VAL = 1400, 30  # val: 140 held out of train


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    assert "\n" not in str(e.value)
    return str(e.value)


def make_corpus(folder: Path, n_train: int = N_TRAIN, n_val: int = N_VAL) -> Path:
    """A word-for-word toy corpus in the Multi30k layout (en, de): train and val."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        en, de = [], []
        for _ in range(n):
            idx = [rng.randrange(len(WORDS)) for _ in range(rng.randint(1, 12))]
            en.append("The " + " ".join(WORDS[i] for i in idx) + ".")
            de.append("Der " + " ".join(WORTER[i] for i in idx) + ".")
        if split == "val":  # a word never seen in training
            en[0], de[0] = "The zebra runs.", "Der Zebra rennt."
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("m30k"))


@pytest.fixture(scope="module")
def task(corpus: Path) -> TranslationTask:
    t = build_task("translate", TaskOptions(data=str(corpus), seed=0))
    assert isinstance(t, TranslationTask)
    return t


def test_multi30k_splits_and_vocabularies(task: TranslationTask) -> None:
    assert task.corpus == "multi30k" and (task.src, task.tgt) == ("en", "de")
    assert task.kind == "seq2seq" and task.main_metric == "bleu" and task.higher_is_better
    # val: held out of train; test: the official val
    assert task.sizes == {"train": N_TRAIN - 140, "val": 140, "test": N_VAL}  # val: 10%
    assert len(task.split("val")) == 140 and len(task.split("test")) == N_VAL
    assert task.references_text["test"][0] == "Der Zebra rennt."
    # vocabularies come from train only: "zebra" (val only) is unknown
    assert "zebra" not in task.src_vocab and "Zebra" not in task.tgt_vocab
    assert task.encode_source("The zebra runs.")[1] == UNK
    assert task.input_size == len(task.src_vocab) and task.output_size == len(task.tgt_vocab)
    assert len(task.tgt_vocab) == 4 + len(WORTER) + 2  # specials, words, "Der", "."
    again = Seq2SeqCodec.from_json(task.codec.to_json())  # what a run saves
    assert again.decode_target(task.tgt_vocab.encode(["Der", "Hund", "rennt", "."])) == (
        "Der Hund rennt."
    )
    assert again.encode_source("The dog runs.") == task.encode_source("The dog runs.")


def test_split_layout(task: TranslationTask) -> None:
    test = task.split("test")
    assert test.x.dtype == torch.long and test.lengths is not None
    for row, n in zip(test.x.tolist(), test.lengths.tolist(), strict=True):
        assert row[n - 1] == EOS and all(v == PAD for v in row[n:])
    for row in test.y.tolist():
        real = [v for v in row if v != IGNORE_INDEX]
        assert real[-1] == EOS and row[len(real) :] == [IGNORE_INDEX] * (len(row) - len(real))
    with pytest.raises(ValueError, match="unknown split 'train'"):
        task.split("train")


def test_score_detokenises_and_uses_raw_references(task: TranslationTask) -> None:
    refs = target_ids(task.split("test").y)
    scores = task.score(refs, "test")
    # every reference but the first (its "Zebra" is <unk>) comes back exactly
    assert scores["exact_match"] == pytest.approx((N_VAL - 1) / N_VAL)
    assert 90 < scores["bleu"] < 100 and 90 < scores["chrf"] < 100
    assert task.score(refs[1:], "test", rows=range(1, N_VAL))["bleu"] == pytest.approx(100.0)
    assert task.score([[]] * N_VAL, "test")["bleu"] == 0.0
    with pytest.raises(ValueError, match="2 hypotheses for 30 rows") as e:
        task.score(refs[:2], "test")
    one_line(e)


def test_bucketed_batches_are_deterministic_and_cover_an_epoch(
    corpus: Path, task: TranslationTask
) -> None:
    batch_size = 4
    per_epoch = task.steps_per_epoch(batch_size)
    n = N_TRAIN - 140
    assert per_epoch == n // batch_size  # 1260 = 6 pools of 200 + 60
    assert task.steps_per_epoch(64) == 20  # 1260 = 19 * 64 + 44: a smaller last batch
    rows = [i for batch in task._epoch_batches(0, batch_size) for i in batch]
    assert sorted(rows) == list(range(n))  # each pair once per epoch
    widths = []
    for step in range(per_epoch):
        b = task.train_batch(step, batch_size)
        assert b.x.shape[0] == batch_size and b.lengths is not None
        widths.append(int(b.lengths.max() - b.lengths.min()))
    assert max(widths) <= 1  # bucketed: lengths in a batch differ by at most one here
    again = build_task("translate", TaskOptions(data=str(corpus), seed=0))
    for step in (0, 5, per_epoch + 3):
        a, b = task.train_batch(step, batch_size), again.train_batch(step, batch_size)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    other = build_task("translate", TaskOptions(data=str(corpus), seed=1))
    assert not torch.equal(other.train_batch(0, 64).x, task.train_batch(0, 64).x)
    assert not torch.equal(
        task.train_batch(per_epoch, batch_size).x, task.train_batch(0, batch_size).x
    )
    assert 2 * POOL_BATCHES * batch_size <= N_TRAIN - 140  # several pools were used


def test_options_rebuild_and_registry(corpus: Path, task: TranslationTask) -> None:
    assert task.options() == {"src": "en", "tgt": "de", "data": str(corpus)}
    rebuilt = TranslationTask(**task.options(), seed=0)
    assert rebuilt.src_vocab == task.src_vocab and rebuilt.tgt_vocab == task.tgt_vocab
    reverse = build_task("translate", TaskOptions(data=str(corpus), src="de"))
    assert (reverse.src, reverse.tgt) == ("de", "en")
    with pytest.raises(ValueError, match="option src='en' does not apply to task 'copy'"):
        build_task("copy", TaskOptions(src="en"))
    with pytest.raises(ValueError, match="short") as e:
        build_task("translate", TaskOptions(data=str(corpus), short=True))
    one_line(e)
    with pytest.raises(ValueError, match="target language 'cs' is not in Multi30k"):
        build_task("translate", TaskOptions(data=str(corpus), tgt="cs"))


def test_tatoeba_file_is_the_other_corpus(tmp_path: Path) -> None:
    rng = random.Random(1)
    lines = []
    for i in range(400):
        k = rng.randint(1, 4)
        lines.append(f"I am {'very ' * k}tired {i}.\tJe suis {'très ' * k}fatigué {i}.")
    lines.append("Go.\tVa !")  # dropped by the short filter
    path = tmp_path / "eng-fra.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    t = build_task("translate", TaskOptions(data=str(path), short=True))
    assert isinstance(t, TranslationTask)
    assert t.corpus == "tatoeba" and (t.src, t.tgt) == ("en", "fr")
    assert sum(t.sizes.values()) == 400 and t.sizes["test"] == 40 and t.sizes["val"] == 40
    assert t.tgt_vocab.token_id("fatigué") != UNK
    fr = build_task("translate", TaskOptions(data=str(path), src="fr"))
    assert (fr.src, fr.tgt) == ("fr", "en") and sum(fr.sizes.values()) == 401


def test_training_loss_is_label_smoothed(corpus: Path, task: TranslationTask) -> None:
    batch = task.train_batch(0, 16)
    logits = torch.randn(*batch.y.shape, task.output_size)
    real = batch.y != IGNORE_INDEX
    logp = logits.log_softmax(-1)[real]  # (N, V)
    nll = -logp.gather(1, batch.y[real].unsqueeze(1)).squeeze(1)
    eps = task.label_smoothing
    expected = ((1 - eps) * nll + eps * -logp.mean(-1)).mean()
    assert eps == 0.1
    assert torch.allclose(task.loss(logits, batch), expected, atol=1e-5)
    plain = TranslationTask(data=str(corpus), label_smoothing=0.0)
    assert torch.allclose(plain.loss(logits, batch), nll.mean(), atol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        TranslationTask(data=str(corpus), label_smoothing=1.0)


def test_cli_train_and_translate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnlab.cli import main

    corpus = make_corpus(tmp_path / "small", n_train=200, n_val=10)
    out = str(tmp_path / "run")
    argv = ["train", "translate", "--data", str(corpus), "--src", "en", "--tgt", "de"]
    tiny = ["--hidden", "8", "--embedding", "8", "--steps", "10", "--eval-every", "10"]
    assert main([*argv, *tiny, "--beam", "2", "--out", out, "--quiet"]) == 0
    summary = json.loads((Path(out) / "summary.json").read_text())
    assert summary["main_metric"] == "bleu" and summary["beam_size"] == 2
    assert {"bleu", "chrf", "exact_match", "greedy_bleu"} <= set(summary["metrics"]["test"])
    assert "official validation set" in summary["note"]
    config = json.loads((Path(out) / "config.json").read_text())
    assert config["task_options"]["src"] == "en" and config["task_options"]["tgt"] == "de"
    assert config["task_info"]["codec"]["source_tokenizer"] == {
        "type": "moses",
        "lang": "en",
        "lowercase": False,
    }
    capsys.readouterr()
    assert main(["translate", out, "The dog runs.", "--beam", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    # bad input: one line on stderr, exit status 2
    assert main([*argv, "--short", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "translate", "--data", str(corpus), "--tgt", "xx"]) == 2
    assert main(["train", "copy", "--src", "en"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "short" in err[0] and "'xx'" in err[1] and "src" in err[2]
