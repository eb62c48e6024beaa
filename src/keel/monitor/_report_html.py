"""Monitoring reports as self-contained HTML pages (inline CSS and SVG, no external files).

:func:`comparison_html`: ``keel monitor compare``, a table of every column's effect size with
its interval and threshold, and the reference and current distributions side by side.
:func:`monitor_report_html`: ``keel monitor report``, a served model over time."""

from __future__ import annotations

import html
import itertools
import math
from typing import TYPE_CHECKING, Any

from keel._html import DOCUMENT_END, document_head
from keel.monitor._profile import Bins, ColumnProfile
from keel.monitor._skew_html import skew_section

if TYPE_CHECKING:  # the reports call these renderers: a runtime import would be a cycle
    from keel.monitor._compare import Comparison
    from keel.monitor._report import MonitorReport

__all__ = ["comparison_html", "monitor_report_html"]

_REF = "#8a99a8"
_CUR = "#1f5f99"
_BAD = "#c0392b"


def comparison_html(comparison: Comparison, *, title: str, subtitle: str = "") -> str:
    """Render ``comparison`` as a complete HTML document (inline CSS and SVG only)."""
    e = html.escape
    verdict = _verdict(comparison)
    parts = [document_head(title)]
    if subtitle:
        parts.append(f'<p class="subtitle">{e(subtitle)}</p>')
    parts.append(
        f'<p class="facts">reference {comparison.reference.rows:,} rows · current '
        f"{comparison.current.rows:,} rows · {verdict}</p>"
    )
    findings = comparison.findings
    if findings:
        parts.append("<h2>Data quality: columns that could not be compared</h2><ul>")
        parts.extend(f"<li style='color:{_BAD}'>{e(finding.message)}</li>" for finding in findings)
        parts.append("</ul>")
    parts.append("<h2>Drift by column</h2>")
    parts.append(_table(comparison))
    if comparison.slices:
        parts += _slice_table(comparison)
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


def _verdict(comparison: Comparison) -> str:
    """``drift in N of M columns: ...`` and/or ``K column(s) could not be compared``, else
    ``no drift``: a comparison with findings never reads "no drift"."""
    drifted = [r.column for r in comparison.columns if r.drifted]
    parts = []
    if drifted:
        parts.append(
            f"<strong style='color:{_BAD}'>drift in {len(drifted)} of "
            f"{len(comparison.columns)} columns</strong>: {html.escape(', '.join(drifted))}"
        )
    if comparison.findings:
        unmeasured = len({f.column for f in comparison.findings})
        parts.append(
            f"<strong style='color:{_BAD}'>{unmeasured} column(s) could not be compared</strong>"
        )
    return " · ".join(parts) or "<strong>no drift</strong>"


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


