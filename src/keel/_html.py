"""The frame of Keel's self-contained HTML reports: inline CSS, no external resources
(the machines that read them may have no internet)."""

from __future__ import annotations

import html

__all__ = ["CSS", "DOCUMENT_END", "document_head"]

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
