"""The frame of Keel's self-contained HTML reports: inline CSS, no external resources
(the machines that read them may have no internet)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

__all__ = ["CSS", "DOCUMENT_END", "document_head", "facts", "fragment", "page", "table"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2329;
       margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 1.6rem; }
h2 { margin: 32px 0 8px; font-size: 1.2rem; border-bottom: 1px solid #d5d9de; }
.subtitle { margin: 0 0 8px; color: #56616c; }
.facts { color: #56616c; font-size: 0.9rem; margin: 0 0 16px; }
table { border-collapse: collapse; background: #fff; margin: 8px 0 16px; font-size: 0.9rem; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e3e6ea; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eef1f4; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { background: #fff; border: 1px solid #e3e6ea; border-radius: 4px; padding: 4px; }
svg text { font-family: inherit; font-size: 11px; fill: #1d2329; }
svg .muted { fill: #6b7580; }
.muted { color: #6b7580; }
details { margin: 4px 0 8px; }
"""

DOCUMENT_END = "</main></body></html>"


def document_head(title: str) -> str:
    """Everything up to and including the page's ``<h1>``."""
    e = html.escape
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title>",
            f"<style>{CSS}</style></head>",
            "<body><main>",
            f"<h1>{e(title)}</h1>",
        ]
    )


_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_BODY = re.compile(r"<body><main>\n?(.*)</main></body></html>", re.DOTALL)


def _scoped(css: str) -> str:
    """``CSS`` with every selector under ``.keel-report`` (``body`` and ``main`` become it),
    so an embedded report styles itself and nothing else on the page."""

    def scope(selector: str) -> str:
        selector = selector.strip()
        if selector in {"body", "main"}:
            return ".keel-report"
        return f".keel-report {selector}"

    rules = [
        f"{', '.join(scope(s) for s in selectors.split(','))} {{{body}}}"
        for selectors, body in _RULE.findall(css)
    ]
    return "\n".join(rules)


def fragment(document: str) -> str:
    """A report page (``document_head`` ... ``DOCUMENT_END``) as a self-contained fragment to
    embed in another page, as Jupyter does with ``_repr_html_``: its body in a
    ``<div class="keel-report">`` with the style sheet scoped to that div."""
    found = _BODY.search(document)
    inner = found.group(1) if found else document
    return (
        f'<div class="keel-report"><style>{_scoped(CSS)}\n'
        ".keel-report { margin: 0; padding: 8px 0; background: none; }</style>\n"
        f"{inner}</div>"
    )


def page(title: str, parts: Iterable[str]) -> str:
    """A complete report page: the head (title as ``<h1>``), ``parts``, the end."""
    return "\n".join([document_head(title), *parts, DOCUMENT_END]) + "\n"


def facts(text: str) -> str:
    """The grey line of headline facts under a page's title (``text`` is escaped)."""
    return f'<p class="facts">{html.escape(text)}</p>'


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table; every cell is escaped, numbers are right-aligned."""
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{e(str(c))}</td>'
            if isinstance(c, int | float) and not isinstance(c, bool)
            else f"<td>{e(str(c))}</td>"
            for c in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