def _slice_table(comparison: Comparison) -> list[str]:
    """Each slice of the current data against the whole reference: a row per slice, a cell
    per column (score, interval; drifted cells in red)."""
    e = html.escape
    names = [r.column for r in comparison.columns]
    drifted = sum(any(r.drifted for r in found) for found in comparison.slices.values())
    parts = [
        "<h2>Drift per slice of the current data</h2>",
        f"<p>{drifted} of {len(comparison.slices)} slice(s) drifted from the whole reference.</p>",
        "<table><tr><th>slice</th>" + "".join(f"<th>{e(n)}</th>" for n in names) + "</tr>",
    ]
    for label, found in comparison.slices.items():
        by_name = {r.column: r for r in found}
        cells = []
        for name in names:
            r = by_name.get(name)
            if r is None:
                cells.append("<td>-</td>")
                continue
            text = f"{_fmt(r.score)} [{_fmt(r.low)}, {_fmt(r.high)}]"
            if r.drifted:
                text = f"<strong style='color:{_BAD}'>{text} drifted</strong>"
            cells.append(f'<td class="num">{text}</td>')
        parts.append(f"<tr><td>{e(str(label))}</td>{''.join(cells)}</tr>")
    parts.append("</table>")
    return parts


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
    """Reference and current shares per bin. Bin labels are written whole, rotated 40
    degrees; the chart grows to hold the longest (and the column name)."""
    e = html.escape
    labels = _labels(bins)
    ref_total = sum(ref.counts) or 1
    cur_total = sum(cur.counts) or 1
    ref_share = [c / ref_total for c in ref.counts]
    cur_share = [c / cur_total for c in cur.counts]
    top = max([*ref_share, *cur_share, 1e-9])
    plot, height, pad = 312, 150, 24
    step = plot / max(len(labels), 1)
    bar = step * 0.4
    shown = len(labels) <= 12
    angle = math.radians(40)
    longest = max([_text_width(label) for label in labels] + [0.0]) if shown else 0.0
    below = 24 + longest * math.sin(angle)
    reach = pad + (len(labels) - 1) * step + longest * math.cos(angle) + 8 if shown else 0.0
    width = int(max(plot + 2 * pad, reach, pad + _text_width(bins.column) + 8))
    total = int(height + below)
    color = _BAD if drifted else "#1d2329"
    parts = [
        f'<svg width="{width}" height="{total}" viewBox="0 0 {width} {total}" '
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
        if shown:
            parts.append(
                f'<text x="{x:.1f}" y="{height + 14}" class="muted" '
                f'transform="rotate(40 {x:.1f} {height + 14})">{e(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- served models

_PALETTE = ("#1f5f99", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d")
_EST = " (estimated)"


def monitor_report_html(report: MonitorReport, *, title: str | None = None) -> str:
    """Render a served model's :class:`~keel.monitor.MonitorReport` as one HTML document:
    drift per column over time, reference against latest distributions, data quality over
    time, performance per window (measured and estimated), per slice, and champion against
    challenger. Inline CSS and SVG only."""
    e = html.escape
    data = report.to_dict()
    windows = data["windows"]
    ticks = [w["start"][5:16].replace("T", " ") for w in windows]
    parts = [document_head(title or f"Monitoring: {report.model}")]
    parts.append(
        f'<p class="facts">{e(data["since"])} to {e(data["until"])} (UTC) · windows of '
        f"{e(report.window)} · {report.rows:,} predictions · {e(report.task)} · reference "
        f"{e(str(data['reference']['source']))} ({data['reference']['rows']:,} rows)</p>"
    )
    parts.append(_alerts_html(data["alerts"]))
    parts += _drift_section(report, data, ticks)
    parts += _quality_section(data, ticks)
    parts += _performance_section(data, ticks)
    if data["slices"]:
        parts += _slices_section(data["slices"])
    if data["champion_vs_challenger"]:
        parts += _duel_section(data["champion_vs_challenger"], ticks)
    if data["skew"]:
        parts += skew_section(data["skew"])
    parts.append(
        '<p class="muted">Figures marked <em>estimated</em> come from the model\'s own '
        "confidence (CBPE): they assume calibrated probabilities and no concept drift.</p>"
    )
    parts.append(DOCUMENT_END)
    return "\n".join(parts) + "\n"


def _alerts_html(alerts: list[dict[str, Any]]) -> str:
    e = html.escape
    if not alerts:
        return "<p><strong>No threshold crossed.</strong></p>"
    items = "".join(f"<li><strong>{e(a['kind'])}</strong>: {e(a['message'])}</li>" for a in alerts)
    return f"<h2 style='color:{_BAD}'>Alerts</h2><ul>{items}</ul>"


def _drift_section(report: MonitorReport, data: dict[str, Any], ticks: list[str]) -> list[str]:
    e = html.escape
    windows = data["windows"]
    columns = list(report.bins)
    series = [
        (
            name,
            [_score(w, name) for w in windows],
            False,
        )
        for name in columns
    ]
    small: _Marks = {}
    for k, name in enumerate(columns):
        for i, w in enumerate(windows):
            found = _column(w, name)
            if found is not None and found["detail"].get("small_window"):
                small[(k, i)] = (found["low"], found["high"], w["rows"])
    parts = ["<h2>Drift per column over time</h2>"]
    parts.append(
        _line_chart(series, ticks, threshold=_practical(report), label="effect size", small=small)
    )
    if small:
        shown = sorted({ticks[i] for _, i in small})
        parts.append(
            '<p class="muted">Hollow points with a dashed interval: windows with too few rows '
            f"for a meaningful drift score ({e(', '.join(shown))}); the drift test expects fewer "
            "than 5 rows in bins holding over a fifth of the reference, so their score is "
            "noise, not the most drifted point.</p>"
        )
    latest = report.latest
    if latest is None:
        return parts
    parts.append(
        f"<h2>Distributions: reference (grey) and the latest window (blue, "
        f"{latest.start:%Y-%m-%d %H:%M})</h2>"
    )
    drifted = {r.column for r in latest.drift or [] if r.drifted}
    parts.append('<div class="charts">')
    for name, bins in report.bins.items():
        chart = _bars(
            bins,
            report.reference_profile.columns[name],
            latest.profile.columns[name],
            drifted=name in drifted,
        )
        parts.append(f'<div class="chart">{chart}</div>')
    parts.append("</div>")
    return parts


def _score(window: dict[str, Any], column: str) -> float | None:
    found = _column(window, column)
    return None if found is None else found["score"]


def _column(window: dict[str, Any], column: str) -> dict[str, Any] | None:
    for c in window["columns"]:
        if c["column"] == column:
            return c  # type: ignore[no-any-return]
    return None


def _practical(report: MonitorReport) -> float | None:
    for w in report.windows:
        for r in w.drift or []:
            return float(r.detail.get("practical_threshold", r.threshold))
    return None


def _quality_section(data: dict[str, Any], ticks: list[str]) -> list[str]:
    e = html.escape
    windows = data["windows"]

    def worst(w: dict[str, Any], key: str) -> float | None:
        values = [c[key] for c in w["quality"]["columns"] if c.get(key) is not None]
        return max(values) if values else None

    series = [
        ("contract violations", [w["quality"]["violation_rate"] for w in windows], False),
        ("null rate (worst column)", [worst(w, "null_rate") for w in windows], False),
        ("out of range (worst)", [worst(w, "out_of_range_rate") for w in windows], False),
        ("unseen categories (worst)", [worst(w, "unseen_rate") for w in windows], False),
    ]
    parts = ["<h2>Data quality over time</h2>", _line_chart(series, ticks, label="rate")]
    busy = [w for w in windows if w["rows"]]
    if busy:
        q = busy[-1]["quality"]
        rows = [
            "<table><tr><th>column</th><th>null rate</th><th>NaN</th><th>infinite</th>"
            "<th>out of range</th><th>unseen categories</th></tr>"
        ]
        for c in q["columns"]:
            rows.append(
                f"<tr><td>{e(c['column'])}</td><td class='num'>{_pct(c['null_rate'])}</td>"
                f"<td class='num'>{c['nan']}</td><td class='num'>{c['infinite']}</td>"
                f"<td class='num'>{_pct(c['out_of_range_rate'])}</td>"
                f"<td class='num'>{_pct(c['unseen_rate'])}</td></tr>"
            )
        rows.append("</table>")
        parts.append(
            f"<p>Latest window with traffic ({e(busy[-1]['start'])}): {q['rows']:,} rows, "
            f"{_pct(q['violation_rate'])} broke the input contract.</p>"
        )
        parts.append("\n".join(rows))
    return parts


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.2%}"


def _main_metric(data: dict[str, Any]) -> str:
    return "accuracy" if data["task"] == "classification" else "rmse"


def _performance_section(data: dict[str, Any], ticks: list[str]) -> list[str]:
    e = html.escape
    windows = data["windows"]
    metric = _main_metric(data)
    measured = [(w["performance"] or {}).get(metric) for w in windows]
    estimated = [(w["estimated_performance"] or {}).get(metric) for w in windows]
    if not any(v is not None for v in measured + estimated):
        return ["<h2>Performance</h2><p class='muted'>No labels and no confidence in the log."]
    series = [(f"{metric} (measured)", measured, False)]
    if any(v is not None for v in estimated):
        series.append((f"{metric}{_EST}", estimated, True))
    parts = ["<h2>Performance per window</h2>", _line_chart(series, ticks, label=metric)]
    names = _metric_names(windows)
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    rows = [f"<table><tr><th>window</th><th>rows</th><th>labelled</th>{head}</tr>"]
    for w in windows:
        for key in ("performance", "estimated_performance"):
            found = w[key]
            if not found:
                continue
            label = e(w["start"][:16]) + (_EST if found.get("estimated") else "")
            cells = "".join(f"<td class='num'>{_fmt(found.get(n))}</td>" for n in names)
            rows.append(
                f"<tr><td>{label}</td><td class='num'>{found['rows']}</td>"
                f"<td class='num'>{found.get('labelled', '-')}</td>{cells}</tr>"
            )
    rows.append("</table>")
    parts.append("\n".join(rows))
    return parts


def _metric_names(items: list[dict[str, Any]]) -> list[str]:
    skip = {"rows", "labelled", "estimated"}
    names: list[str] = []
    for item in items:
        for key in ("performance", "estimated_performance"):
            for name in item.get(key) or {}:
                if name not in skip and name not in names:
                    names.append(name)
    return names


def _slices_section(slices: dict[str, Any]) -> list[str]:
    e = html.escape
    values = slices["values"]
    names = _metric_names(values)
    metric = "accuracy" if "accuracy" in names else (names[0] if names else None)
    parts = [f"<h2>Per slice of {e(slices['column'])}</h2>"]
    if metric is not None:
        bars = []
        for v in values:
            found = v["performance"] or v["estimated_performance"] or {}
            suffix = _EST if found.get("estimated") else ""
            bars.append((f"{v['value']}{suffix}", found.get(metric)))
        parts.append(_hbars(bars, label=metric))
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    rows = [f"<table><tr><th>{e(slices['column'])}</th><th>rows</th><th>drifted</th>{head}</tr>"]
    for v in values:
        found = v["performance"] or v["estimated_performance"] or {}
        suffix = _EST if found.get("estimated") else ""
        drifted = ", ".join(c["column"] for c in v["columns"] if c["drifted"]) or "none"
        cells = "".join(f"<td class='num'>{_fmt(found.get(n))}</td>" for n in names)
        rows.append(
            f"<tr><td>{e(str(v['value']))}{suffix}</td><td class='num'>{v['rows']:,}</td>"
            f"<td>{e(drifted)}</td>{cells}</tr>"
        )
    rows.append("</table>")
    parts.append("\n".join(rows))
    return parts


def _duel_section(duel: dict[str, Any], ticks: list[str]) -> list[str]:
    e = html.escape
    overall = duel["overall"]
    names = _metric_names(
        [{"performance": overall["champion"]}, {"performance": overall["challenger"]}]
    )
    metric = "accuracy" if "accuracy" in names else (names[0] if names else None)
    parts = [
        f"<h2>Champion (v{', '.join(map(str, duel['champion_versions']))}) against challenger "
        f"(v{', '.join(map(str, duel['challenger_versions']))}, {e(duel['mode'])})</h2>"
    ]
    if metric is not None:
        series = [
            (
                role,
                [((w[role] or {}).get(metric)) for w in duel["windows"]],
                any((w[role] or {}).get("estimated") for w in duel["windows"]),
            )
            for role in ("champion", "challenger")
        ]
        parts.append(_line_chart(series, ticks, label=metric))
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    rows = [f"<table><tr><th></th><th>rows</th>{head}</tr>"]
    for role in ("champion", "challenger", "difference"):
        found = overall[role] or {}
        suffix = _EST if found.get("estimated") else ""
        cells = "".join(f"<td class='num'>{_fmt(found.get(n))}</td>" for n in names)
        rows.append(
            f"<tr><td>{role}{suffix}</td><td class='num'>{found.get('rows', '')}</td>{cells}</tr>"
        )
    rows.append("</table>")
    parts.append("\n".join(rows))
    if duel["agreement"]:
        a = duel["agreement"]
        parts.append(
            f"<p>On {a['records']:,} records both answered, they agreed on {_pct(a['rate'])}.</p>"
        )
    return parts


def _text_width(text: str) -> float:
    """A generous width of ``text`` at the reports' 11px font (0.64 em a character), used to
    make room for labels instead of cutting them."""
    return 7.0 * len(text)


_Marks = dict[tuple[int, int], tuple[float | None, float | None, int]]


def _line_chart(
    series: list[tuple[str, list[float | None], bool]],
    ticks: list[str],
    *,
    threshold: float | None = None,
    label: str = "",
    small: _Marks | None = None,
) -> str:
    """Lines over the windows (gaps where a value is missing); dashed lines are estimates.

    ``small`` maps ``(series, window)`` to ``(low, high, rows)`` for a window with too few
    rows for a meaningful score: it is drawn hollow with its interval and ``n=rows``, left
    out of the line and of the axis range, so it never reads as the most extreme point.
    Axis labels and legends are never cut: the margins grow to fit them and the tick labels
    are thinned until they do not overlap."""
    e = html.escape
    small = small or {}
    legends = [
        f"{name}{_EST if dashed and 'estimated' not in name else ''}" for name, _, dashed in series
    ]
    legend_w = max([_text_width(t) for t in legends] + [60.0]) + 20
    left, top, bottom, plot_w = 64, 12, 40, 560
    width = int(left + plot_w + legend_w)
    height = max(220, top + bottom + 14 * len(series))  # room for the legend
    values = [
        v
        for k, (_, points, _) in enumerate(series)
        for i, v in enumerate(points)
        if v is not None and (k, i) not in small
    ]
    high = max([*values, threshold or 0.0, 1e-9])
    low = min([*values, 0.0])
    span = (high - low) or 1.0
    count = max(len(ticks), 1)
    plot_h = height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / count)

    def y(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, low), high) - low) / span)

    mid = top + plot_h / 2
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(label)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#c8ced4"/>',
        f'<text x="{left - 4}" y="{top + 8}" class="muted" text-anchor="end">{_fmt(high)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" class="muted" text-anchor="end">'
        f"{_fmt(low)}</text>",
        f'<text x="12" y="{mid:.0f}" class="muted" text-anchor="middle" '
        f'transform="rotate(-90 12 {mid:.0f})">{e(label)}</text>',
    ]
    if threshold is not None:
        parts.append(
            f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{left + plot_w}" '
            f'y2="{y(threshold):.1f}" stroke="{_BAD}" stroke-dasharray="2,3">'
            f"<title>threshold {threshold:g}</title></line>"
        )
    widest = max([_text_width(t) for t in ticks] + [1.0]) + 10
    every = max(1, math.ceil(count * widest / plot_w))
    for i, tick in enumerate(ticks):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 14}" class="muted" '
                f'text-anchor="middle">{e(tick)}</text>'
            )
    named: set[int] = set()
    for k, (name, points, dashed) in enumerate(series):
        color = _PALETTE[k % len(_PALETTE)]
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        segment: list[str] = []
        for i, point in enumerate([*points, None]):
            v = point
            if v is not None and (k, i) in small:
                where = f"{name} {ticks[i]}"
                mark = small[(k, i)]
                parts.append(
                    _small_point(x(i), y, v, mark, color=color, where=where, named=i in named)
                )
                named.add(i)  # one n=ROWS per window: the columns share it
                v = None
            if v is not None:
                segment.append(f"{x(i):.1f},{y(v):.1f}")
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                    f"<title>{e(name)} {e(ticks[i])}: {_fmt(v)}</title></circle>"
                )
            elif segment:
                parts.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{color}" '
                    f'stroke-width="1.6"{dash}/>'
                )
                segment = []
        parts.append(
            f'<text x="{left + plot_w + 10}" y="{top + 12 + 14 * k}" style="fill:{color}">'
            f"{e(legends[k])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _small_point(
    cx: float,
    y: Any,
    value: float,
    mark: tuple[float | None, float | None, int],
    *,
    color: str,
    where: str,
    named: bool,
) -> str:
    """A window too small for its score: hollow, its interval as a dashed whisker (both
    clipped to the axis), ``n=rows`` beside it unless another column already ``named`` it."""
    e = html.escape
    low, high, rows = mark
    tip = (
        f"{where}: {_fmt(value)} [{_fmt(low)}, {_fmt(high)}] from only {rows:,} rows, too "
        "few for a meaningful score"
    )
    out = [f'<g class="small-window"><title>{e(tip)}</title>']
    if low is not None and high is not None:
        out.append(
            f'<line x1="{cx:.1f}" y1="{y(low):.1f}" x2="{cx:.1f}" y2="{y(high):.1f}" '
            f'stroke="{color}" stroke-dasharray="2,2"/>'
        )
    out.append(f'<circle cx="{cx:.1f}" cy="{y(value):.1f}" r="3.5" fill="#fff" stroke="{color}"/>')
    if not named:
        out.append(f'<text x="{cx + 6:.1f}" y="{y(value) + 4:.1f}" class="muted">n={rows:,}</text>')
    out.append("</g>")
    return "".join(out)


def _hbars(bars: list[tuple[str, float | None]], *, label: str) -> str:
    """Horizontal bars, one per slice, for one metric."""
    e = html.escape
    row = 20
    left = int(max([_text_width(name) for name, _ in bars] + [180.0]) + 12)
    width = left + 370
    top = max([v for _, v in bars if v is not None] + [1e-9])
    height = row * len(bars) + 24
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(label)} per slice">',
        f'<text x="{left}" y="12" class="muted">{e(label)}</text>',
    ]
    for i, (name, value) in enumerate(bars):
        y = 20 + i * row
        parts.append(f'<text x="4" y="{y + 12}">{e(name)}</text>')
        if value is not None:
            w = (width - left - 60) * max(value, 0.0) / top
            fill = _REF if name.endswith(_EST) else _CUR
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{fill}">'
                f"<title>{e(name)}: {_fmt(value)}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y + 12}">{_fmt(value)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
