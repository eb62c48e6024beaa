"""Dataset versions: content-hashed, described (rows, schema, contract result), restorable.

``add_dataset`` hashes a file or folder (in parallel; unchanged files come from a
size/mtime cache, as in DVC), describes it when it is tabular (Parquet, CSV, NDJSON), checks
it against a contract if one is given, stores its bytes (deduplicated) unless
``reference_only``, and records a new version. Adding unchanged data records nothing new.
"""

from __future__ import annotations

import importlib
import os
import stat
import typing
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from keel.errors import ContractError, InputError, KeelError, UsageError
from keel.grammar import Reference
from keel.store import (
    DatasetVersion,
    ListedFile,
    Listing,
    UnsafePathError,
    check_relative_path,
    read_listing,
    safe_join,
    write_listing,
)
from keel.tracking._project import Project, open_project
from keel.tracking._refs import dataset_version
from keel.tracking._run import active_run
from keel.versioning import DataFingerprint, HashCache, hash_path

if TYPE_CHECKING:
    from keel.contracts import ContractLike

# keel.contracts (and Polars) are imported only when data is described or checked: an
# unchanged re-registration, the common case, then costs hashing and one query.

__all__ = ["ProfileWarning", "add_dataset", "diff_datasets", "get_dataset"]


_COPY_THREADS = 8
_FORCE_HINT = (
    "Pass --force (force=True) to replace the files the version lists, or restore it somewhere new."
)
_TABULAR = (".parquet", ".pq", ".csv", ".ndjson", ".jsonl")  # what keel.contracts reads


@dataclass(frozen=True)
class _Described:
    rows: int | None
    schema: dict[str, str] | None


class ProfileWarning(UserWarning):
    """A dataset version was recorded without its reference profile (the profiling failed;
    the version is recorded either way)."""


class _Profiles(Protocol):
    """What adding a dataset asks of monitoring (:func:`keel.monitor.store_dataset_reference`)."""

    def store_dataset_reference(
        self, ref: str, *, data: Any = None, project: Project | None = None
    ) -> Any: ...


def add_dataset(
    path: str | os.PathLike[str],
    name: str,
    *,
    contract: ContractLike | None = None,
    require_valid: bool = False,
    reference_only: bool = False,
    profile: bool = True,
    project: Project | None = None,
) -> DatasetVersion:
    """Register the data at ``path`` as the next version of dataset ``name`` (``keel data
    add``) and, for tabular data (Parquet, CSV, NDJSON) unless ``profile=False``, store the
    version's reference profile, which ``keel monitor compare data:NAME/3 CURRENT`` compares
    with.

    Unchanged data returns the version it matches. ``contract`` (any
    :data:`keel.contracts.ContractLike`) is checked and its report recorded with the version:
    data that fails it is still registered, with ``version.contract["passed"]`` false
    (``keel data add`` then exits 1), unless ``require_valid``, which raises
    :class:`~keel.errors.ContractError` (its ``report`` holds every failure) and stores nothing.
    A profile that cannot be computed warns (:class:`ProfileWarning`) instead of raising:
    the version is recorded either way, and ``keel monitor reference set data:NAME/3`` can
    store the profile later.
    """
    project = project or open_project()
    version = _record(
        path,
        name,
        contract=contract,
        require_valid=require_valid,
        reference_only=reference_only,
        project=project,
    )
    if profile and version.schema is not None:
        _store_profile(project, version, path)
    return version


def _store_profile(project: Project, version: DatasetVersion, path: Any) -> None:
    """Monitoring profiles the data: it sits above tracking (it reads dataset versions), so
    it is looked up by name, behind the typed :class:`_Profiles`."""
    if project.metadata.references.get("dataset", version.name, version.version):
        return  # unchanged data: its profile is stored already
    monitoring = typing.cast(_Profiles, importlib.import_module("keel.monitor"))
    ref = str(Reference("dataset", version.name, version.version))
    try:
        monitoring.store_dataset_reference(ref, data=path, project=project)
    except KeelError as error:
        warnings.warn(
            ProfileWarning(f"{ref} was recorded without a reference profile: {error.message}"),
            stacklevel=3,
        )


