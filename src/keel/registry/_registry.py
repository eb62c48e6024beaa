"""``keel.register`` and ``keel.load``: immutable versions, aliases, rollback, history.

A registered version is a model package stored file by file in the artifact store (so
identical files are kept once) plus a row naming its manifest. Registering runs the model
on contract-shaped rows first: a model that cannot predict on the data its contract
describes is rejected with the error, not discovered in production. Loading fetches the
files (verified on read), caches them under ``.keel/models/``, and verifies them again
against the manifest. Who did what is the ``KEEL_ACTOR`` variable, else the login name.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib
import os
import shutil
import tempfile
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from keel.contracts import Contract, ContractLike, as_contract
from keel.errors import InputError, KeelError, UsageError
from keel.grammar import Reference, check_name, parse_reference
from keel.models import (
    MANIFEST,
    KeelModel,
    Manifest,
    ModelPackageError,
    load_model,
    package_path,
    sample_rows,
    save_model,
)
from keel.registry._features import FeatureServiceSnapshot, resolve_feature_service
from keel.store import (
    AliasState,
    ListedFile,
    ModelEvent,
    ModelVersion,
    hash_file,
    read_listing,
    write_listing,
)
from keel.tracking import ActiveRun, Project, active_run, open_project

__all__ = [
    "ModelRejectedError",
    "actor",
    "feature_snapshot",
    "history",
    "load",
    "register",
    "register_package",
    "resolve",
    "rollback",
    "set_alias",
]

_MOVES = ("alias", "promote", "rollback")  # events that move an alias (a gate does not)


class ModelRejectedError(UsageError):
    """A model was refused at registration: it cannot predict on contract-shaped data."""


def actor() -> str:
    """Who is acting: ``KEEL_ACTOR``, else the login name."""
    found = os.environ.get("KEEL_ACTOR")
    if found:
        return found
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(
    model: Any,
    name: str,
    *,
    contract: ContractLike | None = None,
    output_contract: ContractLike | None = None,
    run: ActiveRun | str | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str | None = None,
    sample: Any = None,
    trusted: bool = False,
    reference: Any = None,
    feature_service: Any = None,
    project: Project | None = None,
) -> ModelVersion:
    """Register ``model`` as the next immutable version of ``name`` (``keel.register``).

    ``contract`` (:data:`keel.contracts.ContractLike`) is the model's input schema; ``run``
    (default: the active run) links the version to the run, its data versions and code
    fingerprint. Before anything is stored, the model predicts on ``sample`` (default: rows
    generated from the contract); a failure rejects it with :class:`ModelRejectedError`.

    ``reference`` (a frame or a data path, typically the training data) is profiled on the
    contract's columns (every column without a contract) and stored as the version's
    reference profile, which ``keel monitor compare model:NAME/V CURRENT`` compares with.
    It is profiled before anything is registered, so bad reference data registers nothing.

    ``feature_service`` (a :class:`keel.FeatureService` or the name of one in the project's
    feature definitions) is the service the model was trained with: it is resolved now and
    stored with the version (:func:`keel.registry.feature_snapshot` reads it back), and
    ``keel serve`` then looks its features up online. An unknown name registers nothing.
    """
    check_name(name, "model")
    inputs = None if contract is None else as_contract(contract)
    project = project or open_project()
    service = None if feature_service is None else resolve_feature_service(feature_service)
    prepared = None
    if reference is not None:
        prepared = _references().prepare_reference(reference, inputs, what=f"model {name!r}")
    run_id = run.id if isinstance(run, ActiveRun) else run
    if run_id is None and (current := active_run()) is not None:
        run_id = current.id
    lineage = _lineage(project, run_id)
    with tempfile.TemporaryDirectory(prefix="keel-model-") as scratch:
        folder = Path(scratch) / "package"
        manifest = save_model(
            model,
            folder,
            contract=inputs,
            output_contract=output_contract,
            trusted=trusted,
            lineage=lineage,
            metrics=metrics,
        )
        loaded = load_model(folder, trusted=trusted)
        _smoke_test(loaded, name, sample)
        version = store_package(
            folder,
            name,
            manifest,
            run_id=run_id,
            description=description,
            feature_service=service,
            project=project,
        )
    if prepared is not None:
        _references().store_prepared_reference(prepared, reference, project, version)
    return version


class _References(Protocol):
    """What registering with ``reference=`` asks of monitoring (``keel.monitor``)."""

    def prepare_reference(self, data: Any, contract: Contract | None, *, what: str) -> Any: ...

    def store_prepared_reference(
        self, prepared: Any, data: Any, project: Project, version: ModelVersion
    ) -> None: ...


def _references() -> _References:
    """Monitoring's reference profiles (its public :func:`keel.monitor.prepare_reference` and
    :func:`keel.monitor.store_prepared_reference`). Monitoring sits above the registry (it
    reads registered versions), so it is looked up by name when ``reference=`` first needs
    it, the one place a lower layer reaches up, behind the typed :class:`_References`."""
    return typing.cast(_References, importlib.import_module("keel.monitor"))


def store_package(
    folder: Path,
    name: str,
    manifest: Manifest,
    *,
    run_id: str | None = None,
    description: str | None = None,
    feature_service: tuple[str, dict[str, Any]] | None = None,
    project: Project,
) -> ModelVersion:
    """Store a checked package's files in the artifact store and record the new version
    (with ``feature_service``'s name and snapshot, from :func:`resolve_feature_service`)."""
    listing: list[ListedFile] = []
    manifest_digest = ""
    for file in [*sorted(manifest.files), MANIFEST]:
        ref = project.artifacts.put_file(package_path(folder, file))  # no link followed
        listing.append(ListedFile(file, ref.digest, ref.size))
        if file == MANIFEST:
            manifest_digest = ref.digest
    listed = write_listing(project.artifacts, "model", listing)
    return project.metadata.models.add_version(
        name,
        manifest=manifest_digest,
        listing=listed,
        adapter=manifest.adapter,
        actor=actor(),
        run_id=run_id,
        description=description,
        metrics=manifest.metrics,
        feature_service=None if feature_service is None else feature_service[0],
        feature_snapshot=None if feature_service is None else feature_service[1],
    )


def register_package(
    folder: str | Path,
    name: str,
    *,
    feature_service: Any = None,
    description: str | None = None,
    sample: Any = None,
    trusted: bool = False,
    project: Project | None = None,
) -> ModelVersion:
    """Register a model package folder (written by :func:`keel.models.save_model`) as it is,
    as the next version of ``name`` (``keel models register``): every file is verified, the
    model predicts on ``sample`` (default: contract-shaped rows) first, and
    ``feature_service`` is resolved and stored as in :func:`register`."""
    check_name(name, "model")
    project = project or open_project()
    service = None if feature_service is None else resolve_feature_service(feature_service)
    loaded = load_model(folder, trusted=trusted)  # every file checked against the manifest
    _smoke_test(loaded, name, sample)
    return store_package(
        Path(folder),
        name,
        loaded.manifest,
        description=description,
        feature_service=service,
        project=project,
    )


def feature_snapshot(
    ref: str | Reference | ModelVersion, *, project: Project | None = None
) -> FeatureServiceSnapshot | None:
    """The feature service snapshot stored with a model version (``NAME/3``, ``NAME@ALIAS``,
    ``NAME`` for the latest, or a :class:`~keel.store.ModelVersion`); ``None`` when the version
    names no feature service."""
    project = project or open_project()
    version = ref if isinstance(ref, ModelVersion) else resolve(ref, project=project)
    if version.feature_service is None:
        return None
    data = project.metadata.models.feature_snapshot(version.name, version.version)
    return None if data is None else FeatureServiceSnapshot.from_dict(data)


def load(ref: str, *, trusted: bool = False, project: Project | None = None) -> KeelModel:
    """The model behind ``NAME``, ``NAME/3`` or ``NAME@ALIAS``, verified."""
    project = project or open_project()
    found = resolve(ref, project=project)
    folder = cache_folder(project, found)
    cached = folder / MANIFEST
    if cached.is_file() and hash_file(cached) == found.manifest:
        with contextlib.suppress(ModelPackageError):  # else a cached file was damaged
            return load_model(folder, trusted=trusted)
    shutil.rmtree(folder, ignore_errors=True)  # absent, edited or damaged: fetch it (once)
    _fetch(project, found, folder)
    try:
        return load_model(folder, trusted=trusted)
    except ModelPackageError as exc:
        raise _bad_in_store(project, found, exc) from exc


def _fetch(project: Project, version: ModelVersion, folder: Path) -> None:
    """Copy the version's files from the artifact store into the cache ``folder``."""
    try:
        _materialize(project, version, folder)
    except InputError as exc:  # a stored file is missing or corrupted
        raise _bad_in_store(project, version, exc) from exc


def _bad_in_store(project: Project, version: ModelVersion, exc: KeelError) -> ModelPackageError:
    return ModelPackageError(
        f"model {version.name}/{version.version} is damaged in the artifact store at "
        f"{project.artifacts.url} (listing {version.listing}), not only in the local cache: "
        f"{exc.message}",
        hint=f"Register the model again (keel.register(..., {version.name!r})) from its "
        "source, or restore the artifact store from a backup.",
    )


def cache_folder(project: Project, version: ModelVersion) -> Path:
    """The local copy of a version's package: ``.keel/models/<manifest digest>``."""
    where = f"the metadata store's record of model {version.name}/{version.version}"
    return package_path(project.config.state_dir / "models", version.manifest, where=where)


def resolve(ref: str | Reference, *, project: Project | None = None) -> ModelVersion:
    """The registered version a model reference names: ``NAME`` (the latest), ``NAME/3`` or
    ``NAME@ALIAS`` (:func:`keel.grammar.parse_reference`)."""
    if isinstance(ref, Reference):
        found = Reference("model", ref.name, ref.version, ref.alias)
    else:
        found = parse_reference(ref, kind="model")
    project = project or open_project()
    store = project.metadata.models
    version = found.version
    if found.alias is not None:
        version = store.alias(found.name, found.alias).version
    return store.get_version(found.name, version)


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    reason: str | None = None,
    expected_revision: int | None = None,
    project: Project | None = None,
) -> AliasState:
    """Point ``alias`` at ``version`` (recorded). With ``expected_revision`` (from
    ``project.metadata.models.alias``) the move fails if someone moved it meanwhile; without
    it, concurrent moves all land one after the other and the last one wins."""
    project = project or open_project()
    return project.metadata.models.move_alias(
        name, alias, version, actor=actor(), reason=reason, expected_revision=expected_revision
    )


