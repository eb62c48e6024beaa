"""Model packages: a folder holding the model in a safe format and ``keel-model.yaml``.

The manifest records what is needed to trust and use the model later: the adapter and the
framework versions it was saved with, the input (and output) contract, requirements,
lineage (run, data versions, code fingerprint), metrics, and the BLAKE3 digest and size of
every file. Loading verifies every file against its digest (a mismatch is an error naming
the file) and warns, naming both versions, when a framework differs from the recorded one.

:class:`KeelModel` wraps the native model by composition: ``predict`` and ``predict_proba``
take a dataframe (its contract columns, in contract order) or a 2-D array, whatever the
framework. User models never inherit from a Keel class.
"""

from __future__ import annotations

import datetime as dt
import inspect
import platform
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from keel._version import __version__
from keel.contracts import (
    Contract,
    ContractLike,
    DType,
    as_contract,
    contract_from_dict,
    contract_to_dict,
)
from keel.errors import InputError, UsageError
from keel.models._adapters import Adapter, adapter_for, get_adapter
from keel.store import UnsafePathError, check_relative_path, hash_file, safe_join

__all__ = [
    "MANIFEST",
    "KeelModel",
    "Manifest",
    "ModelPackageError",
    "ModelVersionWarning",
    "load_model",
    "package_path",
    "sample_rows",
    "save_model",
]

MANIFEST = "keel-model.yaml"
# LibYAML's safe loader and dumper when PyYAML was built with it: 8x faster on a manifest
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
FORMAT = 1


class ModelPackageError(InputError):
    """A model package is incomplete or its files do not match their recorded digests."""


class ModelVersionWarning(UserWarning):
    """A package was saved with another version of its framework than the one installed."""


@dataclass(frozen=True)
class Manifest:
    """The contents of ``keel-model.yaml``; its contracts are parsed once, when it is read."""

    adapter: str
    files: Mapping[str, Mapping[str, Any]]  # relative path -> {"digest", "size"}
    frameworks: Mapping[str, str] = field(default_factory=dict)
    task: str | None = None
    classes: list[Any] | None = None
    input_contract: Contract | None = None
    output_contract: Contract | None = None
    requirements: list[str] = field(default_factory=list)
    lineage: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    trusted: bool = False  # the files need trusted loading (pickle)
    python: str = ""
    created_at: str = ""
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "adapter": self.adapter,
            "task": self.task,
            "classes": self.classes,
            "frameworks": dict(self.frameworks),
            "python": self.python,
            "requirements": list(self.requirements),
            "trusted": self.trusted,
            "input_contract": _contract_dict(self.input_contract),
            "output_contract": _contract_dict(self.output_contract),
            "lineage": dict(self.lineage),
            "metrics": dict(self.metrics),
            "files": {k: dict(v) for k, v in self.files.items()},
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> Manifest:
        if not isinstance(data, Mapping) or "adapter" not in data or "files" not in data:
            raise ModelPackageError(
                f"{where} is not a Keel model manifest (no adapter or files).",
                hint="Point at a folder written by keel.models.save_model or keel.register.",
            )
        if data.get("format", FORMAT) > FORMAT:
            raise ModelPackageError(
                f"{where} has manifest format {data['format']}; this Keel reads up to {FORMAT}.",
                hint="Upgrade keel (pip install -U mlkeel).",
            )
        files = data["files"]
        if not isinstance(files, Mapping) or not all(
            isinstance(m, Mapping) for m in files.values()
        ):
            raise ModelPackageError(
                f"{where}: 'files' is not a mapping of path to digest and size.",
                hint="Do not use this package: it was altered, or made by another tool.",
            )
        for name in files:
            try:
                check_relative_path(name, where=where, what="model package")
            except UnsafePathError as exc:
                raise ModelPackageError(exc.message, hint=exc.hint) from exc
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        for key in ("input_contract", "output_contract"):
            values[key] = _read_contract(values.get(key), f"{where}, {key}")
        return cls(**values)


