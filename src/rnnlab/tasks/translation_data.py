"""Parallel corpora for translation: Tatoeba English-French and Multi30k.

* **Tatoeba** (manythings.org/anki, the format of the PyTorch seq2seq tutorial's
  ``eng-fra.txt``): one pair per line, ``English<TAB>French[<TAB>attribution]``, read from
  ``eng-fra.txt``, ``eng-fra.txt.gz`` or a ``.zip`` holding it (the tutorial's
  ``data.zip``). :func:`tutorial_short_filter` reproduces the tutorial's short-sentence
  filter. The corpus has no splits; :func:`split_by_source` makes fixed seeded ones.
* **Multi30k** (Elliott et al. 2016, task 1): line-aligned ``train.{en,de,fr}`` and
  ``val.{en,de,fr}`` (``test.*`` optional), plain or ``.gz``, read from a folder.

Both can be downloaded into a cache folder with checksums (:func:`multi30k_folder`,
:func:`tatoeba_path`). Sentences are kept raw (cased, untokenised): BLEU is computed
against them.
"""

from __future__ import annotations

import gzip
import os
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnlab.tasks.base import task_generator
from rnnlab.tasks.download import cache_root, fetch_extract
from rnnlab.tasks.splits import TEST_SPLIT_SEED, TEST_STREAM, VAL_STREAM

MULTI30K_LANGS = ("en", "de", "fr")
TATOEBA_LANGS = ("en", "fr")

# Multi30k task-1 raw files, pinned to a commit of github.com/multi30k/dataset; the
# checksums are of the decompressed files (the content is what is verified).
MULTI30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
MULTI30K_URL = f"https://github.com/multi30k/dataset/raw/{MULTI30K_COMMIT}/data/task1/raw/"
MULTI30K_SHA256 = {
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.fr": "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.fr": "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc",
}
MULTI30K_CACHE = "multi30k"  # under the cache root

# Tatoeba English-French, manythings.org release of 2017-09-29 (142,787 pairs), as kept in
# a pinned commit of github.com/genimind/seq2seq (fra-eng.zip, member fra.txt). The
# checksum is of the decompressed member. The PyTorch tutorial's data.zip holds an older
# release whose checksum we do not know, so it is not downloaded here; pass that file
# (or its eng-fra.txt) with ``data`` to use it.
TATOEBA_URL = (
    "https://github.com/genimind/seq2seq/raw/4f3f8eb0adde54fcc8b89394336b002e7961244c/fra-eng.zip"
)
TATOEBA_MEMBER = "fra.txt"
TATOEBA_SHA256 = "2546838ae46e0eac4c02ab7032ea0a02a006074a5340077a36a9444f41e02888"
TATOEBA_CACHE = Path("tatoeba") / "eng-fra.txt"  # under the cache root
TATOEBA_ZIP_MEMBERS = ("data/eng-fra.txt", "eng-fra.txt", "fra.txt")  # looked for in a .zip

# The PyTorch tutorial's filter: at most 9 space-separated words on each side after its
# normalisation (MAX_LENGTH = 10, compared with <), English starting with one of these.
TUTORIAL_MAX_LENGTH = 10
TUTORIAL_ENG_PREFIXES = (
    "i am ",
    "i m ",
    "he is",
    "he s ",
    "she is",
    "she s ",
    "you are",
    "you re ",
    "we are",
    "we re ",
    "they are",
    "they re ",
)

MULTI30K_VAL = 1000  # pairs held out of Multi30k train for checkpoint selection (at most
MULTI30K_VAL_FRACTION = 0.1  # this fraction of a smaller train file)
TATOEBA_FRACTIONS = (0.8, 0.1, 0.1)  # train, val, test


