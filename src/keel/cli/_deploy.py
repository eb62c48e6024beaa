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
    from keel.deploy._controller import Controller
    from keel.deploy._spec import DeploySpec
    from keel.tracking import Project

__all__ = ["app"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(
    help="Deployment specs (deploy/NAME.yaml): check, rollout status, render, decide.",
    no_args_is_help=True,
)

_DECISIONS = ("advance", "analysis", "promote", "rollback", "delete-alias", "alias")

NameArg = Annotated[str, typer.Argument(help="The deployment (model) name: deploy/NAME.yaml.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why (kept in the history).")]


def _file(name: str, root: Path) -> str | None:
    from keel.deploy._spec import spec_path

    path = spec_path(name, root=root)
    return str(path.relative_to(root)) if path.is_file() else None


@app.command()
def check(name: NameArg, fmt: FormatOpt = Format.table) -> None:
    """Validate deploy/NAME.yaml; every problem is listed (exit 2 when there are any)."""
    from keel.config import find_root
    from keel.deploy._spec import DeploySpecError, load_spec
    from keel.errors import KeelError

    root = find_root()
    try:
        spec = load_spec(name, root=root)
    except DeploySpecError as error:
        if fmt is Format.json:
            print_json(
                {
                    "name": name,
                    "file": _file(name, root),
                    "valid": False,
                    "problems": [p.to_dict() for p in error.problems],
                }
            )
            raise typer.Exit(EXIT_UNUSABLE) from None
        fail(error)
    except KeelError as error:
        fail(error)
    file = _file(name, root)
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


def _open(name: str) -> tuple[Project, DeploySpec]:
    from keel.deploy._spec import load_spec
    from keel.tracking import open_project

    project = open_project()
    return project, load_spec(name, root=project.config.root)


@app.command()
def status(name: NameArg, fmt: FormatOpt = Format.table) -> None:
    """Aliases, the spec, the rollout's current step and weight, and recent decisions."""
    from keel.cli._models import event_to_dict
    from keel.deploy._controller import phase, read_state

    with reporting():
        project, spec = _open(name)
        store = project.metadata.models
        aliases = store.aliases(name)
        state = read_state(project, spec)
        decisions = [e for e in store.events(name) if e.kind in _DECISIONS][-20:]
    described = phase(spec, state)
    if fmt is Format.json:
        print_json(
            {
                "name": name,
                "file": _file(name, project.config.root),
                "spec": spec.to_dict(),
                "aliases": aliases,
                "rollout": None if state is None else state.to_dict(),
                "phase": described,
                "decisions": [event_to_dict(e) for e in decisions],
            }
        )
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
    out.print(described, highlight=False)
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
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder to write (default: stdout).")
    ] = None,
    image: Annotated[str, typer.Option(help="Container image with Keel.")] = "keel:latest",
    prometheus: Annotated[
        str, typer.Option(help="Prometheus address for the analysis queries.")
    ] = "http://prometheus.monitoring.svc:9090",
    stable_version: Annotated[
        int | None, typer.Option(help="Version the running pods serve (default: champion).")
    ] = None,
    canary_version: Annotated[
        int | None, typer.Option(help="Version to roll out (default: challenger).")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Write the spec as Kubernetes manifests: a Rollout, Services, AnalysisTemplates."""
    from keel.config import find_root
    from keel.deploy._render import render as render_spec
    from keel.deploy._render import write_manifests
    from keel.deploy._spec import load_spec

    with reporting():
        spec = load_spec(name, root=find_root())
        if stable_version is None or canary_version is None:
            found = _registry_versions(spec)
            stable_version = found[0] if stable_version is None else stable_version
            canary_version = found[1] if canary_version is None else canary_version
        documents = render_spec(
            spec,
            to=to,
            stable_version=stable_version,
            canary_version=canary_version,
            image=image,
            prometheus=prometheus,
        )
        written = write_manifests(documents, output)
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


def _controller(name: str) -> Controller:
    from keel.deploy._controller import Controller
    from keel.deploy._guardrails import Guardrails
    from keel.deploy._router import Router

    project, spec = _open(name)
    return Controller(project, spec, Router(spec), Guardrails(spec))


def _done(name: str, action: str, controller: Controller, fmt: Format, message: str) -> None:
    aliases: dict[str, Any] = controller.project.metadata.models.aliases(name)
    if fmt is Format.json:
        print_json({"name": name, "action": action, "aliases": aliases})
        return
    out.print(message, highlight=False)


@app.command()
def advance(name: NameArg, reason: ReasonOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Complete the rollout's current step now (ends a `pause: {}`)."""
    from keel.deploy._controller import phase

    with reporting():
        controller = _controller(name)
        state = controller.advance(reason or "advanced by hand")
    _done(name, "advance", controller, fmt, phase(controller.spec, state))


@app.command()
def promote(name: NameArg, reason: ReasonOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Make the challenger's version the champion now and end the rollout."""
    with reporting():
        controller = _controller(name)
        controller.promote(reason or "promoted by hand")
    _done(name, "promote", controller, fmt, f"{name}: challenger promoted to champion")


@app.command()
def rollback(name: NameArg, reason: ReasonOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Withdraw the challenger now (its alias is removed; the champion serves alone)."""
    with reporting():
        controller = _controller(name)
        controller.rollback(reason or "rolled back by hand")
    _done(name, "rollback", controller, fmt, f"{name}: challenger rolled back")