class KeelModel:
    """A loaded model: the native object, its adapter and its manifest, one interface."""

    def __init__(self, native: Any, adapter: Adapter, manifest: Manifest) -> None:
        self.native = native
        self.adapter = adapter
        self.manifest = manifest
        self.input_contract: Contract | None = manifest.input_contract

    @property
    def columns(self) -> tuple[str, ...] | None:
        """The input columns, in the order the model reads them (from the input contract)."""
        return self.input_contract.column_names if self.input_contract else None

    @property
    def classes(self) -> list[Any] | None:
        return self.manifest.classes

    def features(self, data: Any) -> np.ndarray:
        """``data`` as the 2-D float array the model reads (contract columns, in order)."""
        return self.rows_as_array(data, self.input_contract)

    @staticmethod
    def rows_as_array(data: Any, contract: Contract | None) -> np.ndarray:
        """``data`` (a frame, or an array as it is) as a 2-D float array of the contract's
        columns in contract order (all columns without a contract)."""
        if isinstance(data, np.ndarray):
            return data if data.ndim == 2 else data.reshape(1, -1)
        import narwhals.stable.v2 as nw

        try:
            frame = nw.from_native(data, eager_only=True)
        except TypeError as exc:
            raise UsageError(
                f"cannot predict on a {type(data).__name__}.",
                hint="Pass a Polars, pandas or PyArrow frame, or a 2-D NumPy array.",
            ) from exc
        names = contract.column_names if contract else tuple(frame.columns)
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise UsageError(
                f"the data lacks the model's input column(s) {', '.join(missing)}.",
                hint=f"The model reads: {', '.join(names)}.",
            )
        try:
            return np.asarray(frame.select(list(names)).to_numpy(), dtype=float)
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"the input columns cannot be read as numbers: {exc}.",
                hint="Encode text and categories as numbers before the model (a step, say).",
            ) from exc

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self.adapter.predict(self.native, self.features(data)))

    def predict_proba(self, data: Any) -> np.ndarray | None:
        found = self.adapter.predict_proba(self.native, self.features(data))
        return None if found is None else np.asarray(found)

    def __repr__(self) -> str:
        return f"<KeelModel {self.manifest.adapter} {type(self.native).__name__}>"