@dataclass(frozen=True)
class ParallelText:
    """Aligned sentences: ``source[i]`` translates to ``target[i]`` (raw text)."""

    source: list[str]
    target: list[str]

    def __post_init__(self) -> None:
        if len(self.source) != len(self.target):
            raise ValueError(
                f"{len(self.source)} source but {len(self.target)} target sentences; "
                "expected aligned pairs"
            )

    def __len__(self) -> int:
        return len(self.source)

    def select(self, rows: Sequence[int]) -> ParallelText:
        """The pairs at ``rows``, in that order."""
        return ParallelText([self.source[i] for i in rows], [self.target[i] for i in rows])


def check_pair(src: str, tgt: str, langs: Sequence[str], corpus: str) -> None:
    """One-line ``ValueError`` unless ``src`` and ``tgt`` are two different ``langs``."""
    for side, lang in (("source", src), ("target", tgt)):
        if lang not in langs:
            raise ValueError(
                f"{side} language {lang!r} is not in {corpus}; expected one of {', '.join(langs)}"
            )
    if src == tgt:
        raise ValueError(f"source and target language are both {src!r}; expected two different")


def _read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (``.gz`` read compressed), split at ``\\n`` only, each
    without its line end (``\\r\\n`` too); a final newline does not make an empty line."""
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return _split_lines(f.read(), path)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise ValueError(f"{path}: not a complete gzip file ({e})") from None
    return _split_lines(path.read_bytes(), path)


def _split_lines(raw: bytes, where: Path | str) -> list[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{where} is not UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start}"
        ) from None
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


# -- Tatoeba ----------------------------------------------------------------------------


def read_tatoeba_file(path: str | os.PathLike[str]) -> ParallelText:
    """All (English, French) pairs of a Tatoeba file, in file order.

    ``path`` is ``eng-fra.txt`` (any name), its ``.gz``, or a ``.zip`` holding one of
    :data:`TATOEBA_ZIP_MEMBERS`. Each line is ``English<TAB>French`` with an optional third
    attribution field; blank lines are skipped, any other line without a tab is an error.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"Tatoeba file {str(p)!r} not found")
    if p.suffix == ".zip":
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
            member = next((m for m in TATOEBA_ZIP_MEMBERS if m in names), None)
            if member is None:
                raise ValueError(
                    f"zip file {str(p)!r} holds none of {', '.join(TATOEBA_ZIP_MEMBERS)}"
                )
            lines = _split_lines(z.read(member), f"{p}:{member}")
    else:
        lines = _read_lines(p)
    english: list[str] = []
    french: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise ValueError(
                f"{p} line {number}: {line[:60]!r} is not 'English<TAB>French[<TAB>...]'"
            )
        english.append(fields[0].strip())
        french.append(fields[1].strip())
    if not english:
        raise ValueError(f"Tatoeba file {str(p)!r} holds no sentence pairs")
    return ParallelText(english, french)


def tutorial_normalize(text: str) -> str:
    """The PyTorch tutorial's ``normalizeString``: lowercase, accents stripped (NFD, marks
    dropped), ``.!?`` split off, every run of other non-letters made one space, trimmed.

    (The tutorial's current version drops ``.`` with the other non-letters; it is used
    here only to decide which pairs pass :func:`tutorial_short_filter`.)
    """
    s = text.lower().strip()
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
    s = re.sub(r"([.!?])", r" \1", s)
    s = re.sub(r"[^a-zA-Z!?]+", r" ", s)
    return s.strip()


def tutorial_short_filter(english: str, french: str) -> bool:
    """Whether a pair passes the PyTorch tutorial's filter: after :func:`tutorial_normalize`
    both sides have fewer than ``TUTORIAL_MAX_LENGTH = 10`` space-separated words and the
    English starts with one of :data:`TUTORIAL_ENG_PREFIXES` ("i am ", "he is", ...)."""
    en = tutorial_normalize(english)
    if not en.startswith(TUTORIAL_ENG_PREFIXES) or len(en.split(" ")) >= TUTORIAL_MAX_LENGTH:
        return False
    return len(tutorial_normalize(french).split(" ")) < TUTORIAL_MAX_LENGTH


