"""``keel deploy check|status|render|advance|promote|rollback``: deployment specs and rollouts.

JSON shapes (``--format json``), stable:

- ``check``: ``{"name", "file", "valid": true, "spec"}``; an invalid spec prints
  ``{"name", "file", "valid": false, "problems": [...]}`` and exits 2.
- ``status``: ``{"name", "file", "spec", "aliases", "rollout", "phase", "decisions"}`` where
  ``rollout`` is null without a challenger in the spec, else ``{"active",
  "champion_version", "challenger_version", "started_at", "step", "steps", "done",
  "weight", "advances", "failed_analyses", "step_started_at"}``, and ``decisions`` are the
  last 20 rollout events in the shape of ``keel models history --format json``.
- ``render``: ``{"name", "to", "files": [...]}`` with ``-o``, else the manifests on stdout.
- ``advance``, ``promote``, ``rollback``: ``{"name", "action", "aliases"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from keel.cli._models import version_move
from keel.cli._output import EXIT_UNUSABLE, Format, err, fail, out, print_json, reporting

if TYPE_CHECKING:
    from keel.deploy import Controller, DeploySpec

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(
    help="Deployment specs (deploy/NAME.yaml): check, rollout status, render, decide.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The deployment (model) name: deploy/NAME.yaml.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why (kept in the history).")]


@app.command()
def check(name: NameArg, fmt: FormatOpt = Format.table) -> None:
    """Validate deploy/NAME.yaml; every problem is listed (exit 2 when there are any)."""
    from keel.config import find_root
    from keel.deploy import DeploySpecError, load_spec, spec_file
    from keel.errors import KeelError

    root = find_root()
    try:
        spec = load_spec(name, root=root)
    except DeploySpecError as error:
        if fmt is Format.json:
            print_json(
                {
                    "name": name,
                    "file": spec_file(name, root=root),
                    "valid": False,
                    "problems": [p.to_dict() for p in error.problems],
                }
            )
            raise typer.Exit(EXIT_UNUSABLE) from None
        fail(error)
    except KeelError as error:
        fail(error)
    file = spec_file(name, root=root)
    if fmt is Format.json:
        print_json({"name": name, "file": file, "valid": True, "spec": spec.to_dict()})
        return
    if file is None:
        out.print(
            f"No deploy/{name}.yaml: {name}@{spec.champion} would be served alone.", highlight=False
        )
        return
    challenger = spec.challenger
    what = (
        "champion only"
        if challenger is None
        else (
            f"{challenger.mode} rollout of @{challenger.alias}, {len(challenger.steps)} steps, "
            f"promotion {challenger.promotion}"
        )
    )
    out.print(f"{file} is valid: {what}.", highlight=False)


@app.command()
def status(name: NameArg, fmt: FormatOpt = Format.table) -> None:
    """Aliases, the spec, the rollout's current step and weight, and recent decisions."""
    from keel.deploy import rollout_status

    with reporting():
        found = rollout_status(name)
    spec, state, aliases, decisions = found.spec, found.state, found.aliases, found.decisions
    if fmt is Format.json:
        print_json(found.to_dict())
        return
    shown = ", ".join(f"{a} -> {v}" for a, v in aliases.items()) or "none"
    out.print(f"[bold]{name}[/]: aliases {shown}", highlight=False)
    if state is not None and state.active:
        out.print(
            f"rollout of version {state.challenger_version} "
            f"({spec.challenger.mode if spec.challenger else ''}), weight "
            f"{state.weight:g}%",
            highlight=False,
        )
    out.print(found.phase, highlight=False)
    if decisions:
        table = Table(title="recent decisions", title_justify="left")
        for column in ("when", "what", "alias", "version", "who", "why"):
            table.add_column(column, overflow="fold")
        for e in decisions:
            table.add_row(
                f"{e.created_at:%Y-%m-%d %H:%M:%S}",
                e.kind,
                e.alias or "",
                version_move(e),
                e.actor,
                e.reason or "",
            )
        out.print(table)


