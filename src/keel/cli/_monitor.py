"""``keel monitor compare``: drift between two datasets. Exit 1 when a column drifted or
could not be compared (a data-quality finding); 2 when a side has no rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli import _monitor_reference
from keel.cli._output import EXIT_FAILED, Format, err, out, print_json, progress, reporting

if TYPE_CHECKING:
    from keel.monitor import Comparison, MonitorReport

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(help="Monitoring: drift and data quality.", no_args_is_help=True)
app.add_typer(_monitor_reference.app, name="reference")


@app.command()
def compare(
    reference: Annotated[
        str,
        typer.Argument(
            help="Reference data: Parquet file/folder, CSV; or a stored reference profile: "
            "model:NAME@ALIAS, model:NAME/3, data:NAME/3 (then only CURRENT is read, and "
            "--slice compares each slice of CURRENT with the whole reference)."
        ),
    ],
    current: Annotated[str, typer.Argument(help="Current data, the same way.")],
    contract: Annotated[
        str | None, typer.Option(help="Compare the contract's columns (contract.yaml, mod:Class).")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Compare only these columns, comma-separated (A,B); default: every column "
            "of REFERENCE, which CURRENT must have.",
        ),
    ] = None,
    slice_by: Annotated[str | None, typer.Option("--slice", help="Also per value of COL.")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the resampling.")] = 0,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Which columns drifted between REFERENCE and CURRENT (effect sizes with intervals)."""
    from keel.monitor import compare as run_compare

    with reporting(), progress(f"Profiling {reference} and {current}"):
        result = run_compare(
            reference,
            current,
            columns=_compared_columns(contract, columns),
            slice_by=slice_by,
            seed=seed,
        )
    if html is not None:
        html.write_text(
            result.to_html(title=f"Drift: {current} against {reference}"), encoding="utf-8"
        )
    if fmt is Format.json:
        print_json(result.to_dict())
    else:
        _print_comparison(result, f"{current} against {reference}")
        if slice_by is not None:
            _print_slices(result, slice_by)
        if html is not None:
            out.print(f"Wrote {html}", highlight=False)
    if not result.passed:
        raise typer.Exit(EXIT_FAILED)


def _compared_columns(contract: str | None, columns: str | None) -> list[str] | None:
    """The columns ``--contract`` or ``--columns`` name (one of them), else ``None``: all."""
    from keel.errors import UsageError

    if contract is not None and columns is not None:
        raise UsageError(
            "keel monitor compare: --contract and --columns both name the columns to compare.",
            hint="Pass one of them.",
        )
    if contract is not None:
        from keel.contracts import load_contract

        return list(load_contract(contract).column_names)
    if columns is None:
        return None
    names = [name.strip() for name in columns.split(",") if name.strip()]
    if not names:
        raise UsageError(
            f"--columns {columns!r} names no column.", hint="Pass names separated by commas: A,B."
        )
    return names


def _print_comparison(result: Comparison, title: str) -> None:
    findings = result.findings
    unmeasured = {f.column for f in findings}
    verdict = "DRIFT" if result.drifted else "no drift"
    if findings:
        verdict = (
            f"{'DRIFT, and ' if result.drifted else ''}{len(unmeasured)} of "
            f"{len(result.columns)} column(s) could not be compared (data quality)"
        )
    table = Table(title=escape(f"{title}: {verdict}"), title_justify="left")
    for column in ("column", "method", "score", "interval", "threshold", "drifted"):
        table.add_column(column)
    for r in result.columns:
        table.add_row(
            escape(r.column),  # user strings are text, not markup: here and below
            r.method,
            f"{r.score:.3g}",
            escape(f"[{r.low:.3g}, {r.high:.3g}]"),  # "[nan, nan]" is not a tag
            f"{r.threshold:.3g}",
            "[bold red]yes[/]"
            if r.drifted
            else ("[bold red]not measured[/]" if r.column in unmeasured else "no"),
        )
    out.print(table)
    for finding in findings:
        out.print(f"[bold red]data quality:[/] {escape(finding.message)}", highlight=False)


