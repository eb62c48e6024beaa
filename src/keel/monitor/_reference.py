"""Reference profiles stored with model versions and dataset versions.

A *reference profile* is reference data (what a model was trained on, or a dataset version)
profiled on its own bins (``profile_reference``: the bins and the counts over them, from one
read of the data). The :class:`Profile` (whose columns carry their bins) is stored as JSON in
the artifact store and recorded in the metadata store against ``(model, version)`` or
``(dataset, version)``. Monitoring then compares current data with the stored profile: the
bins come from it and only the current data is read.

Where a model version's reference comes from, in order:

1. the profile stored with that version (``keel.register(..., reference=train)``,
   :func:`store_model_reference` or ``keel monitor reference set``);
2. else, when the run that registered it read exactly one tabular dataset version
   (``run.use_dataset(...)``), that dataset version's profile, computed and stored on first
   use, restricted to the model's input columns.

A model's reference covers its input contract's columns when it has one, else every column of
the data. A dataset version's reference covers all its columns.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InputError, UsageError
from keel.grammar import Reference, parse_reference, prefix_kind
from keel.monitor._profile import Profile, _schema_of, profile_reference

if TYPE_CHECKING:
    import polars as pl

    from keel.contracts import Contract, ContractLike
    from keel.models import KeelModel, Manifest
    from keel.store import DatasetVersion, ModelVersion, ReferenceRecord
    from keel.store import ReferenceSubject as Subject
    from keel.tracking import Project

__all__ = [
    "StoredReference",
    "dataset_reference",
    "find_reference",
    "get_reference",
    "model_reference",
    "resolve_reference",
    "set_reference",
    "store_dataset_reference",
    "store_model_reference",
]


@dataclass(frozen=True)
class StoredReference:
    """The reference profile of a model or dataset version, and the record it was read from
    (for a model that inherits its training dataset's profile, that dataset's record)."""

    subject: Subject
    name: str
    version: int
    profile: Profile
    record: ReferenceRecord

    @property
    def reference(self) -> Reference:
        """The model or dataset version this profile is the reference of."""
        return Reference(self.subject, self.name, self.version)

    @property
    def inherited(self) -> bool:
        """Whether a model version uses its training dataset version's profile."""
        return self.record.subject != self.subject

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON of ``keel monitor reference show --format json``."""
        record = self.record
        return {
            "subject": self.subject,
            "name": self.name,
            "version": self.version,
            "inherited_from": _data(record.name, record.version) if self.inherited else None,
            "digest": record.digest,
            "rows": record.rows,
            "columns": list(self.profile.columns),
            "created_at": record.created_at.isoformat(),
            "created_by": record.created_by,
            "source": record.source,
            "profile": self.profile.to_dict(),
        }


@dataclass(frozen=True)
class PreparedReference:
    """A reference profile computed, not yet stored (so ``keel.register`` can check the
    reference data before it registers anything)."""

    profile: Profile
    source: str


# --------------------------------------------------------------------------- models


def store_model_reference(
    ref: str, data: Any, *, contract: ContractLike | None = None, project: Project | None = None
) -> Profile:
    """Profile ``data`` as the reference of model version ``ref`` (``NAME``, ``NAME/3`` or
    ``NAME@champion``) and store it, replacing any earlier one; return the profile.

    The model's answers on ``data`` are profiled with it (``prediction``, and ``score`` for a
    binary classifier), so monitoring measures prediction drift as well as input drift.

    The profiled columns are ``contract``'s (:data:`keel.contracts.ContractLike`) when given,
    else the model's input contract's, else every column of ``data``; a contract's columns are
    profiled by their declared kind (:attr:`keel.contracts.ColumnSpec.kind`). ``data`` is a
    Polars/pandas frame, a PyArrow table or a path (Parquet file or folder, CSV, NDJSON).
    """
    from keel.contracts import as_contract
    from keel.registry import resolve
    from keel.tracking import open_project

    given = None if contract is None else as_contract(contract)
    project = project or open_project()
    version = resolve(ref, project=project)
    found = given if given is not None else _manifest(project, version).input_contract
    prepared = prepare_reference(data, found, what=f"model {version.name}/{version.version}")
    prepared = with_outputs(prepared, data, project, version)
    save_model_reference(project, version, prepared)
    return prepared.profile


def model_reference(ref: str, *, project: Project | None = None) -> Profile | None:
    """The reference profile of model version ``ref``: its own, else its one training
    dataset version's (computed and stored on first use); ``None`` when it has neither."""
    found = find_reference(f"model:{ref}", project=project)
    return None if found is None else found.profile


