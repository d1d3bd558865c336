"""The HTML page renderer: escaping, embedded figures, bad input."""

from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest

from rnnlab.report import Figure, Page, Section, Table, render_page, write_page


def _png(width: int = 2, height: int = 1) -> bytes:
    """A valid PNG built by hand from its specification (no matplotlib)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_text_is_escaped_and_figures_embedded(tmp_path):
    png = _png()
    page = Page(
        title="Runs <1>",
        intro="a & b",
        sections=[
            Section(
                title="<script>alert(1)</script>",
                summary="loss < 1",
                facts=(("command", "rnnlab train copy --steps 5"), ("number", "0.5")),
                tables=(Table(columns=("a", "b"), rows=(("<i>", "2"),)),),
                figures=(Figure(title="curve", png=png, caption="x"),),
                preformatted=(("sample", "</pre><b>"),),
            )
        ],
    )
    html = render_page(page)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<i>" not in html and "&lt;/pre&gt;&lt;b&gt;" in html
    assert "Runs &lt;1&gt;" in html and "a &amp; b" in html
    (uri,) = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(uri) == png
    path = write_page(page, tmp_path / "out" / "page.html")
    assert path.read_text(encoding="utf-8") == html
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_bad_figure_and_table_are_one_line_errors():
    with pytest.raises(ValueError, match="expected PNG bytes"):
        Figure(title="f", png=b"GIF89a")
    with pytest.raises(ValueError, match="a row has 1 cells, expected 2"):
        Table(columns=("a", "b"), rows=(("x",),))


def test_a_collapsed_table_is_folded_under_its_caption():
    table = Table(columns=("setting",), rows=(("<x>",),), caption="config <all>", collapsed=True)
    html = render_page(Page(title="t", sections=[Section(title="s", tables=(table,))]))
    folded = re.search(
        r"<details><summary>(.*?)</summary>\s*<table>(.*?)</table>\s*</details>", html, re.S
    )
    assert folded is not None and folded.group(1) == "config &lt;all&gt;"
    assert "<td>&lt;x&gt;</td>" in folded.group(2) and "<caption>" not in folded.group(2)
