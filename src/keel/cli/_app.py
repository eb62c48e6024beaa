"""The root ``keel`` command, ``--version`` and ``keel init``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel._version import __version__
from keel.cli import (
    _contract,
    _data,
    _deploy,
    _features,
    _models,
    _monitor,
    _pipeline,
    _runs,
    _serve,
    _ui,
    _validate,
)
from keel.cli._output import Format, KeelGroup, out, print_json, reporting, set_debug

# Library code is imported inside each command, so that `keel X` loads only what X needs.

__all__ = ["app", "main"]

app = typer.Typer(
    cls=KeelGroup,
    name="keel",
    help="Keel: engineering discipline for ML systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("validate")(_validate.validate)
app.add_typer(_contract.app, name="contract")
app.add_typer(_runs.app, name="runs")
app.add_typer(_data.app, name="data")
app.add_typer(_features.app, name="features")
app.add_typer(_models.app, name="models")
app.add_typer(_monitor.app, name="monitor")
app.command("run")(_pipeline.run)
app.command("check")(_pipeline.check)
app.command("reproduce")(_pipeline.reproduce)
app.command("lineage")(_pipeline.lineage)
app.command("serve")(_serve.serve)
app.add_typer(_serve.app, name="predictions")
app.add_typer(_deploy.app, name="deploy")
app.command("ui")(_ui.ui)
app.command("kpis")(_ui.kpis)


def _version(value: bool) -> None:
    if value:
        out.print(f"keel {__version__}", highlight=False)
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="KEEL_DEBUG",
            help="Show whole tracebacks, Keel's own frames too (KEEL_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """Keel: typed data contracts, versioning, pipelines, registry, serving and monitoring."""
    set_debug(debug)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Project folder.")] = Path(),
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing keel.toml.")] = False,
) -> None:
    """Write keel.toml and create the .keel/ state folder."""
    from keel.config import init_project

    with reporting():
        written = init_project(path, name=name, force=force)
    out.print(f"Wrote {written} and created {written.parent / '.keel'}/", highlight=False)


@app.command()
def gc(
    force: Annotated[bool, typer.Option("--force", help="Delete (default: only list).")] = False,
    grace: Annotated[
        str | None,
        typer.Option(
            help="Keep unreferenced artifacts written or re-used this recently (operations in "
            "flight may still record them): 30s, 10m, 1h, 2d; 0 for none. [default: 1h]"
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Find artifacts nothing refers to; --force deletes them. A dry run by default."""
    from keel.grammar import format_duration, parse_duration
    from keel.tracking import collect_garbage

    with reporting():
        if grace is None:
            found = collect_garbage(delete=force)
        else:
            found = collect_garbage(
                delete=force, grace=parse_duration(grace, where="--grace").seconds
            )
    if fmt is Format.json:
        print_json(found.to_dict())
        return
    verb = "Deleted" if force else "Would delete"
    out.print(
        f"{verb} {len(found.unreferenced)} unreferenced artifact(s), {found.bytes:,} bytes, "
        f"and {found.stale_tmp} stale temporary file(s); {found.referenced} referenced; "
        f"{found.recent} unreferenced kept, written or re-used within the grace period "
        f"({format_duration(found.grace)})." + ("" if force else " Run keel gc --force to delete."),
        highlight=False,
    )


def main() -> None:
    """Console-script entry point."""
    app()