def _find_model(project: Project, ref: str | Reference) -> StoredReference | None:
    from keel.registry import resolve

    version = resolve(ref, project=project)
    record = project.metadata.references.get("model", version.name, version.version)
    if record is not None:
        return StoredReference(
            "model", version.name, version.version, _read(project, record), record
        )
    contract = _manifest(project, version).input_contract
    columns = None if contract is None else contract.column_names
    trained_on = _training_dataset(project, version, columns)
    if trained_on is None:
        return None
    record = _dataset_record(project, trained_on)
    found = _read(project, record)
    if columns is not None:
        found = Profile(columns={c: found.columns[c] for c in columns}, rows=found.rows)
    return StoredReference("model", version.name, version.version, found, record)


def store_prepared_reference(
    prepared: PreparedReference, data: Any, project: Project, version: ModelVersion
) -> None:
    """Store ``prepared`` (from ``data``) as the reference of the just registered ``version``,
    with the profile of its answers on ``data`` (:func:`with_outputs`); what
    ``keel.register(..., reference=data)`` does once the version is stored."""
    save_model_reference(project, version, with_outputs(prepared, data, project, version))


def save_model_reference(
    project: Project, version: ModelVersion, prepared: PreparedReference
) -> ReferenceRecord:
    """Store a prepared profile as the reference of ``version`` (and log it in its history)."""
    record = _save(project, "model", version.name, version.version, prepared)
    project.metadata.models.record_event(
        version.name,
        "reference",
        actor=record.created_by,
        version=version.version,
        reason=f"reference profile of {record.rows:,} rows from {record.source}",
        detail={"digest": record.digest, "rows": record.rows, "columns": list(record.columns)},
    )
    return record


# --------------------------------------------------------------------------- datasets


def store_dataset_reference(
    ref: str | Reference, data: Any = None, *, project: Project | None = None
) -> Profile:
    """Profile dataset version ``ref`` (``NAME/3``, or ``NAME`` for the latest) and store it
    as its reference, replacing any earlier one; return the profile.

    ``data`` defaults to the version's own files (read where they were registered if they
    are unchanged there, else restored from the artifact store); pass it when it is at hand
    (``keel data add`` passes the path it has just hashed).
    """
    from keel.tracking import dataset_version, open_project

    project = project or open_project()
    version = dataset_version(ref, project=project)
    if data is None:
        return _compute_dataset_profile(project, version)[0]
    what = f"dataset {Reference('dataset', version.name, version.version)}"
    prepared = prepare_reference(data, None, what=what)
    _save(project, "dataset", version.name, version.version, prepared)
    return prepared.profile


def dataset_reference(ref: str, *, project: Project | None = None) -> Profile | None:
    """The stored reference profile of dataset version ``ref``, or ``None``."""
    found = find_reference(f"data:{ref}", project=project)
    return None if found is None else found.profile


# --------------------------------------------------------------------------- compare


def is_stored_reference(text: str) -> bool:
    """Whether ``text`` names a stored reference (``model:...`` or ``data:...``) rather than
    a path (an existing file of that name wins)."""
    return prefix_kind(text) is not None and not Path(text).exists()


def parse_stored(text: str) -> Reference:
    """``model:REF`` or ``data:REF`` (:func:`keel.grammar.parse_reference`); a bare ``REF``
    is a model."""
    return parse_reference(text, default="model")


def find_reference(text: str, *, project: Project | None = None) -> StoredReference | None:
    """The reference ``text`` names (``model:NAME@ALIAS``, ``model:NAME/3``, ``data:NAME/3``;
    a bare ``NAME...`` is a model), or ``None`` when it has none. An unknown model, dataset
    or version is a :class:`UsageError`."""
    from keel.tracking import dataset_version, open_project

    project = project or open_project()
    ref = parse_stored(text)
    if ref.kind == "model":
        return _find_model(project, ref)
    version = dataset_version(ref, project=project)
    record = project.metadata.references.get("dataset", version.name, version.version)
    if record is None:
        return None
    profile_ = _read(project, record)
    return StoredReference("dataset", version.name, version.version, profile_, record)


def get_reference(text: str, *, project: Project | None = None) -> StoredReference:
    """The reference ``text`` names, like :func:`find_reference`, but a :class:`UsageError`
    saying how to store one when it has none."""
    found = find_reference(text, project=project)
    if found is None:
        named = parse_stored(text)
        raise UsageError(
            f"{named.kind} {named} has no reference profile.",
            hint=f"Store one: keel monitor reference set {named.qualified}"
            + (" TRAINING_DATA" if named.kind == "model" else ""),
        )
    return found


