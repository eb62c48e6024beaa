"""``keel data add|list|show|diff|get``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from keel.cli._output import EXIT_FAILED, Format, err, fail, out, print_json, progress, reporting
from keel.errors import UsageError
from keel.grammar import Reference

if TYPE_CHECKING:
    from keel.store import DatasetVersion

# Library code is imported inside each command, so that `keel X` loads only what X needs.

__all__ = ["app"]

app = typer.Typer(help="Dataset versions: add, list, show, diff, get.", no_args_is_help=True)


def _version_dict(version: DatasetVersion) -> dict[str, Any]:
    from keel.tracking import dataset_version_to_dict

    return dataset_version_to_dict(version)


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A file or folder.")],
    name: Annotated[str, typer.Option("--name", help="Dataset name.")],
    contract: Annotated[
        str | None,
        typer.Option(help="Check against this contract; data that fails it exits 1."),
    ] = None,
    require_valid: Annotated[
        bool,
        typer.Option(
            "--require-valid",
            help="With --contract: register nothing when the data fails it (exit 1).",
        ),
    ] = False,
    reference_only: Annotated[
        bool, typer.Option("--reference-only", help="Record the hash; do not copy the bytes.")
    ] = False,
    no_profile: Annotated[
        bool,
        typer.Option(
            "--no-profile",
            help="Do not store the version's reference profile (tabular data is profiled).",
        ),
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Register the data at PATH as the next version of dataset NAME.

    Tabular data (Parquet, CSV, NDJSON) also gets its reference profile stored, which
    `keel monitor compare data:NAME/3 CURRENT` compares with. Data that fails --contract is
    registered as failing (its report is kept with the version) and the command exits 1;
    with --require-valid it is not registered at all.
    """
    import warnings

    from keel import ProfileWarning, add_dataset

    if require_valid and contract is None:
        fail(UsageError("--require-valid needs --contract.", hint="--contract contract.yaml"))
    with (
        reporting(),
        progress(f"Hashing {path}", quiet=fmt is Format.json),
        warnings.catch_warnings(record=True) as seen,
    ):
        warnings.simplefilter("always", ProfileWarning)
        version = add_dataset(
            path,
            name,
            contract=contract,
            require_valid=require_valid,
            reference_only=reference_only,
            profile=not no_profile,
        )
    unprofiled = [w for w in seen if issubclass(w.category, ProfileWarning)]
    for caught in seen:
        if caught in unprofiled:
            err.print(f"[bold yellow]warning:[/] {caught.message}", highlight=False)
        else:  # not ours to render: shown as Python would have
            warnings.warn_explicit(caught.message, caught.category, caught.filename, caught.lineno)
    profiled = not no_profile and version.schema is not None and not unprofiled
    passed = (version.contract or {}).get("passed")
    if fmt is Format.json:
        print_json(_version_dict(version))  # "contract": the report, "passed" false
    else:
        verdict = {True: ", contract passed", False: ", contract FAILED", None: ""}
        shown = Reference("dataset", version.name, version.version)
        out.print(
            f"{shown}: {version.files} file(s), {version.size:,} bytes, "
            f"{version.rows if version.rows is not None else '?'} rows, digest "
            f"{version.digest[:12]}{verdict[passed]}{', profiled' if profiled else ''}",
            highlight=False,
        )
    if passed is False:
        _registered_failing(version)