def rollback(
    name: str, alias: str = "champion", *, reason: str | None = None, project: Project | None = None
) -> AliasState:
    """Move ``alias`` back to the version it pointed at before its last move (recorded)."""
    project = project or open_project()
    store = project.metadata.models
    current = store.alias(name, alias)
    moves = [
        e
        for e in store.events(name)
        if e.alias == alias and e.kind in _MOVES and e.version is not None
    ]
    last = moves[-1] if moves else None
    if last is None or last.previous_version is None:
        raise UsageError(
            f"alias {alias!r} of model {name!r} has no earlier target to go back to.",
            hint=f"keel models history {name} shows its moves.",
        )
    return store.move_alias(
        name,
        alias,
        last.previous_version,
        actor=actor(),
        reason=reason,
        expected_revision=current.revision,
        kind="rollback",
        detail={"from": current.version},
    )


def history(name: str, *, project: Project | None = None) -> list[ModelEvent]:
    """The model's append-only event log, oldest first."""
    project = project or open_project()
    return project.metadata.models.events(name)


def _lineage(project: Project, run_id: str | None) -> dict[str, Any]:
    if run_id is None:
        return {}
    run = project.metadata.get_run(run_id)
    fingerprint = run.fingerprint or {}
    code = fingerprint.get("code") or {}
    return {
        "run": run.id,
        "data": fingerprint.get("data") or [],
        "code": {k: code.get(k) for k in ("kind", "commit", "branch", "dirty", "source_digest")},
        "pipeline": run.tags.get("keel.pipeline"),
    }


