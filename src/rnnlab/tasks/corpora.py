"""Text corpora for character language models.

* :func:`python_stdlib_corpus`: the source of Python's own standard library, read from the
  running interpreter, so a corpus exists on every machine without a download (it differs
  between Python versions: record the metadata it returns).
* :func:`read_text_file`: any UTF-8 text file.
* :func:`tinyshakespeare`: Karpathy's Tiny Shakespeare (1,115,394 characters), from a
  local file or folder, the cache, or downloaded (checksummed) from the char-rnn repository.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from typing import Any

from rnnlab.tasks.download import cache_root, fetch

STDLIB_MAX_CHARS = 3_000_000  # the stdlib corpus is the first this many characters

TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINYSHAKESPEARE_FILES = ("tinyshakespeare.txt", "input.txt")  # names looked for in a folder
TINYSHAKESPEARE_CACHE = Path("tinyshakespeare") / "input.txt"  # under the cache root


def text_sha256(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stdlib_files() -> list[Path]:
    """The ``*.py`` files directly in the standard library folder, sorted by name."""
    folder = Path(os.path.dirname(os.__file__))
    return sorted(p for p in folder.glob("*.py") if p.is_file())


def python_stdlib_corpus(max_chars: int = STDLIB_MAX_CHARS) -> tuple[str, dict[str, Any]]:
    """The source text of the standard library's top-level modules, and its metadata.

    The ``*.py`` files directly in ``os.path.dirname(os.__file__)`` are read in sorted
    order (files that are not UTF-8 are skipped), concatenated as they are, and cut after
    ``max_chars`` characters. The text is fixed for a given interpreter but differs between
    Python versions, hence the metadata: ``python_version``, ``implementation``,
    ``sha256`` (of the text), ``files`` (files read, the last one maybe in part) and
    ``chars``.
    """
    if max_chars <= 0:
        raise ValueError(f"max_chars={max_chars}; expected a positive number of characters")
    parts: list[str] = []
    total = files = 0
    for path in stdlib_files():
        if total >= max_chars:
            break
        try:
            source = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(source[: max_chars - total])
        total += len(parts[-1])
        files += 1
    text = "".join(parts)
    if not text:
        raise FileNotFoundError(f"no Python sources found in {os.path.dirname(os.__file__)}")
    meta = {
        "python_version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "sha256": text_sha256(text),
        "files": files,
        "chars": len(text),
    }
    return text, meta


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The text of a UTF-8 file, exactly (no newline translation; a leading BOM dropped).

    Raises one-line errors: ``FileNotFoundError`` for a missing path, ``IsADirectoryError``
    for a folder, ``ValueError`` for bytes that are not UTF-8 or an empty file.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise IsADirectoryError(f"text file {str(p)!r} is a folder; expected a UTF-8 text file")
    if not p.is_file():
        raise FileNotFoundError(f"text file {str(p)!r} not found")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"text file {str(p)!r} is not UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start}"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text:
        raise ValueError(f"text file {str(p)!r} is empty; expected UTF-8 text")
    return text


def tinyshakespeare_path(
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    data: str | os.PathLike[str] | None = None,
) -> Path:
    """Where Tiny Shakespeare is: ``data`` (a file, or a folder holding
    ``tinyshakespeare.txt`` or ``input.txt``) when given; else the cache file
    ``<cache_dir>/tinyshakespeare/input.txt``; else, with ``download``, that file fetched
    from :data:`TINYSHAKESPEARE_URL` and checked against :data:`TINYSHAKESPEARE_SHA256`.
    """
    if data is not None:
        given = Path(data).expanduser()
        if given.is_file():
            return given
        if given.is_dir():
            for name in TINYSHAKESPEARE_FILES:
                if (given / name).is_file():
                    return given / name
            raise FileNotFoundError(
                f"Tiny Shakespeare not found in folder {str(given)!r}: expected "
                f"{' or '.join(TINYSHAKESPEARE_FILES)}"
            )
        raise FileNotFoundError(f"Tiny Shakespeare file {str(given)!r} not found")
    cached = cache_root(cache_dir) / TINYSHAKESPEARE_CACHE
    if cached.is_file():
        return cached
    if download:
        return fetch(TINYSHAKESPEARE_URL, cached, sha256=TINYSHAKESPEARE_SHA256)
    raise FileNotFoundError(
        f"Tiny Shakespeare not found at {cached}: pass --download to fetch it, or "
        f"--data FILE_OR_FOLDER for a local copy"
    )


def tinyshakespeare(
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    data: str | os.PathLike[str] | None = None,
) -> str:
    """The Tiny Shakespeare text, found as :func:`tinyshakespeare_path` says."""
    return read_text_file(tinyshakespeare_path(cache_dir, download, data))
