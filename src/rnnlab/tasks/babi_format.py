"""Reading the bAbI tasks' released text format (Weston et al. 2015, v1.2).

A file is a run of stories. Each line is ``ID TEXT``; ``ID`` counts up from 1 within a
story and starts again at 1 with the next. A statement is plain text; a question carries
its answer and the ids of the supporting statements after tabs::

    1 Mary moved to the bathroom.
    2 John went to the hallway.
    3 Where is Mary? \tbathroom\t1

An answer of several words (task 8 ``apple,football``, task 19 ``n,w``) is one token.
Every question sees the statements of its story before it (questions are not statements).
Errors are one line naming the file and line: ``qa1_train.txt:3: ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words of a statement or question, punctuation dropped."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Question:
    """One question with the story before it.

    Attributes:
        story: the story's statements before the question, oldest first, as words.
        support: indices into ``story`` of the supporting statements.
        query: the question's words.
        answer: the answer, one token (``north,west`` stays whole).
        where: ``file:line`` of the question, for errors.
    """

    story: tuple[tuple[str, ...], ...]
    support: tuple[int, ...]
    query: tuple[str, ...]
    answer: str
    where: str


def read_babi(path: str | Path) -> list[Question]:
    """Every question of the bAbI file ``path`` (see the module docstring); a malformed
    line is a one-line ``ValueError`` naming the file and line."""
    path = Path(path)
    questions: list[Question] = []
    story: list[tuple[str, ...]] = []
    index_of: dict[int, int] = {}  # line id -> index of the statement in story
    previous = 0
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            where = f"{path.name}:{number}"
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            head, _, text = line.partition(" ")
            if not head.isdigit() or not text.strip():
                raise ValueError(f"{where}: expected 'ID TEXT' with a numeric ID, got {line!r}")
            line_id = int(head)
            if line_id == 1:
                story, index_of = [], {}
            elif line_id != previous + 1:
                raise ValueError(
                    f"{where}: line id {line_id} follows {previous}; expected "
                    f"{previous + 1}, or 1 to start a story"
                )
            previous = line_id
            if "\t" not in text:
                statement = tuple(words(text))
                if not statement:
                    raise ValueError(f"{where}: a statement without words: {line!r}")
                index_of[line_id] = len(story)
                story.append(statement)
                continue
            fields = text.split("\t")
            if len(fields) != 3 or not fields[1].strip():
                raise ValueError(
                    f"{where}: a question needs 'QUESTION<tab>ANSWER<tab>SUPPORTING IDS', "
                    f"got {len(fields)} tab-separated fields"
                )
            if not story:
                raise ValueError(f"{where}: a question before any statement of its story")
            support = []
            for token in fields[2].split():
                if not token.isdigit() or int(token) not in index_of:
                    raise ValueError(
                        f"{where}: supporting fact {token!r} is not a statement of this story"
                    )
                support.append(index_of[int(token)])
            query = tuple(words(fields[0]))
            if not query:
                raise ValueError(f"{where}: a question without words: {line!r}")
            questions.append(
                Question(tuple(story), tuple(support), query, fields[1].strip().lower(), where)
            )
    if not questions:
        raise ValueError(f"{path.name}: no questions in the file")
    return questions