def save_model(
    model: Any,
    path: str | Path,
    *,
    contract: ContractLike | None = None,
    output_contract: ContractLike | None = None,
    trusted: bool = False,
    lineage: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    environment: Mapping[str, str] | None = None,
) -> Manifest:
    """Write ``model`` as a package in the folder ``path`` (created; must be empty).

    ``contract`` (:data:`keel.contracts.ContractLike`) names the input columns;
    ``trusted=True`` allows pickle for models no safe format can hold. ``environment``
    (installed distributions) is taken once per process when not given.
    """
    inputs = None if contract is None else as_contract(contract)
    outputs = (
        None if output_contract is None else as_contract(output_contract, what="output_contract")
    )
    folder = Path(path)
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty.", hint="Save a model package to a new folder.")
    folder.mkdir(parents=True, exist_ok=True)
    adapter = adapter_for(model)
    options: dict[str, Any] = {}
    exports = "example" in inspect.signature(adapter.save).parameters  # they trace a sample
    if exports and inputs is not None:
        options["example"] = KeelModel.rows_as_array(sample_rows(inputs), inputs)
    written = adapter.save(model, folder, trusted=trusted, **options)
    frameworks = adapter.frameworks()
    installed = environment if environment is not None else _environment()
    requirements = sorted(
        {f"mlkeel=={__version__}", *(f"{d}=={v}" for d, v in frameworks.items())}
        | ({f"numpy=={installed['numpy']}"} if "numpy" in installed else set())
    )
    classes = adapter.classes(model)
    manifest = Manifest(
        adapter=adapter.name,
        files={
            name: {"digest": hash_file(folder / name), "size": (folder / name).stat().st_size}
            for name in sorted(written)
        },
        frameworks=frameworks,
        task=("classification" if classes is not None else "regression")
        if adapter.name != "callable"
        else None,
        classes=[_plain(c) for c in classes] if classes is not None else None,
        input_contract=inputs,
        output_contract=outputs,
        requirements=requirements,
        lineage=dict(lineage or {}),
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        trusted=trusted,
        python=platform.python_version(),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    (folder / MANIFEST).write_text(
        yaml.dump(manifest.to_dict(), Dumper=_DUMPER, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return manifest


def package_path(folder: str | Path, name: object, *, where: str | None = None) -> Path:
    """Where the file ``name`` of the package in ``folder`` is, by the path rule of
    :func:`keel.store.safe_join` (relative, no ``..``, no symbolic link on the way); a name
    that breaks it raises :class:`ModelPackageError` naming it."""
    try:
        return safe_join(
            folder, name, where=where or f"model package {folder}", what="model package"
        )
    except UnsafePathError as exc:
        raise ModelPackageError(exc.message, hint=exc.hint) from exc


def read_manifest(path: str | Path) -> Manifest:
    """The manifest (``keel-model.yaml``) of the model package at ``path``, without loading
    the model; a missing or malformed one raises :class:`ModelPackageError`."""
    folder = Path(path)
    file = package_path(folder, MANIFEST)
    if not file.is_file():
        raise ModelPackageError(
            f"{folder} is not a model package: it has no {MANIFEST}.",
            hint="Point at a folder written by keel.models.save_model or keel.register.",
        )
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ModelPackageError(f"{file} is not valid YAML: {exc}", hint="Restore it.") from exc
    return Manifest.from_dict(data, where=str(file))


def load_model(path: str | Path, *, trusted: bool = False) -> KeelModel:
    """Load a model package, verifying every file against its recorded digest."""
    folder = Path(path)
    manifest = read_manifest(folder)
    for name, meta in manifest.files.items():
        file = package_path(folder, name)
        if not file.is_file():
            raise ModelPackageError(
                f"model package {folder} is missing its file {name}.",
                hint="The package is incomplete; restore it from the registry.",
            )
        if hash_file(file) != meta.get("digest"):
            raise ModelPackageError(
                f"file {name} of model package {folder} does not match its recorded digest: "
                "it was modified or corrupted after the package was written.",
                hint="Do not use it; restore the package from the registry (keel.load).",
            )
    if manifest.trusted and not trusted:
        raise UsageError(
            f"model package {folder} holds pickled code and can only be loaded with trusted=True.",
            hint="Load it with trusted=True only if you trust whoever wrote it.",
        )
    adapter = get_adapter(manifest.adapter)
    current = adapter.frameworks()
    for name, version in manifest.frameworks.items():
        now = current.get(name)
        if now is not None and now != version:
            warnings.warn(
                f"model package {folder} was saved with {name} {version}; this environment "
                f"has {name} {now}. Predictions may differ.",
                ModelVersionWarning,
                stacklevel=2,
            )
    native = adapter.load(folder, sorted(manifest.files), trusted=trusted)
    return KeelModel(native, adapter, manifest)


def sample_rows(contract: Contract, rows: int = 8) -> Any:
    """Contract-shaped data: ``rows`` rows of values every column's constraints accept."""
    import polars as pl

    data: dict[str, list[Any]] = {}
    for column in contract.columns:
        data[column.name] = [_value(column, i) for i in range(rows)]
    return pl.DataFrame(data)


def _value(column: Any, i: int) -> Any:
    constraints = column.constraints()
    allowed = constraints.get("isin")
    if allowed:
        return list(allowed)[i % len(allowed)]
    low = constraints.get("ge", constraints.get("gt"))
    high = constraints.get("le", constraints.get("lt"))
    if column.dtype in (DType.INT, DType.FLOAT, DType.DECIMAL):
        lo = float(low) if low is not None else 0.0
        hi = float(high) if high is not None else lo + 10.0
        value = lo + (hi - lo) * (i + 1) / 10
        return round(value) if column.dtype == DType.INT else value
    if column.dtype == DType.BOOL:
        return i % 2 == 0
    if column.dtype == DType.DATE:
        return dt.date(2024, 1, 1) + dt.timedelta(days=i)
    if column.dtype == DType.DATETIME:
        return dt.datetime(2024, 1, 1) + dt.timedelta(hours=i)
    return f"value{i}"


def _contract_dict(contract: Contract | None) -> dict[str, Any] | None:
    return contract_to_dict(contract) if contract is not None else None


def _read_contract(data: Any, where: str) -> Contract | None:
    if not data:
        return None
    if not isinstance(data, Mapping):
        raise ModelPackageError(
            f"{where} is not a contract (a mapping), got {type(data).__name__}.",
            hint="Do not use this package: it was altered, or made by another tool.",
        )
    return contract_from_dict(dict(data))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _environment() -> dict[str, str]:
    from keel.versioning import site_index

    return {k.lower(): v for k, v in site_index().versions.items()}
