"""An evaluation as one self-contained HTML page: tables and inline SVG charts.

The page needs nothing from the network (the machines that open it may have none): the
style sheet is inline, the charts are inline SVG drawn here, the fonts are the system's.
It shows the overall metrics with their confidence intervals, for a classifier the
confusion matrix (at the model's predicted labels, or at the 0.5 threshold when only scores
were given: the page says which), for a binary classifier with scores the ROC and
precision-recall curves, the score distribution of each class and a reliability diagram,
and for every slice column one dot-and-whisker chart per
metric (each slice's value and interval against the overall value) plus a table of the
numbers. Every piece of text is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from keel._html import DOCUMENT_END, document_head
from keel.models._metrics import METRICS

if TYPE_CHECKING:  # Evaluation.to_html calls this renderer: a runtime import would be a cycle
    from keel.models._evaluate import Confusion, Curves, Evaluation, MetricValue, SliceResult

__all__ = ["evaluation_html"]


_Scale = Callable[[float], float]
_DOT = "#1f5f99"
_REFERENCE = "#c0392b"


def evaluation_html(evaluation: Evaluation, *, title: str, subtitle: str = "") -> str:
    """Render ``evaluation`` as a complete, self-contained HTML document."""
    e = html.escape
    names = list(evaluation.metrics)
    ci = f"{evaluation.confidence * 100:g}% CI"
    parts = [document_head(title)]
    if subtitle:
        parts.append(f'<p class="subtitle">{e(subtitle)}</p>')
    parts.append(
        f'<p class="facts">{e(evaluation.task)} · {evaluation.rows:,} rows · '
        f"{e(ci)} from {evaluation.n_boot:,} bootstrap resamples</p>"
    )
    parts.append("<h2>Overall</h2>")
    parts.append(_overall_table(evaluation.metrics, ci))
    if evaluation.confusion is not None:
        parts.append(f"<h2>Confusion matrix ({e(evaluation.confusion.basis)})</h2>")
        parts.append(_confusion_table(evaluation.confusion))
    if evaluation.curves is not None:
        parts.append("<h2>ROC and precision-recall</h2>")
        parts.append('<div class="charts">')
        parts.append(f'<div class="chart">{_roc_chart(evaluation)}</div>')
        parts.append(f'<div class="chart">{_pr_chart(evaluation.curves)}</div>')
        parts.append("</div>")
        parts.append("<h2>Score distribution per class</h2>")
        parts.append(f'<div class="chart">{_score_chart(evaluation.curves)}</div>')
    if evaluation.calibration:
        parts.append("<h2>Calibration</h2>")
        parts.append(f'<div class="chart">{_calibration_chart(evaluation.calibration)}</div>')
    for column, slices in _by_column(evaluation.slices):
        parts.append(f"<h2>By {e(column)}</h2>")
        charts = [_slice_chart(n, evaluation.metrics[n], slices, column) for n in names]
        parts.append('<div class="charts">')
        parts.extend(f'<div class="chart">{chart}</div>' for chart in charts)
        parts.append("</div>")
        parts.append(f"<details open><summary>Numbers ({e(ci)})</summary>")
        parts.append(_slice_table(names, slices))
        parts.append("</details>")
    parts.append(DOCUMENT_END)
    return "\n".join(parts) + "\n"


def _display(name: str) -> str:
    return METRICS[name].title if name in METRICS else name


def _fmt(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "n/a"


def _interval(m: MetricValue) -> str:
    if not (math.isfinite(m.low) and math.isfinite(m.high)):
        return "n/a"
    return f"[{m.low:.4g}, {m.high:.4g}]"


def _overall_table(metrics: dict[str, MetricValue], ci: str) -> str:
    rows = ["<table><thead><tr><th>Metric</th><th>Value</th>"]
    rows.append(f"<th>{html.escape(ci)}</th><th>Better</th></tr></thead><tbody>")
    for name, m in metrics.items():
        better = ""
        if name in METRICS:
            better = "higher" if METRICS[name].higher_is_better else "lower"
        rows.append(
            f"<tr><td>{html.escape(_display(name))}</td><td class='num'>{_fmt(m.value)}</td>"
            f"<td class='num'>{_interval(m)}</td><td>{better}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def _slice_table(names: Sequence[str], slices: Sequence[SliceResult]) -> str:
    head = "".join(f"<th>{html.escape(_display(n))}</th>" for n in names)
    rows = [f"<table><thead><tr><th>Slice</th><th>Rows</th>{head}</tr></thead><tbody>"]
    for s in slices:
        cells = "".join(
            f"<td class='num'>{_fmt(s.metrics[n].value)} "
            f"<span class='muted'>{_interval(s.metrics[n])}</span></td>"
            for n in names
        )
        rows.append(
            f"<tr><td>{html.escape(s.label)}</td><td class='num'>{s.rows:,}</td>{cells}</tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def _by_column(slices: Iterable[SliceResult]) -> list[tuple[str, list[SliceResult]]]:
    grouped: dict[str, list[SliceResult]] = {}
    for s in slices:
        grouped.setdefault(s.column, []).append(s)
    return list(grouped.items())


def _domain(values: Iterable[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high == low:
        pad = abs(low) * 0.05 or 0.5
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slice_chart(
    name: str, overall: MetricValue, slices: Sequence[SliceResult], column: str
) -> str:
    """One metric across the slices of a column: a dot per slice, its interval as a whisker,
    the overall value as a dashed reference line, the row count on the right."""
    e = html.escape
    width, left, right, row, top, bottom = 440, 150, 80, 22, 46, 30
    height = top + row * len(slices) + bottom
    values = [overall.value] + [v for s in slices for v in _triple(s.metrics[name])]
    low, high = _domain(values)

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * (width - left - right)

    label = f"{_display(name)} by {column}"
    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(label)}">',
        f"<title>{e(label)}</title>",
        f'<text x="8" y="16" font-weight="bold">{e(_display(name))}</text>',
    ]
    axis_y = height - bottom + 6
    if math.isfinite(overall.value):
        ref = x(overall.value)
        out.append(
            f'<line x1="{ref:.1f}" y1="{top - 6}" x2="{ref:.1f}" y2="{axis_y}" '
            f'stroke="{_REFERENCE}" stroke-dasharray="4 3"/>'
        )
        out.append(
            f'<text x="{ref:.1f}" y="{top - 10}" text-anchor="middle" class="muted">'
            f"overall {_fmt(overall.value)}</text>"
        )
    for i, s in enumerate(slices):
        out.append(
            _chart_row(
                s, s.metrics[name], top + i * row + row / 2, x, left=left, right=width - right
            )
        )
    out.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}" stroke="#9aa3ad"/>'
    )
    for tick in (low, (low + high) / 2, high):
        out.append(
            f'<text x="{x(tick):.1f}" y="{axis_y + 14}" text-anchor="middle" class="muted">'
            f"{tick:.3g}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _triple(m: MetricValue) -> tuple[float, float, float]:
    return m.value, m.low, m.high


def _chart_row(
    s: SliceResult, m: MetricValue, y: float, x: _Scale, *, left: float, right: float
) -> str:
    e = html.escape
    tip = f"{s.label}: {_fmt(m.value)} {_interval(m)}, {s.rows:,} rows"
    out = [
        f"<g><title>{e(tip)}</title>",
        f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{e(_short(s.label))}</text>',
    ]
    if math.isfinite(m.low) and math.isfinite(m.high):
        out.append(
            f'<line x1="{x(m.low):.1f}" y1="{y:.1f}" x2="{x(m.high):.1f}" y2="{y:.1f}" '
            f'stroke="{_DOT}" stroke-width="2"/>'
        )
    if math.isfinite(m.value):
        out.append(f'<circle cx="{x(m.value):.1f}" cy="{y:.1f}" r="4" fill="{_DOT}"/>')
    else:
        out.append(f'<text x="{left + 4}" y="{y + 4:.1f}" class="muted">n/a</text>')
    out.append(f'<text x="{right + 8}" y="{y + 4:.1f}" class="muted">n={s.rows:,}</text></g>')
    return "".join(out)


def _calibration_chart(bins: Sequence[tuple[float, float, int]]) -> str:
    """Reliability diagram: observed positive rate against mean predicted probability per
    bin (dot area by rows); the dashed diagonal is perfect calibration."""
    size, margin = 300, 44
    span = size - 2 * margin
    largest = max(count for _, _, count in bins)

    def x(v: float) -> float:
        return margin + v * span

    def y(v: float) -> float:
        return size - margin - v * span

    out = [
        f'<svg width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" '
        'aria-label="Reliability diagram">',
        "<title>Reliability diagram</title>",
        f'<rect x="{margin}" y="{margin}" width="{span}" height="{span}" fill="none" '
        'stroke="#9aa3ad"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="{_REFERENCE}" '
        'stroke-dasharray="4 3"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        out.append(
            f'<text x="{x(tick):.1f}" y="{size - margin + 14}" text-anchor="middle" '
            f'class="muted">{tick:g}</text>'
        )
        out.append(
            f'<text x="{margin - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'class="muted">{tick:g}</text>'
        )
    out.append(
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">mean predicted probability'
        "</text>"
    )
    out.append(
        f'<text x="12" y="{size / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">observed positive rate</text>'
    )
    points = " ".join(f"{x(p):.1f},{y(o):.1f}" for p, o, _ in bins)
    out.append(f'<polyline points="{points}" fill="none" stroke="{_DOT}" stroke-width="1.5"/>')
    for predicted, observed, count in bins:
        radius = 2.5 + 5 * math.sqrt(count / largest)
        tip = f"predicted {predicted:.3f}, observed {observed:.3f}, {count:,} rows"
        out.append(
            f'<circle cx="{x(predicted):.1f}" cy="{y(observed):.1f}" r="{radius:.1f}" '
            f'fill="{_DOT}" fill-opacity="0.75"><title>{html.escape(tip)}</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)


def _confusion_table(confusion: Confusion) -> str:
    """Rows are the true labels, columns the predicted ones; each cell also shows its share of
    the row (the recall of that class on the diagonal)."""
    e = html.escape
    head = "".join(f"<th>predicted {e(label)}</th>" for label in confusion.labels)
    rows = [f"<table><thead><tr><th>true \\ predicted</th>{head}<th>Rows</th></tr></thead>"]
    rows.append("<tbody>")
    for label, counts in zip(confusion.labels, confusion.matrix, strict=True):
        total = sum(counts)
        cells = "".join(
            f"<td class='num'>{c:,} <span class='muted'>"
            f"{(f'{c / total:.1%}' if total else '-')}</span></td>"
            for c in counts
        )
        rows.append(f"<tr><td>true {e(label)}</td>{cells}<td class='num'>{total:,}</td></tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _square(
    label: str, x_title: str, y_title: str, points: Sequence[tuple[float, float]], note: str
) -> list[str]:
    """A unit-square chart: frame, 0/0.5/1 ticks, axis titles and ``points`` as a line."""
    size, margin = 300, 44
    span = size - 2 * margin

    def x(v: float) -> float:
        return margin + v * span

    def y(v: float) -> float:
        return size - margin - v * span

    e = html.escape
    out = [
        f'<svg width="{size}" height="{size}" viewBox="0 0 {size} {size}" role="img" '
        f'aria-label="{e(label)}">',
        f"<title>{e(label)}</title>",
        f'<text x="{margin}" y="16" font-weight="bold">{e(note)}</text>',
        f'<rect x="{margin}" y="{margin}" width="{span}" height="{span}" fill="none" '
        'stroke="#9aa3ad"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        out.append(
            f'<text x="{x(tick):.1f}" y="{size - margin + 14}" text-anchor="middle" '
            f'class="muted">{tick:g}</text>'
        )
        out.append(
            f'<text x="{margin - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'class="muted">{tick:g}</text>'
        )
    out.append(f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">{e(x_title)}</text>')
    out.append(
        f'<text x="12" y="{size / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">{e(y_title)}</text>'
    )
    drawn = " ".join(f"{x(a):.2f},{y(b):.2f}" for a, b in points)
    out.append(
        f'<polyline class="curve" points="{drawn}" fill="none" stroke="{_DOT}" stroke-width="1.8"/>'
    )
    return out


def _roc_chart(evaluation: Evaluation) -> str:
    """ROC: true positive rate against false positive rate; the dashed diagonal is chance."""
    assert evaluation.curves is not None
    auc = evaluation.metrics.get("auc")
    note = f"ROC, AUC {_fmt(auc.value)}" if auc is not None else "ROC"
    out = _square(
        "ROC curve", "false positive rate", "true positive rate", evaluation.curves.roc, note
    )
    out.insert(
        4,
        '<line x1="44" y1="256" x2="256" y2="44" stroke="#c0392b" stroke-dasharray="4 3"/>',
    )
    if not evaluation.curves.roc:
        out.append(
            '<text x="150" y="140" text-anchor="middle" class="muted">n/a: the rows hold one '
            "class</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _pr_chart(curves: Curves) -> str:
    """Precision against recall; the dashed line is the positive rate (a random ranking)."""
    total = sum(curves.positive) + sum(curves.negative)
    base = sum(curves.positive) / total if total else 0.0
    out = _square("Precision-recall curve", "recall", "precision", curves.pr, "Precision-recall")
    level = 300 - 44 - base * 212
    out.insert(
        4,
        f'<line x1="44" y1="{level:.1f}" x2="256" y2="{level:.1f}" stroke="{_REFERENCE}" '
        f'stroke-dasharray="4 3"><title>positive rate {base:.3g}</title></line>',
    )
    out.append("</svg>")
    return "".join(out)


def _score_chart(curves: Curves) -> str:
    """The share of each class's rows per score bin: negatives grey, positives blue."""
    e = html.escape
    width, height, left, bottom, top = 440, 220, 44, 40, 28
    plot_w, plot_h = width - left - 16, height - top - bottom
    shares = []
    for counts in (curves.negative, curves.positive):
        total = sum(counts) or 1
        shares.append([c / total for c in counts])
    peak = max([v for row in shares for v in row] + [1e-9])
    bins = len(curves.negative)
    step = plot_w / max(bins, 1)
    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Score distribution per class">',
        "<title>Score distribution per class</title>",
        f'<text x="{left}" y="14"><tspan fill="#8a99a8">■ negative '
        f'({sum(curves.negative):,} rows)</tspan> <tspan fill="{_DOT}">■ positive '
        f"({sum(curves.positive):,} rows)</tspan></text>",
    ]
    for k, (row, fill) in enumerate(zip(shares, ("#8a99a8", _DOT), strict=True)):
        for i, share in enumerate(row):
            h = plot_h * share / peak
            lo, hi = curves.score_edges[i], curves.score_edges[i + 1]
            count = (curves.negative, curves.positive)[k][i]
            tip = f"{('negative', 'positive')[k]} [{lo:g}, {hi:g}): {count:,} rows ({share:.1%})"
            out.append(
                f'<rect x="{left + i * step + k * step / 2:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{step / 2 - 1:.1f}" height="{h:.1f}" fill="{fill}" fill-opacity="0.85">'
                f"<title>{e(tip)}</title></rect>"
            )
    axis = top + plot_h
    out.append(f'<line x1="{left}" y1="{axis}" x2="{left + plot_w}" y2="{axis}" stroke="#9aa3ad"/>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<text x="{left + tick * plot_w:.1f}" y="{axis + 14}" text-anchor="middle" '
            f'class="muted">{tick:g}</text>'
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        "predicted probability of the positive class</text>"
    )
    out.append(
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="muted">{peak:.0%}</text>'
    )
    out.append("</svg>")
    return "".join(out)
