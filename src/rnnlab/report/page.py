"""One self-contained HTML page: sections of facts, tables and figures embedded as PNG.

The page needs no network and no JavaScript: figures are ``data:image/png;base64`` URIs,
the style sheet is inline, and every string is escaped by Jinja2's autoescaping (a run's
config or a sample of generated text cannot inject markup).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from rnnlab._io import atomic_write

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Figure:
    """A PNG image with a title and a caption."""

    title: str
    png: bytes
    caption: str = ""

    def __post_init__(self) -> None:
        if not self.png.startswith(_PNG_MAGIC):
            raise ValueError(f"figure {self.title!r}: expected PNG bytes, got {self.png[:8]!r}")

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @classmethod
    def from_matplotlib(cls, fig: Any, title: str, caption: str = "", dpi: int = 100) -> Figure:
        """Render a matplotlib figure to PNG (and close it)."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        return cls(title=title, png=buffer.getvalue(), caption=caption)

    @classmethod
    def from_file(cls, path: Path, title: str, caption: str = "") -> Figure:
        return cls(title=title, png=Path(path).read_bytes(), caption=caption)


@dataclass(frozen=True)
class Table:
    """Rows of cells under named columns (cells are shown as given, escaped);
    ``collapsed``: folded under its caption until the reader opens it (``<details>``,
    no JavaScript), for long tables such as a run's whole configuration."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    collapsed: bool = False

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table {self.caption!r}: a row has {len(row)} cells, "
                    f"expected {len(self.columns)} ({', '.join(self.columns)})"
                )


@dataclass(frozen=True)
class Section:
    """One part of a page: a title, a one-sentence summary (the claim, for the tour),
    labelled facts (the command, the number, the reference), tables, figures, notes."""

    title: str
    summary: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = ()
    anchor: str = ""
    preformatted: tuple[tuple[str, str], ...] = field(default=())  # (label, text): samples


@dataclass(frozen=True)
class Page:
    title: str
    sections: Sequence[Section]
    intro: str = ""
    footer: str = ""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rnnlab.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(page: Page) -> str:
    """The page as one HTML document (UTF-8 text)."""
    sections = [
        (section.anchor or f"section-{i + 1}", section) for i, section in enumerate(page.sections)
    ]
    return _environment().get_template("page.html.j2").render(page=page, sections=sections)


def write_page(page: Page, path: Path) -> Path:
    """Render ``page`` and write it atomically to ``path``."""
    html = render_page(page)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
    return Path(path)
