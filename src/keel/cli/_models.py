"""``keel models list|show|history|alias|rollback``: the registry from the shell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from keel._json import json_safe
from keel.cli._output import Format, out, print_json, reporting

if TYPE_CHECKING:
    from keel.store import ModelEvent, ModelVersion

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(help="The model registry: versions, aliases, history.", no_args_is_help=True)


def version_to_dict(version: ModelVersion) -> dict[str, Any]:
    """The documented JSON shape of one model version."""
    return dict(
        json_safe(
            {
                "name": version.name,
                "version": version.version,
                "aliases": list(version.aliases),
                "adapter": version.adapter,
                "created_at": version.created_at,
                "created_by": version.created_by,
                "run_id": version.run_id,
                "description": version.description,
                "metrics": dict(version.metrics),
                "manifest": version.manifest,
            }
        )
    )


def event_to_dict(event: ModelEvent) -> dict[str, Any]:
    """The documented JSON shape of one registry event."""
    return dict(
        json_safe(
            {
                "id": event.id,
                "kind": event.kind,
                "version": event.version,
                "alias": event.alias,
                "previous_version": event.previous_version,
                "actor": event.actor,
                "reason": event.reason,
                "created_at": event.created_at,
                "detail": dict(event.detail),
            }
        )
    )


@app.command("list")
def list_models(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Registered models with their latest version and aliases."""
    from keel.tracking import open_project

    with reporting():
        models = open_project().metadata.models.models()
    if fmt is Format.json:
        print_json(
            [
                {"name": m.name, "latest": m.latest, "aliases": dict(m.aliases)}
                | {"created_at": json_safe(m.created_at)}
                for m in models
            ]
        )
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
    from keel.registry import parse_model_ref, resolve
    from keel.tracking import open_project

    with reporting():
        project = open_project()
        name, version, alias = parse_model_ref(ref)
        if version is None and alias is None:
            versions = project.metadata.models.versions(name)
        else:
            versions = [resolve(ref, project=project)]
    if fmt is Format.json:
        print_json([version_to_dict(v) for v in versions])
        return
    table = Table(title=f"model {name}", title_justify="left")
    for column in ("version", "aliases", "adapter", "created", "by", "run", "metrics"):
        table.add_column(column, overflow="fold")
    for v in versions:
        table.add_row(
            str(v.version),
            ", ".join(v.aliases),
            v.adapter,
            f"{v.created_at:%Y-%m-%d %H:%M:%S}",
            v.created_by,
            (v.run_id or "")[:8],
            ", ".join(f"{k}={val:.4g}" for k, val in v.metrics.items()),
        )
    out.print(table)


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
        print_json([event_to_dict(e) for e in events])
        return
    table = Table(title=f"history of {name}", title_justify="left")
    for column in ("when", "what", "version", "alias", "who", "why"):
        table.add_column(column, overflow="fold")
    for e in events:
        moved = f"{e.previous_version} -> {e.version}" if e.previous_version else str(e.version)
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