@app.command()
def render(
    name: NameArg,
    to: Annotated[str, typer.Option("--to", help="Target: argo-rollouts.")],
    image: Annotated[
        str, typer.Option(help="Container image with Keel and this project (required).")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder to write (default: stdout).")
    ] = None,
    prometheus: Annotated[
        str, typer.Option(help="Prometheus address for the analysis queries.")
    ] = "http://prometheus.monitoring.svc:9090",
    service_monitor: Annotated[
        bool,
        typer.Option(
            "--service-monitor",
            help="Write a Prometheus Operator ServiceMonitor instead of scrape annotations.",
        ),
    ] = False,
    stable_version: Annotated[
        int | None, typer.Option(help="Version the running pods serve (default: champion).")
    ] = None,
    canary_version: Annotated[
        int | None, typer.Option(help="Version to roll out (default: challenger).")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Write the spec as Kubernetes manifests: a Rollout, Services, AnalysisTemplates.

    What the manifests cannot carry (sticky routing, shadow mode, guardrails Prometheus
    cannot compute) is printed as warnings on stderr and kept in the Rollout's
    keel.dev/unmapped annotation.
    """
    from keel.config import find_root
    from keel.deploy import load_spec, unmapped, write_manifests
    from keel.deploy import render as render_spec

    with reporting():
        spec = load_spec(name, root=find_root())
        if stable_version is None or canary_version is None:
            found = _registry_versions(spec)
            stable_version = found[0] if stable_version is None else stable_version
            canary_version = found[1] if canary_version is None else canary_version
        documents = render_spec(
            spec,
            to=to,
            image=image,
            stable_version=stable_version,
            canary_version=canary_version,
            prometheus=prometheus,
            service_monitor=service_monitor,
        )
        written = write_manifests(documents, output)
    where = f"{spec.source}: " if spec.source else ""
    for gap in unmapped(spec, to=to):
        err.print(
            f"[bold yellow]warning:[/] {where}not rendered: {gap}",
            highlight=False,
            soft_wrap=True,
        )
    if isinstance(written, str):
        typer.echo(written, nl=False)
        return
    if fmt is Format.json:
        print_json({"name": name, "to": to, "files": [str(p) for p in written]})
        return
    for path in written:
        out.print(f"Wrote {path}", highlight=False)


def _registry_versions(spec: DeploySpec) -> tuple[int | None, int | None]:
    """The champion's and challenger's versions, when the registry knows the model."""
    from keel.errors import KeelError
    from keel.tracking import open_project

    try:
        aliases = open_project().metadata.models.aliases(spec.name)
    except KeelError:
        err.print(
            f"note: model {spec.name!r} is not in this project's registry; "
            "versions left empty (--stable-version, --canary-version)"
        )
        return None, None
    stable = aliases.get(spec.champion)
    canary = aliases.get(spec.challenger.alias) if spec.challenger else None
    return stable, canary if canary is not None else stable


def _done(name: str, action: str, controller: Controller, fmt: Format, message: str) -> None:
    aliases: dict[str, Any] = controller.project.metadata.models.aliases(name)
    if fmt is Format.json:
        print_json({"name": name, "action": action, "aliases": aliases})
        return
    out.print(message, highlight=False)


@app.command()
def advance(name: NameArg, reason: ReasonOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Complete the rollout's current step now (ends a `pause: {}`)."""
    from keel.deploy import open_rollout, phase

    with reporting():
        controller = open_rollout(name)
        state = controller.advance(reason or "advanced by hand")
    _done(name, "advance", controller, fmt, phase(controller.spec, state))


@app.command()
def promote(name: NameArg, reason: ReasonOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Make the challenger's version the champion now and end the rollout."""
    from keel.deploy import open_rollout

    with reporting():
        controller = open_rollout(name)
        controller.promote(reason or "promoted by hand")
    _done(name, "promote", controller, fmt, f"{name}: challenger promoted to champion")


@app.command()
def rollback(name: NameArg, reason: ReasonOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Withdraw the challenger now (its alias is removed; the champion serves alone)."""
    from keel.deploy import open_rollout

    with reporting():
        controller = open_rollout(name)
        controller.rollback(reason or "rolled back by hand")
    _done(name, "rollback", controller, fmt, f"{name}: challenger rolled back")