def set_reference(
    text: str,
    data: Any = None,
    *,
    contract: ContractLike | None = None,
    project: Project | None = None,
) -> StoredReference:
    """Store the reference profile of what ``text`` names (see :func:`find_reference`):
    :func:`store_model_reference` (``data`` required) or :func:`store_dataset_reference`."""
    from keel.tracking import open_project

    project = project or open_project()
    ref = parse_stored(text)
    if ref.kind == "model":
        if data is None:
            raise UsageError(
                f"model {ref} needs reference data to profile.",
                hint=f"keel monitor reference set {ref} TRAINING_DATA",
            )
        store_model_reference(str(ref), data, contract=contract, project=project)
    else:
        if contract is not None:
            raise UsageError(
                "a dataset's reference profile covers all its columns; contract= is for models.",
                hint="Leave the contract out.",
            )
        store_dataset_reference(ref, data, project=project)
    found = find_reference(text, project=project)
    assert found is not None  # just stored
    return found


def resolve_reference(text: str, *, project: Project | None = None) -> Profile:
    """The profile ``model:NAME@ALIAS``, ``model:NAME/3``, ``model:NAME``, ``data:NAME/3`` or
    ``data:NAME`` names; a :class:`UsageError` when there is none."""
    if prefix_kind(text) is None:
        raise UsageError(
            f"{text!r} does not name a stored reference profile.",
            hint="Write model:NAME@ALIAS, model:NAME/3, data:NAME/3 (or a data path).",
        )
    found = find_reference(text, project=project)
    if found is not None:
        return found.profile
    ref = parse_stored(text)
    if ref.kind == "model":
        hint = (
            f"Store one: keel monitor reference set {ref} TRAINING_DATA "
            "(or keel.register(..., reference=training_data))."
        )
    else:
        hint = f"Store one: keel monitor reference set {ref.qualified}"
    raise UsageError(f"{text} has no reference profile.", hint=hint)


# --------------------------------------------------------------------------- internals


def prepare_reference(data: Any, contract: Contract | None, *, what: str) -> PreparedReference:
    """Profile ``data`` on its own bins (``contract``'s columns only, by their declared kinds,
    when given), checking first that it has them; ``what`` names the reference's owner in
    messages."""
    present = list(_schema_of(data))
    columns = None if contract is None else list(contract.column_names)
    if columns is not None:
        missing = [c for c in columns if c not in present]
        if missing:
            raise UsageError(
                f"the reference data for {what} lacks column(s) {', '.join(missing)} of its "
                "input contract.",
                hint=f"It has: {', '.join(present) or 'no columns'}. Pass the data the model "
                "was trained on (its feature columns).",
            )
    found = profile_reference(data, columns=columns, categorical=_categorical(contract))
    if not found.columns:
        raise UsageError(
            f"the reference data for {what} has no column Keel can profile.",
            hint="Profiles cover numeric, temporal, text, categorical and boolean columns.",
        )
    return PreparedReference(found, _source(data))


def _categorical(contract: Contract | None) -> list[str] | None:
    """The columns a contract declares as categories or text: profiled by their levels
    whatever their storage (numeric and temporal ones are binned by value, as their
    storage already says)."""
    if contract is None:
        return None
    return [c.name for c in contract.columns if c.kind in ("categorical", "text")]


def with_outputs(
    prepared: PreparedReference, data: Any, project: Project, version: ModelVersion
) -> PreparedReference:
    """``prepared`` plus the profile of the model version's answers on ``data``
    (:func:`model_outputs`), so that monitoring measures prediction drift too. Left out for
    a version without an input contract (which columns it reads is unknown) and for a
    package that needs trusted loading (profiling must not unpickle anything)."""
    from keel.contracts import open_data as _lazy
    from keel.errors import KeelError
    from keel.registry import load

    try:
        model = load(f"{version.name}/{version.version}", project=project)
    except KeelError:  # needs trust
        return prepared
    if model.input_contract is None:
        return prepared
    frame = _lazy(data).select(list(prepared.profile.columns)).collect()
    answers = profile_reference(model_outputs(model, frame))
    columns = {**prepared.profile.columns, **answers.columns}
    return PreparedReference(Profile(columns=columns, rows=prepared.profile.rows), prepared.source)


MODEL_OUTPUTS = ("prediction", "score")  # the columns model_outputs profiles, as serving logs them


def model_outputs(model: KeelModel, frame: pl.DataFrame) -> pl.DataFrame:
    """What serving logs of ``model``'s answers on ``frame``: ``prediction`` (as text for a
    classifier, so its classes are categories) and, for a binary classifier, ``score`` (the
    probability of its second class)."""
    import polars as pl

    predicted = model.predict(frame)
    classes = model.classes
    if classes is None:
        return pl.DataFrame({"prediction": predicted})
    outputs = pl.DataFrame({"prediction": [str(p) for p in predicted.tolist()]})
    probabilities = model.predict_proba(frame) if len(classes) == 2 else None
    if probabilities is not None:
        outputs = outputs.with_columns(pl.Series("score", probabilities[:, 1], dtype=pl.Float64))
    return outputs