def _record(
    path: str | os.PathLike[str],
    name: str,
    *,
    contract: ContractLike | None,
    require_valid: bool,
    reference_only: bool,
    project: Project,
) -> DatasetVersion:
    root = Path(path)
    if not root.exists():
        raise InputError(f"no data at {root}.", hint="Check the path.")
    fingerprint = hash_path(root, cache=HashCache(project.config.state_dir / "cache"))
    for item in fingerprint.files:  # a name get_dataset would refuse is refused now
        try:
            check_relative_path(item.path, where=f"the data at {root}", what="dataset")
        except UnsafePathError as exc:
            raise InputError(
                exc.message,
                hint="Rename the file: a name with a backslash or a control character "
                "cannot be restored safely.",
            ) from exc
    latest = _latest(project, name)
    if latest is not None and latest.digest == fingerprint.digest and not contract:
        if latest.stored and not reference_only:  # restore files gc or a crash removed
            _store(project, root, fingerprint, missing_only=True)
        return latest  # unchanged: nothing new to record
    described = _describe(root, [f.path for f in fingerprint.files])
    result = None
    if contract is not None:
        from keel.contracts import as_contract, check_data

        report = check_data(as_contract(contract), os.fspath(root), examples=3)
        if require_valid and not report.passed:
            refused = ContractError(report, where=f"dataset {name!r}: the data at {root}")
            refused.hint = (
                "Nothing was registered. Fix the data, or add it without --require-valid "
                "(require_valid=False) to record it as failing."
            )
            raise refused
        result = report.to_dict()
    manifest = _store(project, root, fingerprint, files=not reference_only)
    run = active_run()
    return project.metadata.add_dataset_version(
        name,
        fingerprint.digest,
        stored=not reference_only,
        rows=described.rows,
        schema=described.schema,
        contract=result,
        uri=str(root.resolve()),
        run_id=run.id if run else None,
        size=fingerprint.size,
        files=fingerprint.file_count,
        manifest=manifest,
    )


def get_dataset(
    ref: str | Reference,
    dest: str | os.PathLike[str],
    *,
    force: bool = False,
    project: Project | None = None,
) -> Path:
    """Restore dataset ``NAME/3`` (or ``NAME`` for the latest) to ``dest``; return the path.

    A folder version is written into ``dest``, a new or empty folder; a file version to
    ``dest``, or into it when ``dest`` is a folder. Anything already at ``dest`` is refused
    unless ``force``; even then only regular files are replaced: a symbolic link, a special
    file (device, FIFO, socket) or a folder where a file goes is refused and left as it is.
    Files in ``dest`` the version does not list are kept. Every path of the stored listing
    is checked first (:func:`keel.store.safe_join`: relative, no ``..``, no link followed):
    nothing is written unless every one is safe.
    """
    project = project or open_project()
    found = dataset_version(ref, project=project)
    shown = str(Reference("dataset", found.name, found.version))
    if not found.stored:
        raise InputError(
            f"{shown} was registered by reference only; its bytes are not in the artifact store.",
            hint=f"Read it where it lives: {found.uri}",
        )
    if found.manifest is None:
        raise InputError(
            f"{shown} was recorded without a list of its files, so it cannot be restored.",
            hint="Add the data again (keel data add): this Keel records the list.",
        )
    listing = _listing(project, found)
    target = Path(dest)
    writes = _writes(listing, target, where=f"the file listing of dataset {shown}")
    if listing.kind == "directory" and not force and target.is_dir() and any(target.iterdir()):
        raise UsageError(
            f"{target} is a folder that is not empty; restoring {shown} would write into it.",
            hint=_FORCE_HINT,
        )
    for path in (p for _, p in writes):
        _check_target(path, shown, force=force)
    for digest, path in writes:
        project.artifacts.get_file(digest, path)
    return writes[0][1] if listing.kind == "file" else target


def _writes(listing: Listing, target: Path, *, where: str) -> list[tuple[str, Path]]:
    """(digest, where it goes) for every file of a listing, each path checked."""
    items = listing.files
    if listing.kind == "file" and not target.is_dir():  # dest names the file itself
        check_relative_path(items[0].path, where=where, what="listing")
        return [(items[0].digest, target)]
    if (
        listing.kind == "directory"
        and (target.exists() or target.is_symlink())
        and not target.is_dir()
    ):
        raise UsageError(
            f"{target} exists and is not a folder; the dataset is a folder of {len(items)} "
            "file(s).",
            hint="Restore it to a new folder, or to an existing one.",
        )
    return [(i.digest, safe_join(target, i.path, where=where, what="listing")) for i in items]


