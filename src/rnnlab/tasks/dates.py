"""Date normalisation: a date written in one of many human formats -> its ISO form.

``"3 March 1998"``, ``"03/03/98"``, ``"March 3rd, 1998"``, ``"Tue 3 Mar 1998"``,
``"1998.03.03"``, ... all map to ``"1998-03-03"``. Dates are drawn uniformly from
1930-01-01 to 2029-12-31, a window of 100 years in which every two-digit year names one
year (``30``..``99`` -> 19xx, ``00``..``29`` -> 20xx); numeric formats put the day before
the month (``dd/mm/yy``), so no string is ambiguous. Sources and targets are
character-level (:class:`~rnnlab.tasks.tokens.CharTokenizer`). Month and weekday names are
English and fixed here, independent of the machine's locale.

Since there are only 36,525 dates and :data:`FORMATS` has 16 formats, a test string may
also occur in training; the task measures learning the mapping, not generalising to
unseen dates.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from rnnlab.tasks.seq2seq import GeneratedSeq2SeqTask
from rnnlab.tasks.tokens import CharTokenizer, TokenVocab

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST = datetime.date(1930, 1, 1)
LAST = datetime.date(2029, 12, 31)


def ordinal(day: int) -> str:
    """``1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, ..., 31st``."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]


def _weekday(d: datetime.date) -> str:
    return WEEKDAYS[d.weekday()]


# each format: a date -> its text
FORMATS: tuple[Callable[[datetime.date], str], ...] = (
    lambda d: f"{d.day} {_month(d)} {d.year}",  # 3 March 1998
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",  # 03/03/98
    lambda d: f"{_month(d)} {ordinal(d.day)}, {d.year}",  # March 3rd, 1998
    lambda d: f"{_weekday(d)[:3]} {d.day} {_month(d)[:3]} {d.year}",  # Tue 3 Mar 1998
    lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",  # 1998.03.03
    lambda d: f"{d.day}.{d.month}.{d.year}",  # 3.3.1998
    lambda d: f"{d.day}/{d.month}/{d.year}",  # 3/3/1998
    lambda d: f"{d.day:02d} {_month(d)[:3]} {d.year}",  # 03 Mar 1998
    lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",  # Tuesday, March 3, 1998
    lambda d: f"{d.day}-{_month(d)[:3]}-{d.year % 100:02d}",  # 3-Mar-98
    lambda d: f"{d.year}{d.month:02d}{d.day:02d}",  # 19980303
    lambda d: f"the {ordinal(d.day)} of {_month(d)} {d.year}",  # the 3rd of March 1998
    lambda d: f"{_month(d)[:3]} {d.day} '{d.year % 100:02d}",  # Mar 3 '98
    lambda d: f"{_month(d).upper()} {d.day}, {d.year}",  # MARCH 3, 1998
    lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",  # 1998-03-03 (already ISO)
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",  # 03.03.98
)


def _alphabet() -> list[str]:
    """Every character any format can write, in code-point order."""
    chars: set[str] = set("0123456789 ,./-'")
    for name in (*MONTHS, *WEEKDAYS):
        chars.update(name)
        chars.update(name.upper())
    chars.update("stndrh" + "the of")
    return sorted(chars)


def iso(d: datetime.date) -> str:
    return d.isoformat()


class DatesTask(GeneratedSeq2SeqTask):
    """Normalise dates written in 16 human formats to ``YYYY-MM-DD`` (see the module
    docstring); character-level, main metric ``exact_match``.

    Example::

        task = DatesTask()
        task.decode_target(task.encode_source("1998-03-03"))   # the ids of its characters
    """

    name: ClassVar[str] = "dates"
    description: ClassVar[str] = (
        "seq2seq: normalise dates in 16 human formats ('Tue 3 Mar 1998') to YYYY-MM-DD"
    )
    defaults: ClassVar[dict[str, Any]] = dict(
        model="gru",
        hidden_size=128,
        embedding_size=32,
        bidirectional=True,
        attention="general",
        input_feeding=False,
        batch_size=64,
        steps=1500,
        lr=3e-3,
        optimizer="adam",
        clip=1.0,
        eval_every=250,
        eval_batch_size=500,
    )

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._days = LAST.toordinal() - FIRST.toordinal() + 1
        chars = CharTokenizer()
        self._set_vocabs(
            TokenVocab(_alphabet()),
            TokenVocab(list("0123456789-")),
            max_target_length=11,  # YYYY-MM-DD and EOS
            source_tokenizer=chars,
            target_tokenizer=chars,
        )

    def make_pairs(
        self, n: int, generator: torch.Generator
    ) -> tuple[list[list[int]], list[list[int]]]:
        days = torch.randint(self._days, (n,), generator=generator).tolist()
        formats = torch.randint(len(FORMATS), (n,), generator=generator).tolist()
        sources, targets = [], []
        for day, f in zip(days, formats, strict=True):
            d = datetime.date.fromordinal(FIRST.toordinal() + day)
            sources.append(self.encode_source(FORMATS[f](d)))
            targets.append(self.tgt_vocab.encode(list(iso(d))))
        return sources, targets
