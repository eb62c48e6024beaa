"""``keel models list|show|register|history|alias|rollback|evaluate|gate|export|import``.

``gate`` exits 0 when the candidate passes, 1 when it fails (for CI), 2 on unusable input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._output import EXIT_FAILED, Format, out, print_json, progress, reporting
from keel.errors import UsageError

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(help="The model registry: versions, aliases, history.", no_args_is_help=True)


@app.command("list")
def list_models(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Registered models with their latest version and aliases."""
    from keel.tracking import open_project

    with reporting():
        models = open_project().metadata.models.models()
    if fmt is Format.json:
        print_json([m.to_dict() for m in models])
        return
    table = Table(title=f"{len(models)} model(s)", title_justify="left")
    for column in ("name", "latest", "aliases"):
        table.add_column(column)
    for m in models:
        aliases = ", ".join(f"{a} -> {v}" for a, v in m.aliases.items())
        table.add_row(m.name, str(m.latest or ""), aliases)
    out.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME (every version), NAME/3 or NAME@ALIAS.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """A model's versions, or one version with its manifest."""
    from keel.grammar import parse_reference
    from keel.registry import resolve
    from keel.tracking import open_project

    with reporting():
        project = open_project()
        parsed = parse_reference(ref, kind="model")
        name = parsed.name
        if parsed.version is None and parsed.alias is None:
            versions = project.metadata.models.versions(name)
        else:
            versions = [resolve(parsed, project=project)]
    if fmt is Format.json:
        print_json([v.to_dict() for v in versions])
        return
    table = Table(title=f"model {name}", title_justify="left")
    columns = ["version", "aliases", "adapter", "created", "by", "run", "metrics"]
    services = any(v.feature_service for v in versions)
    for column in [*columns, "feature service"] if services else columns:
        table.add_column(column, overflow="fold")
    for v in versions:
        cells = [
            str(v.version),
            ", ".join(v.aliases),
            v.adapter,
            f"{v.created_at:%Y-%m-%d %H:%M:%S}",
            v.created_by,
            (v.run_id or "")[:8],
            ", ".join(f"{k}={val:.4g}" for k, val in v.metrics.items()),
        ]
        table.add_row(*cells, *([v.feature_service or ""] if services else []))
    out.print(table)


@app.command()
def register(
    package: Annotated[
        Path, typer.Argument(help="A model package folder (keel.models.save_model wrote it).")
    ],
    name: Annotated[str, typer.Argument(help="The model to register it as.")],
    feature_service: Annotated[
        str | None,
        typer.Option(
            "--feature-service",
            help="The feature service (in [features] definitions) the model was trained "
            "with; keel serve looks its features up online.",
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="Why (kept with the version).")] = None,
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow a package that holds a pickle.")
    ] = False,
) -> None:
    """Register a model package as the next version of NAME (checked: it must predict on
    contract-shaped rows)."""
    from keel.registry import register_package

    with reporting():
        version = register_package(
            package,
            name,
            feature_service=feature_service,
            description=description,
            trusted=trusted,
        )
    service = f", feature service {version.feature_service}" if version.feature_service else ""
    out.print(
        f"Registered {version.name} version {version.version} ({version.adapter}{service}) "
        f"from {package}",
        highlight=False,
    )


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="Model name.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Every register, alias move, gate result and rollback: who, when, why."""
    from keel.registry import history as read_history

    with reporting():
        events = read_history(name)
    if fmt is Format.json:
        print_json([e.to_dict() for e in events])
        return
    table = Table(title=f"history of {name}", title_justify="left")
    for column in ("when", "what", "version", "alias", "who", "why"):
        table.add_column(column, overflow="fold")
    for e in events:
        moved = version_move(e)
        passed = e.detail.get("passed") if e.kind == "gate" else None
        what = e.kind if passed is None else f"gate {'passed' if passed else 'FAILED'}"
        table.add_row(
            f"{e.created_at:%Y-%m-%d %H:%M:%S}",
            what,
            moved if e.alias else str(e.version or ""),
            e.alias or "",
            e.actor,
            e.reason or "",
        )
    out.print(table)