def _registered_failing(version: DatasetVersion) -> NoReturn:
    """Data that fails its contract was registered: say so, with what failed, and exit 1."""
    report = version.contract or {}
    shown = Reference("dataset", version.name, version.version)
    failed = [
        c for c in report.get("checks", []) if c.get("severity") == "error" and not c.get("passed")
    ]
    err.print(
        f"[bold red]error:[/] {escape(str(shown))} was registered as FAILING contract "
        f"{escape(repr(report.get('contract')))}: {len(failed)} check(s) failed on "
        f"{report.get('rows', 0):,} rows:",
        highlight=False,
    )
    for check in failed:
        rows = int(check.get("failures") or 0)
        detail = check.get("message") or f"{rows:,} row{'' if rows == 1 else 's'}"
        err.print(f"  {escape(str(check.get('name')))}: {escape(str(detail))}", highlight=False)
    err.print(
        "[bold]Hint:[/] keel data show "
        f"{escape(str(shown))} has the full report; fix the data and add it again, or pass "
        "--require-valid to refuse data that fails.",
        highlight=False,
    )
    raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_versions(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Every version of dataset NAME, oldest first."""
    from keel.tracking import open_project

    with reporting():
        versions = open_project().metadata.list_dataset_versions(name)
    if fmt is Format.json:
        print_json([_version_dict(v) for v in versions])
        return
    table = Table(title=f"dataset {name}", title_justify="left")
    for column in ("version", "created", "rows", "files", "bytes", "digest", "stored", "contract"):
        table.add_column(column)
    for v in versions:
        passed = (v.contract or {}).get("passed")
        table.add_row(
            str(v.version),
            f"{v.created_at:%Y-%m-%d %H:%M:%S}",
            "" if v.rows is None else f"{v.rows:,}",
            "" if v.files is None else str(v.files),
            "" if v.size is None else f"{v.size:,}",
            v.digest[:12],
            "yes" if v.stored else "reference",
            {True: "passed", False: "failed", None: ""}[passed],
        )
    out.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME (the latest) or NAME/3 (version 3).")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.json,
) -> None:
    """One version, with its schema and contract result (JSON)."""
    from keel.tracking import dataset_version

    with reporting():
        found = dataset_version(ref)
    print_json(_version_dict(found)) if fmt is Format.json else out.print(_version_dict(found))


@app.command()
def diff(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    old: Annotated[int | None, typer.Argument(help="Old version (default: previous).")] = None,
    new: Annotated[int | None, typer.Argument(help="New version (default: latest).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Rows, schema, contract and file changes between two versions."""
    from keel.tracking import diff_datasets

    with reporting():
        result = diff_datasets(name, old, new)
    if fmt is Format.json:
        print_json(result)
    else:
        out.print(_diff_table(result))


_FILES_SHOWN = 20  # per kind of change; the JSON lists them all


def _diff_table(diff: dict[str, Any]) -> Table:
    """``keel data diff`` for a terminal: one row per change, the two versions side by side."""
    a, b = (Reference("dataset", diff["name"], v) for v in diff["versions"])
    same = "same content" if diff["same_content"] else "different content"
    table = Table(title=f"{a} -> {b}: {same}", title_justify="left")
    for column in ("", str(a), str(b)):
        table.add_column(column, overflow="fold")
    table.add_row("rows", *("?" if r is None else f"{r:,}" for r in diff["rows"]))
    table.add_row("contract", *(_contract_cell(c) for c in diff["contract"]))
    schema = diff["schema"]
    for column in schema["added"]:
        table.add_row(f"column {column}", "—", "added")
    for column in schema["removed"]:
        table.add_row(f"column {column}", "present", "removed")
    for column, (before, after) in schema["changed"].items():
        table.add_row(f"column {column}", str(before), str(after))
    for change, cells in (
        ("added", ("—", "added")),
        ("removed", ("present", "removed")),
        ("changed", ("", "changed")),
    ):
        paths = diff["files"][change]
        for path in paths[:_FILES_SHOWN]:
            table.add_row(f"file {path}", *cells)
        if len(paths) > _FILES_SHOWN:
            table.add_row(
                f"{len(paths) - _FILES_SHOWN} more file(s) {change}", "", "(--format json)"
            )
    return table


def _contract_cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "not checked"
    if summary.get("passed"):
        return f"passed ({summary.get('contract')})"
    return f"FAILED ({summary.get('contract')}): " + ", ".join(summary.get("failed") or [])


@app.command()
def get(
    ref: Annotated[str, typer.Argument(help="NAME/3 (version 3), or NAME for the latest.")],
    dest: Annotated[Path, typer.Argument(help="Where to restore it.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace regular files already at DEST (never links, folders or special files).",
        ),
    ] = False,
) -> None:
    """Restore a stored version (verified against its hashes) to DEST.

    DEST must be new (or an empty folder) unless --force. Every path of the version's
    listing is checked first: nothing is written outside DEST.
    """
    from keel.tracking import get_dataset

    with reporting(), progress(f"Restoring {ref}"):
        written = get_dataset(ref, dest, force=force)
    out.print(f"Restored {ref} to {written}", highlight=False)