def _save(
    project: Project, subject: Subject, name: str, version: int, prepared: PreparedReference
) -> ReferenceRecord:
    from keel.registry import actor

    encoded = json.dumps(prepared.profile.to_dict(), sort_keys=True, allow_nan=False).encode()
    stored = project.artifacts.put_bytes(encoded)
    return project.metadata.references.put(
        subject,
        name,
        version,
        digest=stored.digest,
        rows=prepared.profile.rows,
        columns=list(prepared.profile.columns),
        actor=actor(),
        source=prepared.source,
    )


def _read(project: Project, record: ReferenceRecord) -> Profile:
    if not project.artifacts.exists(record.digest):
        again = (
            _data(record.name, record.version)
            if record.subject == "dataset"
            else f"{record.name}/{record.version} DATA"
        )
        raise InputError(
            f"the reference profile of {record.subject} {record.name} version "
            f"{record.version} ({record.digest[:12]}) is missing from the artifact store at "
            f"{project.artifacts.url}.",
            hint=f"Store it again: keel monitor reference set {again}",
        )
    return Profile.from_dict(json.loads(project.artifacts.get_bytes(record.digest)))


def _manifest(project: Project, version: ModelVersion) -> Manifest:
    import yaml

    from keel.models import Manifest

    text = project.artifacts.get_bytes(version.manifest).decode("utf-8")
    where = f"the manifest of model {version.name}/{version.version}"
    return Manifest.from_dict(yaml.safe_load(text), where=where)


def _training_dataset(
    project: Project, version: ModelVersion, columns: Sequence[str] | None
) -> DatasetVersion | None:
    """The one tabular dataset version the registering run read, if exactly one and it has
    the model's input ``columns``."""
    inputs: list[Any] = []
    if version.run_id is not None:
        try:
            run = project.metadata.get_run(version.run_id)
            inputs = list((run.fingerprint or {}).get("data") or [])
        except UsageError:  # the run was deleted: fall back on what the package recorded
            inputs = []
    if not inputs:
        inputs = list(_manifest(project, version).lineage.get("data") or [])
    tabular = []
    for item in inputs:
        try:
            found = project.metadata.get_dataset_version(str(item["name"]), int(item["version"]))
        except (UsageError, KeyError, TypeError, ValueError):
            continue
        if found.schema is not None:
            tabular.append(found)
    if len(tabular) != 1:
        return None
    schema = tabular[0].schema or {}
    return tabular[0] if columns is None or all(c in schema for c in columns) else None


def _dataset_record(project: Project, version: DatasetVersion) -> ReferenceRecord:
    """The version's reference record, its profile computed and stored first if need be."""
    record = project.metadata.references.get("dataset", version.name, version.version)
    return record if record is not None else _compute_dataset_profile(project, version)[1]


def _compute_dataset_profile(
    project: Project, version: DatasetVersion
) -> tuple[Profile, ReferenceRecord]:
    """Profile a dataset version's own files and store the result as its reference."""
    what = f"dataset {Reference('dataset', version.name, version.version)}"
    if version.schema is None:
        raise UsageError(
            f"{what} is not tabular data Keel reads, so it has no reference profile.",
            hint="Reference profiles are for Parquet (file or folder), CSV and NDJSON data.",
        )
    where = _unchanged_source(project, version)
    if where is not None:
        prepared = prepare_reference(where, None, what=what)
    elif version.stored:
        from keel.tracking import get_dataset

        with tempfile.TemporaryDirectory(prefix="keel-reference-") as scratch:
            ref = Reference("dataset", version.name, version.version)
            restored = get_dataset(ref, scratch, project=project)
            prepared = prepare_reference(restored, None, what=what)
    else:
        raise InputError(
            f"{what} was registered by reference only and the data at {version.uri} has "
            "changed or gone since.",
            hint=f"Store the reference from the right data: keel monitor reference set "
            f"{_data(version.name, version.version)} PATH",
        )
    prepared = PreparedReference(prepared.profile, _data(version.name, version.version))
    return prepared.profile, _save(project, "dataset", version.name, version.version, prepared)


def _unchanged_source(project: Project, version: DatasetVersion) -> Path | None:
    """Where the version was registered from, if its content there is still the same."""
    if version.uri is None or not Path(version.uri).exists():
        return None
    from keel.versioning import HashCache, hash_path

    cache = HashCache(project.config.state_dir / "cache")
    path = Path(version.uri)
    return path if hash_path(path, cache=cache).digest == version.digest else None


def _source(data: Any) -> str:
    if isinstance(data, str | os.PathLike):
        return str(Path(data).resolve())
    return f"{type(data).__module__.split('.')[0]} {type(data).__name__}"


def _data(name: str, version: int) -> str:
    """``data:NAME/3``: how a stored reference names a dataset version."""
    return Reference("dataset", name, version).qualified