def _check_target(path: Path, shown: str, *, force: bool) -> None:
    """Refuse to write ``path`` if something is there (a regular file unless ``force``)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise UsageError(
            f"cannot restore {shown} to {path}: a file stands where the dataset has a folder.",
            hint="Restore it to a new folder, or move that file away.",
        ) from None
    if stat.S_ISREG(mode) and force:
        return
    if stat.S_ISREG(mode):
        raise UsageError(
            f"{path} already exists; restoring {shown} would overwrite it.",
            hint=_FORCE_HINT,
        )
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a symbolic link"
        if stat.S_ISLNK(mode)
        else "a special file (device, FIFO or socket)"
    )
    raise UsageError(
        f"cannot restore {shown}: {path} is {what}, and Keel replaces only regular files "
        "(even with --force).",
        hint="Restore it somewhere new, or move that away first.",
    )


def diff_datasets(
    name: str, old: int | None = None, new: int | None = None, *, project: Project | None = None
) -> dict[str, Any]:
    """What changed between two versions (default: the last two): rows, schema, contract, files."""
    project = project or open_project()
    versions = project.metadata.list_dataset_versions(name)
    if len(versions) < 2 and (old is None or new is None):
        raise UsageError(
            f"dataset {name!r} has {len(versions)} version(s); a diff needs two.",
            hint=f"keel data add PATH --name {name}",
        )
    get = project.metadata.get_dataset_version  # an explicit version may not exist: it says so
    a = versions[-2] if old is None else get(name, old)
    b = versions[-1] if new is None else get(name, new)
    return {
        "name": name,
        "versions": [a.version, b.version],
        "same_content": a.digest == b.digest,
        "rows": [a.rows, b.rows],
        "schema": _schema_diff(a.schema or {}, b.schema or {}),
        "contract": [_contract_summary(a.contract), _contract_summary(b.contract)],
        "files": _file_diff(_listing(project, a), _listing(project, b)),
    }


def _latest(project: Project, name: str) -> DatasetVersion | None:
    versions = project.metadata.list_dataset_versions(name)
    return versions[-1] if versions else None


def _store(
    project: Project,
    root: Path,
    fingerprint: DataFingerprint,
    *,
    files: bool = True,
    missing_only: bool = False,
) -> str:
    """Store the data's files (unless not ``files``) and their listing; return its digest.

    ``missing_only`` stores only what the artifact store lacks: re-adding unchanged data
    restores the objects of its version that were deleted (``keel gc``, by hand)."""
    store = project.artifacts
    directory = fingerprint.kind == "directory"
    sources = {item.digest: root / item.path if directory else root for item in fingerprint.files}
    if missing_only:
        sources = {d: path for d, path in sources.items() if not store.exists(d)}
    if files:
        # copies are kernel-side (sendfile) and release the GIL: threads overlap them
        with ThreadPoolExecutor(max_workers=_COPY_THREADS) as pool:
            list(pool.map(lambda d: store.put_file(sources[d], digest=d), sources))
    listed = [ListedFile(f.path, f.digest, f.size) for f in fingerprint.files]
    return write_listing(store, fingerprint.kind, listed)


def _describe(root: Path, files: list[str]) -> _Described:
    """Rows and column types of tabular data; nothing for other files (images, models)."""
    names = files if root.is_dir() else [root.name]
    if not any(n.lower().endswith(_TABULAR) for n in names):
        return _Described(None, None)  # not data Keel reads: skip loading Polars
    import polars as pl

    from keel.contracts import read_data

    try:
        frame = read_data(root)
        schema = {column: str(dtype) for column, dtype in frame.collect_schema().items()}
        rows = int(frame.select(pl.len()).collect(engine="streaming").item())
    except (KeelError, pl.exceptions.PolarsError, OSError):
        return _Described(None, None)
    return _Described(rows, schema)


def _listing(project: Project, version: DatasetVersion) -> Listing:
    if version.manifest is None:
        return Listing("unknown", ())
    where = f"the file listing of dataset {version.name}/{version.version}"
    hint = "The stored listing was altered; add the data again (keel data add)."
    return read_listing(project.artifacts, version.manifest, where=where, hint=hint)


def _schema_diff(old: Any, new: Any) -> dict[str, Any]:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": {c: [old[c], new[c]] for c in sorted(set(old) & set(new)) if old[c] != new[c]},
    }


def _contract_summary(result: Any) -> dict[str, Any] | None:
    if not result:
        return None
    failed = [c["name"] for c in result.get("checks", []) if not c.get("passed")]
    return {"contract": result.get("contract"), "passed": result.get("passed"), "failed": failed}


def _file_diff(old: Listing, new: Listing) -> dict[str, list[str]]:
    before = {f.path: f.digest for f in old.files}
    after = {f.path: f.digest for f in new.files}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(p for p in set(before) & set(after) if before[p] != after[p]),
    }
