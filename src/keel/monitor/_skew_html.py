"""Training-serving skew as HTML: :func:`skew_html`, the page of ``keel features skew
--html``, and :func:`skew_section`, its part of ``keel monitor report --html``. Inline CSS
only, like the other monitoring pages."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from keel._html import DOCUMENT_END, document_head
from keel.features import SKEW_REASONS as REASONS
from keel.features import SkewReport

__all__ = ["skew_html", "skew_section"]

_BAD = "#c0392b"


def skew_html(report: SkewReport, *, title: str | None = None) -> str:
    """Render ``report`` as one HTML document."""
    name = report.model or "served rows"
    parts = [document_head(title or f"Training-serving skew: {name}")]
    parts += skew_section(report.to_dict(), heading=False)
    parts.append(DOCUMENT_END)
    return "\n".join(parts) + "\n"


def skew_section(data: Mapping[str, Any], *, heading: bool = True) -> list[str]:
    """The skew table of a report's JSON (:meth:`SkewReport.to_dict`), or its error (a
    monitor report whose skew could not be measured says why)."""
    e = html.escape
    parts = ["<h2>Training-serving skew</h2>"] if heading else []
    if "error" in data:
        hint = f" {e(str(data.get('hint') or ''))}"
        parts.append(
            f"<p style='color:{_BAD}'>Skew not measured: {e(str(data['error']))}{hint}</p>"
        )
        return parts
    skewed = data["skewed"]
    verdict = (
        f"<strong style='color:{_BAD}'>skew over {data['max_share']:.2%} in "
        f"{e(', '.join(skewed))}</strong>"
        if skewed
        else f"<strong>no feature over {data['max_share']:.2%}</strong>"
    )
    services = ", ".join(data["services"]) or "-"
    parts.append(
        f'<p class="facts">{data["rows"]:,} served rows · service {e(services)} · versions '
        f"{e(', '.join(map(str, data['versions'])) or '-')} · {verdict}</p>"
    )
    head = "".join(f"<th>{e(r)}</th>" for r in REASONS)
    rows = [f"<table><tr><th>feature</th><th>view</th><th>differ</th><th>share</th>{head}</tr>"]
    for f in data["features"]:
        style = f" style='color:{_BAD}'" if f["exceeds"] else ""
        cells = "".join(f"<td class='num'>{f['reasons'][r]:,}</td>" for r in REASONS)
        rows.append(
            f"<tr><td>{e(f['feature'])}</td><td>{e(f['view'] or '(derived)')}</td>"
            f"<td class='num'>{f['differ']:,}</td><td class='num'{style}>{f['share']:.2%}</td>"
            f"{cells}</tr>"
        )
    rows.append("</table>")
    parts.append("\n".join(rows))
    examples = [(f["feature"], x) for f in data["features"] for x in f["examples"]]
    if examples:
        parts.append(
            "<h3>Examples</h3><table><tr><th>feature</th><th>keys</th><th>time</th>"
            "<th>served</th><th>offline</th><th>reason</th></tr>"
        )
        for feature, x in examples:
            keys = ", ".join(f"{k}={v}" for k, v in x["keys"].items())
            parts.append(
                f"<tr><td>{e(feature)}</td><td>{e(keys)}</td><td>{e(str(x['time']))}</td>"
                f"<td>{e(repr(x['served']))}</td><td>{e(repr(x['offline']))}</td>"
                f"<td>{e(x['reason'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        '<p class="muted">A served value differs when it is not equal to the point-in-time '
        "join at its request time (numbers within the tolerance, nulls equal nulls). "
        "<em>stale</em>: an older row of the entity was served (materialization lag); "
        "<em>missing</em>: the online store had no row; <em>expired</em>: past the view's "
        "TTL; <em>computed differently</em>: anything else, e.g. a derived feature whose "
        "function changed.</p>"
    )
    return parts