def _print_slices(result: Comparison, column: str) -> None:
    """One row per slice of CURRENT, one cell per compared column: the score, its interval
    and whether that slice drifted from the (whole) reference."""
    if not result.slices:
        return
    names = [r.column for r in result.columns]
    drifted = sum(any(r.drifted for r in found) for found in result.slices.values())
    table = Table(
        title=escape(f"per slice of {column}: {drifted} of {len(result.slices)} slice(s) drifted"),
        title_justify="left",
    )
    table.add_column(escape(column))
    for name in names:
        table.add_column(escape(name))
    for label, found in result.slices.items():
        by_name = {r.column: r for r in found}
        cells = []
        for name in names:
            r = by_name.get(name)
            if r is None:
                cells.append("-")
                continue
            text = escape(f"{r.score:.3g} [{r.low:.3g}, {r.high:.3g}]")
            cells.append(f"[bold red]{text} drifted[/]" if r.drifted else text)
        table.add_row(escape(str(label)), *cells)
    out.print(table)


# --------------------------------------------------------------------------- served models

_Since = Annotated[
    str | None,
    typer.Option(help="From: 2026-11-01, 2026-11-01T12:00, or a span back from now (24h, 7d)."),
]
_Until = Annotated[str | None, typer.Option(help="Up to (excluded), the same way.")]
_Window = Annotated[str, typer.Option(help="Window length, aligned to UTC: 15m, 1h, 1d.")]
_Reference = Annotated[
    str | None,
    typer.Option(
        help="Reference data (Parquet/CSV path) or a stored profile (model:NAME/3, data:NAME/2); "
        "default: the stored reference of the version the champion served."
    ),
]
_Slice = Annotated[
    str | None, typer.Option("--slice", help="Also break performance and drift down by COL.")
]


def _report(
    name: str,
    since: str | None,
    until: str | None,
    window: str,
    reference: str | None,
    slice_by: str | None,
    **options: Any,
) -> MonitorReport:
    """``keel.monitor.report`` over the selection both commands take, with progress shown."""
    from keel.monitor import report as run_report

    with progress(f"Reading the prediction log of {name}"):
        return run_report(
            name,
            since=since,
            until=until,
            window=window,
            reference=reference,
            slice_by=slice_by,
            **options,
        )


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="The served model's name.")],
    since: _Since = None,
    until: _Until = None,
    window: _Window = "1h",
    reference: _Reference = None,
    slice_by: _Slice = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the resampling.")] = 0,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Drift, data quality and performance of model NAME over its prediction log, per window."""
    with reporting():
        result = _report(name, since, until, window, reference, slice_by, seed=seed)
    _write_html(result, html)
    if fmt is Format.json:
        print_json(result.to_dict())
        return
    _print_report(result)
    if html is not None:
        out.print(f"Wrote {html}", highlight=False)