def read_tatoeba(
    path: str | os.PathLike[str], src: str = "en", tgt: str = "fr", short: bool = False
) -> ParallelText:
    """Tatoeba pairs as ``src -> tgt`` (``"en"``/``"fr"``), filtered by
    :func:`tutorial_short_filter` when ``short``."""
    check_pair(src, tgt, TATOEBA_LANGS, "Tatoeba English-French")
    pairs = read_tatoeba_file(path)
    if short:
        keep = [
            i
            for i, (e, f) in enumerate(zip(pairs.source, pairs.target, strict=True))
            if tutorial_short_filter(e, f)
        ]
        pairs = pairs.select(keep)
    return pairs if src == "en" else ParallelText(pairs.target, pairs.source)


def split_by_source(
    pairs: ParallelText, seed: int, fractions: tuple[float, float, float] = TATOEBA_FRACTIONS
) -> dict[str, ParallelText]:
    """Fixed ``train``/``val``/``test`` splits of a corpus that has none.

    Pairs are grouped by source sentence (Tatoeba repeats a sentence with several
    translations) and whole groups are assigned, so no test source sentence is seen in
    training: ``test`` takes ``round(fractions[2] * groups)`` groups by a permutation drawn
    with the constant :data:`~rnnlab.tasks.splits.TEST_SPLIT_SEED` (the same test set for
    every run), ``val`` ``round(fractions[1] * groups)`` of the rest with ``seed``. Each
    split keeps corpus order.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions {fractions}; expected three non-negative numbers summing to 1")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(pairs.source):
        groups.setdefault(s, []).append(i)
    keys = list(groups.values())
    n_test, n_val = round(fractions[2] * len(keys)), round(fractions[1] * len(keys))
    order = torch.randperm(len(keys), generator=task_generator(TEST_SPLIT_SEED, TEST_STREAM))
    test_groups, rest = order[:n_test].tolist(), order[n_test:].sort().values
    pick = torch.randperm(len(rest), generator=task_generator(seed, VAL_STREAM))
    val_groups = rest[pick[:n_val]].tolist()
    train_groups = rest[pick[n_val:]].tolist()

    def rows(chosen: list[int]) -> list[int]:
        return sorted(i for g in chosen for i in keys[g])

    return {
        "train": pairs.select(rows(train_groups)),
        "val": pairs.select(rows(val_groups)),
        "test": pairs.select(rows(test_groups)),
    }


# -- Multi30k ---------------------------------------------------------------------------


def _find_side(folder: Path, split: str, lang: str) -> Path | None:
    for name in (f"{split}.{lang}", f"{split}.{lang}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_multi30k(folder: str | os.PathLike[str], src: str, tgt: str) -> dict[str, ParallelText]:
    """Multi30k's official splits for ``src -> tgt`` from a folder holding
    ``train.{src,tgt}`` and ``val.{src,tgt}`` (``test.*`` optional), plain or ``.gz``.

    Returns ``{"train": ..., "val": ..., "test": ...}`` (``test`` only when its files are
    there), sentences raw and in file order; the two sides of a split must have as many
    lines.
    """
    check_pair(src, tgt, MULTI30K_LANGS, "Multi30k")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Multi30k folder {str(root)!r} not found")
    out: dict[str, ParallelText] = {}
    for split in ("train", "val", "test"):
        src_path, tgt_path = (_find_side(root, split, lang) for lang in (src, tgt))
        if src_path is None or tgt_path is None:
            if split == "test":
                continue
            missing = f"{split}.{src if src_path is None else tgt}"
            raise FileNotFoundError(
                f"Multi30k file {missing} (or {missing}.gz) not found in {str(root)!r}; "
                f"expected train.{{{src},{tgt}}} and val.{{{src},{tgt}}}"
            )
        paths = (src_path, tgt_path)
        sides = [[line.strip() for line in _read_lines(p)] for p in paths]
        if len(sides[0]) != len(sides[1]):
            raise ValueError(
                f"Multi30k {split}: {paths[0].name} has {len(sides[0])} lines but "
                f"{paths[1].name} has {len(sides[1])}; expected line-aligned files"
            )
        out[split] = ParallelText(sides[0], sides[1])
    return out


def read_split_side(folder: str | os.PathLike[str], split: str, lang: str) -> list[str]:
    """The raw lines of one side of a Multi30k split, ``<split>.<lang>[.gz]``, from
    ``folder`` or its ``multi30k`` subfolder."""
    root = Path(folder).expanduser()
    for where in (root, root / MULTI30K_CACHE):
        path = _find_side(where, split, lang)
        if path is not None:
            return [line.strip() for line in _read_lines(path)]
    raise FileNotFoundError(f"Multi30k file {split}.{lang} (or .gz) not found in {str(root)!r}")


def multi30k_splits(
    official: dict[str, ParallelText], seed: int, n_val: int | None = None
) -> dict[str, ParallelText]:
    """The task's splits of Multi30k: ``val`` = ``n_val`` pairs held out of the official
    train (drawn with ``seed``) for checkpoint selection, ``train`` the rest, and ``test``
    = the official validation set, so its score is untouched by model selection.

    ``n_val`` defaults to :data:`MULTI30K_VAL` (1000 of Multi30k's 29000), or 10% of a
    smaller training file."""
    train = official["train"]
    if n_val is None:
        n_val = min(MULTI30K_VAL, round(MULTI30K_VAL_FRACTION * len(train)))
    if not 0 < n_val < len(train):
        raise ValueError(f"cannot hold out {n_val} of {len(train)} training pairs")
    order = torch.randperm(len(train), generator=task_generator(seed, VAL_STREAM))
    held = order[:n_val].sort().values.tolist()
    rest = order[n_val:].sort().values.tolist()
    return {"train": train.select(rest), "val": train.select(held), "test": official["val"]}


def multi30k_folder(
    data: str | os.PathLike[str] | None,
    src: str,
    tgt: str,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the Multi30k files for ``src``/``tgt`` are: ``data`` when given (the folder
    itself, or its ``multi30k`` subfolder when the files are there), else
    ``<cache_dir>/multi30k``, where ``download`` fetches the missing ``train``/``val``
    files of the two languages from :data:`MULTI30K_URL` (checked against
    :data:`MULTI30K_SHA256`)."""
    check_pair(src, tgt, MULTI30K_LANGS, "Multi30k")
    needed = [f"{split}.{lang}" for split in ("train", "val") for lang in (src, tgt)]
    if data is not None:
        given = Path(data).expanduser()
        for folder in (given, given / MULTI30K_CACHE):
            if all(_find_side(folder, *n.split(".")) for n in needed):
                return folder
        return given  # read_multi30k names what is missing
    folder = cache_root(cache_dir) / MULTI30K_CACHE
    missing = [n for n in needed if _find_side(folder, *n.split(".")) is None]
    if missing and download:
        for name in missing:
            fetch_extract(MULTI30K_URL + f"{name}.gz", folder / name, MULTI30K_SHA256[name])
    elif missing:
        raise FileNotFoundError(
            f"Multi30k file {missing[0]} not found in {folder}: pass --download to fetch "
            f"the files, or --data FOLDER holding train.{{{src},{tgt}}} and val.{{{src},{tgt}}}"
        )
    return folder


def tatoeba_path(
    data: str | os.PathLike[str] | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the Tatoeba file is: ``data`` when given, else ``<cache_dir>/tatoeba/eng-fra.txt``,
    which ``download`` fetches from :data:`TATOEBA_URL` (member :data:`TATOEBA_MEMBER`,
    checked against :data:`TATOEBA_SHA256`)."""
    if data is not None:
        return Path(data).expanduser()
    cached = cache_root(cache_dir) / TATOEBA_CACHE
    if cached.is_file():
        return cached
    if download:
        return fetch_extract(TATOEBA_URL, cached, TATOEBA_SHA256, member=TATOEBA_MEMBER)
    raise FileNotFoundError(
        f"Tatoeba eng-fra.txt not found at {cached}: pass --download to fetch it, or "
        "--data FILE for a local eng-fra.txt[.gz]"
    )
