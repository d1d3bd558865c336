"""Self-contained HTML reports: a page of sections (text, tables, embedded figures)
rendered with Jinja2 (autoescaped), for run folders (`rnnlab report`) and the lecture's
tour (`rnnlab tour`)."""

from rnnlab.report.page import Figure, Page, Section, Table, render_page, write_page

__all__ = ["Figure", "Page", "Section", "Table", "render_page", "write_page"]