@app.command()
def check(
    name: Annotated[str, typer.Argument(help="The served model's name.")],
    since: _Since = None,
    until: _Until = None,
    window: _Window = "1h",
    reference: _Reference = None,
    slice_by: _Slice = None,
    thresholds: Annotated[
        Path | None, typer.Option(help="A YAML file of thresholds (options override it).")
    ] = None,
    drift: Annotated[
        bool | None, typer.Option("--drift/--no-drift", help="Fail when a column drifted.")
    ] = None,
    max_violation_rate: Annotated[
        float | None, typer.Option(help="Most rows breaking the input contract, e.g. 0.01.")
    ] = None,
    max_null_rate: Annotated[float | None, typer.Option(help="Most nulls in a column.")] = None,
    max_out_of_range_rate: Annotated[
        float | None, typer.Option(help="Most values outside the reference's range.")
    ] = None,
    max_unseen_rate: Annotated[
        float | None, typer.Option(help="Most unseen categories in a column (0: any fails).")
    ] = None,
    min_rows: Annotated[int | None, typer.Option(help="Fewest rows in the last window.")] = None,
    min_metric: Annotated[
        list[str] | None,
        typer.Option("--min", help="METRIC=VALUE, e.g. accuracy=0.8 (repeatable)."),
    ] = None,
    max_metric: Annotated[
        list[str] | None, typer.Option("--max", help="METRIC=VALUE, e.g. rmse=3 (repeatable).")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="POST the alerts as JSON to this URL when any is raised.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Exit 1 when model NAME's latest window crosses a threshold (2: unusable input, or the
    webhook could not be reached)."""
    from keel.monitor import Thresholds, alert_payload, post_alerts

    with reporting():
        limits = Thresholds.load(thresholds) if thresholds is not None else Thresholds()
        limits = limits.override(
            drift=drift,
            max_violation_rate=max_violation_rate,
            max_null_rate=max_null_rate,
            max_out_of_range_rate=max_out_of_range_rate,
            max_unseen_rate=max_unseen_rate,
            min_rows=min_rows,
            min=_pairs(min_metric, "--min"),
            max=_pairs(max_metric, "--max"),
        )
        result = _report(name, since, until, window, reference, slice_by, thresholds=limits)
    _write_html(result, html)
    payload = alert_payload(result, limits)
    if fmt is Format.json:
        print_json(payload)
    else:
        _print_alerts(result)
    if webhook is not None and result.alerts:
        with reporting():
            status = post_alerts(webhook, payload)
        err.print(f"Posted {len(result.alerts)} alert(s) to {webhook} ({status}).", highlight=False)
    if result.alerts:
        raise typer.Exit(EXIT_FAILED)


def _pairs(values: list[str] | None, option: str) -> dict[str, float] | None:
    from keel.errors import UsageError

    if not values:
        return None
    found = {}
    for value in values:
        metric, sep, number = value.partition("=")
        try:
            found[metric.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(
                f"{option} {value!r} is not METRIC=VALUE.", hint=f"For example {option} f1=0.7."
            )
    return found


def _write_html(result: MonitorReport, html: Path | None) -> None:
    if html is not None:
        html.write_text(result.to_html(), encoding="utf-8")


def _metric_cell(window: Any, metric: str) -> str:
    measured = (window.performance or {}).get(metric)
    if measured is not None:
        return f"{measured:.3g}"
    estimated = (window.estimated_performance or {}).get(metric)
    return f"{estimated:.3g} (estimated)" if estimated is not None else "-"


def _print_report(result: Any) -> None:
    drifted = result.latest is not None and bool(result.latest.summary["drifted"])
    table = Table(
        title=f"{result.model}: {result.rows:,} predictions, {len(result.windows)} windows of "
        f"{result.window}" + (" - DRIFT in the latest window" if drifted else ""),
        title_justify="left",
    )
    metric = "accuracy" if result.task == "classification" else "rmse"
    for column in ("window start (UTC)", "rows", "drifted columns", "violations", metric):
        table.add_column(column)
    for w in result.windows:
        names = [r.column for r in w.drift or [] if r.drifted]
        rate = w.quality.get("violation_rate")
        table.add_row(
            f"{w.start:%Y-%m-%d %H:%M}",
            f"{w.rows:,}",
            "-"
            if w.drift is None
            else ("[bold red]" + escape(", ".join(names)) + "[/]" if names else "none"),
            "-" if rate is None else f"{rate:.2%}",
            _metric_cell(w, metric),
        )
    out.print(table)
    if result.skew is not None:
        _print_skew(result.skew)
    _print_alerts(result)


def _print_skew(found: Any) -> None:
    """The report's training-serving skew, or why it was not measured."""
    from keel.cli._features import print_skew

    if isinstance(found, dict):
        out.print(f"[bold red]skew not measured:[/] {escape(found['error'])}", highlight=False)
        if found.get("hint"):
            out.print(f"[bold]Hint:[/] {escape(found['hint'])}", highlight=False)
        return
    print_skew(found)


def _print_alerts(result: Any) -> None:
    if not result.alerts:
        out.print(f"{result.model}: no threshold crossed.", highlight=False)
        return
    table = Table(title=f"{result.model}: {len(result.alerts)} alert(s)", title_justify="left")
    for column in ("kind", "what", "window start (UTC)"):
        table.add_column(column)
    for a in result.alerts:
        table.add_row(a.kind, escape(a.message), a.window_start or "-")
    out.print(table)