@app.command()
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="champion, challenger...")],
    version: Annotated[int, typer.Argument(help="The version it should point at.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
) -> None:
    """Point ALIAS at VERSION (recorded in the history)."""
    from keel.registry import set_alias

    with reporting():
        state = set_alias(name, alias_name, version, reason=reason)
    out.print(f"{name}@{alias_name} -> version {state.version}", highlight=False)


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[
        str, typer.Option("--alias", help="The alias to move back.")
    ] = "champion",
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history).")] = None,
) -> None:
    """Move an alias back to the version it pointed at before its last move."""
    from keel.registry import rollback as roll_back

    with reporting():
        state = roll_back(name, alias_name, reason=reason)
    out.print(f"{name}@{alias_name} rolled back to version {state.version}", highlight=False)


_DATA_HELP = "Parquet/CSV/NDJSON path, or dataset NAME/3 (data:NAME for the latest)."


@app.command()
def evaluate(
    ref: Annotated[str, typer.Argument(help="NAME, NAME/3 or NAME@ALIAS.")],
    data: Annotated[str, typer.Option(help=_DATA_HELP)],
    target: Annotated[str, typer.Option(help="The column holding the true values.")],
    slice_by: Annotated[
        list[str] | None, typer.Option("--slice", help="Also report per value of COL.")
    ] = None,
    n_boot: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the CIs.")] = 1000,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap resamples.")] = 0,
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow a pickled model (only if you trust it).")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record", help="Keep the result in the version's history (keel ui)."
        ),
    ] = True,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Metrics overall and per slice, with bootstrap confidence intervals (kept in the
    version's history unless --no-record)."""
    from keel.registry import evaluate_model

    shown = f"Evaluating {ref} on {data}"
    with reporting(), progress(shown, quiet=fmt is Format.json) as advance:
        version, result = evaluate_model(
            ref,
            data,
            target=target,
            slices=slice_by or (),
            n_boot=n_boot,
            seed=seed,
            trusted=trusted,
            record=record,
            on_progress=advance,
        )
    title = f"{version.name} version {version.version} on {data}"
    if html is not None:
        html.write_text(result.to_html(title=title), encoding="utf-8")
    if fmt is Format.json:
        print_json({"model": version.name, "version": version.version, **result.to_dict()})
        return
    table = Table(title=escape(title), title_justify="left")
    for column in ("slice", "rows", *result.metrics):
        table.add_column(column)
    share = f"{result.confidence:.0%} CI"

    def cells(metrics: Any) -> list[str]:
        # escaped: "[nan, nan]" would be read as a markup tag and vanish
        return [escape(f"{m.value:.4g} [{m.low:.3g}, {m.high:.3g}]") for m in metrics.values()]

    table.add_row(f"all ({share})", f"{result.rows:,}", *cells(result.metrics))
    for item in result.slices:
        label = escape(f"{item.column} = {item.label}")  # data values are text, not markup
        table.add_row(label, f"{item.rows:,}", *cells(item.metrics))
    out.print(table)
    if html is not None:
        out.print(f"Wrote {html}", highlight=False)


@app.command()
def gate(
    name: Annotated[str, typer.Argument(help="Model name.")],
    candidate: Annotated[int, typer.Option(help="The version to check.")],
    data: Annotated[str, typer.Option(help=_DATA_HELP)],
    target: Annotated[str, typer.Option(help="The column holding the true values.")],
    against: Annotated[str, typer.Option(help="The alias to compare with.")] = "champion",
    policy: Annotated[Path | None, typer.Option(help="gate.yaml (default: built in).")] = None,
    promote: Annotated[
        bool, typer.Option(help="On a pass, move the --against alias to the candidate.")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap resamples.")] = 0,
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow pickled models (only if you trust them).")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Check a candidate against the champion on the same rows. Exit 1 when it fails."""
    from keel.registry import gate as run_gate

    with reporting():
        outcome = run_gate(
            name,
            candidate=candidate,
            against=against,
            data=data,
            target=target,
            policy=policy,
            promote=promote,
            seed=seed,
            trusted=trusted,
        )
    if fmt is Format.json:
        print_json(outcome.to_dict())
    else:
        against_text = f"version {outcome.baseline}" if outcome.baseline else "no baseline"
        table = Table(
            title=f"gate: {name}/{candidate} against {against} ({against_text})",
            title_justify="left",
        )
        for column in ("check", "result", "detail"):
            table.add_column(column, overflow="fold")
        for check in outcome.checks:
            verdict = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
            table.add_row(escape(check.name), verdict, escape(check.detail))
        out.print(table)
        verdict = "PASSED" if outcome.passed else "FAILED"
        note = f"; {against} -> version {candidate}" if outcome.promoted else ""
        out.print(f"Gate {verdict}{note}.", highlight=False)
    if not outcome.passed:
        raise typer.Exit(EXIT_FAILED)


@app.command("export")
def export_model(
    ref: Annotated[str, typer.Argument(help="NAME (the latest version), NAME/3 or NAME@ALIAS.")],
    dest: Annotated[Path, typer.Argument(help="The folder to write (new or empty).")],
    model_format: Annotated[
        str, typer.Option("--format", help="The model format to write (only mlflow).")
    ] = "mlflow",
    flavour: Annotated[
        str,
        typer.Option(
            "--flavour",
            help="native: MLflow's own flavour where one fits (sklearn, xgboost, lightgbm, "
            "onnx), loaded without Keel; keel: Keel's flavour, loaded through Keel.",
        ),
    ] = "native",
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow a package that holds a pickle.")
    ] = False,
) -> None:
    """Write a registered version as an MLflow model directory (no MLflow server needed)."""
    from keel.registry import export_mlflow, mlflow_flavour, resolve

    with reporting():
        if model_format != "mlflow":
            raise UsageError(
                f"cannot export to the format {model_format!r}.", hint="Use --format mlflow."
            )
        version = resolve(ref)  # once: the version exported is the version described
        exact = f"{version.name}/{version.version}"
        written = export_mlflow(exact, dest, trusted=trusted, flavour=flavour)
    adapter = version.adapter
    written_as = mlflow_flavour(adapter, flavour=flavour)
    if written_as != "keel":
        how = f"MLflow's {written_as} flavour: loads without Keel"
    elif flavour == "keel":
        how = "Keel's flavour, as asked: loading it needs Keel"
    else:
        how = f"Keel's flavour, none native for {adapter} models: loading it needs Keel"
    out.print(f"Exported {exact} as an MLflow model ({how}) to {written}", highlight=False)


@app.command("import")
def import_model(
    source: Annotated[Path, typer.Argument(help="An MLflow model directory (with MLmodel).")],
    name: Annotated[str, typer.Option(help="The model to register it as.")],
    trusted: Annotated[
        bool, typer.Option("--trusted", help="Allow a pickle or pyfunc code: you trust it.")
    ] = False,
    description: Annotated[str | None, typer.Option(help="Why (kept with the version).")] = None,
) -> None:
    """Register an MLflow model directory (a Keel export, sklearn, xgboost, lightgbm, onnx or
    python_function) as a new version."""
    from keel.registry import import_mlflow

    with reporting():
        version = import_mlflow(source, name, trusted=trusted, description=description)
    out.print(
        f"Registered {version.name} version {version.version} ({version.adapter}) from {source}",
        highlight=False,
    )


def version_move(event: Any) -> str:
    """How an event moved its alias: ``1 -> 2``, ``3 removed`` or the version it concerns."""
    if event.version is None:
        return f"{event.previous_version} removed" if event.previous_version else ""
    if event.previous_version:
        return f"{event.previous_version} -> {event.version}"
    return str(event.version)
