"""The drift report as one self-contained HTML page: a table of every column's effect size
with its interval and threshold, and the reference and current distributions side by side."""

from __future__ import annotations

import html
import itertools
import math
from typing import Any

from keel._html import DOCUMENT_END, document_head
from keel.monitor._compare import Comparison
from keel.monitor._profile import Bins, ColumnProfile

__all__ = ["comparison_html"]

_REF = "#8a99a8"
_CUR = "#1f5f99"
_BAD = "#c0392b"


def comparison_html(comparison: Comparison, *, title: str, subtitle: str = "") -> str:
    """Render ``comparison`` as a complete HTML document (inline CSS and SVG only)."""
    e = html.escape
    drifted = [r.column for r in comparison.columns if r.drifted]
    verdict = (
        f"<strong style='color:{_BAD}'>drift in {len(drifted)} of "
        f"{len(comparison.columns)} columns</strong>: {e(', '.join(drifted))}"
        if drifted
        else "<strong>no drift</strong>"
    )
    parts = [document_head(title)]
    if subtitle:
        parts.append(f'<p class="subtitle">{e(subtitle)}</p>')
    parts.append(
        f'<p class="facts">reference {comparison.reference.rows:,} rows · current '
        f"{comparison.current.rows:,} rows · {verdict}</p>"
    )
    parts.append("<h2>Drift by column</h2>")
    parts.append(_table(comparison))
    parts.append("<h2>Distributions: reference (grey) and current (blue)</h2>")
    parts.append('<div class="charts">')
    for result in comparison.columns:
        bins = comparison.bins[result.column]
        chart = _bars(
            bins,
            comparison.reference.columns[result.column],
            comparison.current.columns[result.column],
            drifted=result.drifted,
        )
        parts.append(f'<div class="chart">{chart}</div>')
    parts.append("</div>")
    parts.append(
        '<p class="muted">A column drifts when the lower end of its effect size\'s interval '
        "clears the threshold and its calibrated p-value survives Benjamini-Hochberg across "
        "columns.</p>"
    )
    parts.append(DOCUMENT_END)
    return "\n".join(parts) + "\n"


def _table(comparison: Comparison) -> str:
    e = html.escape
    rows = [
        "<table><tr><th>column</th><th>method</th><th>score</th><th>interval</th>"
        "<th>threshold</th><th>p</th><th>drifted</th></tr>"
    ]
    for r in comparison.columns:
        flag = f"<strong style='color:{_BAD}'>yes</strong>" if r.drifted else "no"
        rows.append(
            f"<tr><td>{e(r.column)}</td><td>{e(r.method)}</td>"
            f'<td class="num">{_fmt(r.score)}</td>'
            f'<td class="num">[{_fmt(r.low)}, {_fmt(r.high)}]</td>'
            f'<td class="num">{_fmt(r.threshold)}</td><td class="num">{_fmt(r.p_value)}</td>'
            f"<td>{flag}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _fmt(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{number:.3g}" if math.isfinite(number) else "-"


def _labels(bins: Bins) -> list[str]:
    if bins.kind == "categorical":
        return [*bins.levels, "(other)", "(unseen)"]
    edges = [f"{x:.3g}" for x in bins.edges]
    if not edges:
        return ["all"]
    inner = [f"{a}-{b}" for a, b in itertools.pairwise(edges)]
    return [f"< {edges[0]}", *inner, f">= {edges[-1]}"]


def _bars(bins: Bins, ref: ColumnProfile, cur: ColumnProfile, *, drifted: bool) -> str:
    e = html.escape
    labels = _labels(bins)
    ref_total = sum(ref.counts) or 1
    cur_total = sum(cur.counts) or 1
    ref_share = [c / ref_total for c in ref.counts]
    cur_share = [c / cur_total for c in cur.counts]
    top = max([*ref_share, *cur_share, 1e-9])
    width, height, pad = 360, 150, 24
    step = (width - 2 * pad) / max(len(labels), 1)
    bar = step * 0.4
    color = _BAD if drifted else "#1d2329"
    parts = [
        f'<svg width="{width}" height="{height + 40}" viewBox="0 0 {width} {height + 40}" '
        f'role="img" aria-label="{e(bins.column)}">',
        f'<text x="{pad}" y="14" style="fill:{color};font-weight:600">{e(bins.column)}</text>',
    ]
    for i, (label, a, b) in enumerate(zip(labels, ref_share, cur_share, strict=False)):
        x = pad + i * step
        for offset, share, fill in ((0.0, a, _REF), (bar, b, _CUR)):
            h = (height - 30) * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{height - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{fill}"><title>{e(label)}: {share:.1%}</title></rect>'
            )
        if len(labels) <= 12:
            parts.append(
                f'<text x="{x:.1f}" y="{height + 14}" class="muted" '
                f'transform="rotate(30 {x:.1f} {height + 14})">{e(label[:14])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