def _smoke_test(model: KeelModel, name: str, sample: Any) -> None:
    if sample is None:
        if model.input_contract is None:
            return  # nothing describes the input: nothing to try it on
        sample = sample_rows(model.input_contract)
    try:
        predicted = model.predict(sample)
        if model.manifest.task == "classification":
            model.predict_proba(sample)
    except KeelError as exc:
        raise ModelRejectedError(
            f"model {name!r} was not registered: it cannot predict on contract-shaped data: "
            f"{exc.message}",
            hint="Register the model with the contract of what it reads (contract=...).",
        ) from exc
    except Exception as exc:
        raise ModelRejectedError(
            f"model {name!r} was not registered: predict failed on contract-shaped data: "
            f"{type(exc).__name__}: {exc}",
            hint="Fix the model or its contract; pass sample=... to try it on real rows.",
        ) from exc
    if len(predicted) != (len(sample) if not hasattr(sample, "shape") else sample.shape[0]):
        raise ModelRejectedError(
            f"model {name!r} was not registered: it returned {len(predicted)} predictions "
            "for a different number of rows.",
            hint="predict must return one prediction per input row.",
        )


def _materialize(project: Project, version: ModelVersion, folder: Path) -> None:
    where = f"the stored file listing of model {version.name}/{version.version}"
    hint = "The registry's records were altered; register the model again."
    items = read_listing(project.artifacts, version.listing, where=where, hint=hint).files
    scratch = folder.with_name(folder.name + f".{os.getpid()}.part")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        # every path checked before anything is written
        targets = [(item.digest, package_path(scratch, item.path, where=where)) for item in items]
        for digest, target in targets:
            project.artifacts.get_file(digest, target)
        if not (scratch / MANIFEST).is_file():  # load_model parses and verifies it
            raise ModelPackageError(
                f"model {version.name}/{version.version} is stored without its {MANIFEST}.",
                hint="The registry's files are incomplete; register the model again.",
            )
        scratch.replace(folder) if not folder.exists() else shutil.rmtree(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
