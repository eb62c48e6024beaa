"""MLflow interop, both ways, without an MLflow server: plain model directories.

:func:`export_mlflow` writes a registered version as an MLflow Model directory. A
scikit-learn, XGBoost, LightGBM or ONNX package becomes MLflow's own flavour of that name
(``keel.registry._mlflow_native``): it loads without Keel. Any other package (PyTorch, a
plain callable), or any package when asked for ``flavour="keel"``, becomes Keel's flavour::

    MLmodel            python_function flavour (loader: this module), signature, a keel flavour
    keel-model/        the Keel package, file for file as registered (keel-model.yaml and all)
    requirements.txt   the package's requirements (mlkeel, its frameworks, numpy), and mlflow
    python_env.yaml    conda.yaml: the same requirements, as MLflow writes them

``mlflow.pyfunc.load_model(DEST)`` loads that through :func:`_load_pyfunc`, which goes through
:func:`keel.models.load_model`: every file is checked against its recorded digest, so a
tampered export fails to load. ``predict`` takes the pandas frame MLflow passes and returns
what the Keel model's ``predict`` returns (labels for a classifier, MLflow's convention).
Writing it needs no MLflow; the signature's inputs come from the input contract.

:func:`import_mlflow` registers an MLflow model directory as the next version of a model:

- a directory Keel exported (``keel`` flavour): its package is registered as it is, verified;
- the ``sklearn`` flavour: the estimator is read (skops, or pickle/cloudpickle) and registered
  with :func:`keel.register`, which stores it with skops: safe from then on;
- the ``xgboost``, ``lightgbm`` and ``onnx`` flavours: the model is read from its data format
  with the framework's loader (a LightGBM scikit-learn model as a ``sklearn`` one), registered;
- only ``python_function``: the whole directory is kept in a pickled wrapper that loads it
  with ``mlflow.pyfunc.load_model`` (MLflow must be installed) and predicts on a frame with
  the signature's column names.

The contract is the ``contract.yaml`` a native export wrote beside ``MLmodel`` (checks and
all), else the MLflow signature's input columns. Safety: unpickling runs any
code the file names, and so does loading a pyfunc model, so importing a pickled sklearn model
or a pyfunc model needs ``trusted=True``. A skops file is read under Keel's own trust rule
(the types MLmodel lists as trusted are ignored: whoever wrote the file wrote that list too).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import json
import os
import pickle
import platform
import shutil
import tempfile
import uuid
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from keel.contracts import (
    ColumnSpec,
    Contract,
    ContractLike,
    as_contract,
    dtype_from_mlflow,
    read_contract,
)
from keel.errors import InputError, KeelError, MissingDependencyError, UsageError
from keel.grammar import check_name
from keel.models import (
    MANIFEST,
    KeelModel,
    Manifest,
    load_model,
    package_path,
    read_manifest,
    read_skops,
)
from keel.registry._mlflow_native import (
    CONTRACT,
    NATIVE_FLAVOURS,
    OUTPUT_CONTRACT,
    model_file,
    native_flavour,
    output_type,
    read_model,
    reads_data_format,
    signature_fields,
    write_native,
)
from keel.registry._registry import (
    ModelRejectedError,
    cache_folder,
    load,
    register,
    resolve,
    store_package,
)
from keel.store import ModelVersion, safe_join
from keel.tracking import Project, open_project

__all__ = ["FLAVOURS", "export_mlflow", "import_mlflow", "mlflow_flavour"]

MLMODEL = "MLmodel"
PACKAGE = "keel-model"  # the folder of an export that holds the Keel package
FLAVOURS = ("native", "keel")  # what export_mlflow can be asked to write

# What a column of each MLflow type is cast to before the pyfunc sees it (Keel hands floats).
_NUMPY = {
    "long": "int64",
    "integer": "int32",
    "double": "float64",
    "float": "float32",
    "boolean": "bool",
}


# --- export ----------------------------------------------------------------------------------


def export_mlflow(
    ref: str,
    dest: str | Path,
    *,
    project: Project | None = None,
    trusted: bool = False,
    flavour: str = "native",
) -> Path:
    """Write the version ``ref`` names (``NAME``, ``NAME/3``, ``NAME@ALIAS``) as an MLflow
    Model directory at ``dest`` (new, or an empty folder); return its path.

    ``flavour="native"`` (the default) writes a scikit-learn, XGBoost, LightGBM or ONNX
    package as MLflow's own flavour of that name, with MLflow's ``save_model`` (MLflow must
    be installed): it loads where MLflow and the framework are, without Keel. Other packages
    (PyTorch, plain callables), and every package with ``flavour="keel"``, get Keel's flavour:
    the Keel package inside, loaded through Keel (which must be installed where it is loaded),
    every file verified; writing it needs no MLflow. :func:`mlflow_flavour` says which.

    ``trusted=True`` is needed for a package that holds a pickle, as for :func:`keel.load`;
    MLflow later loads such an export without asking again (loading an MLflow model runs
    the code its MLmodel names anyway).
    """
    if flavour not in FLAVOURS:
        raise UsageError(
            f"cannot export with the flavour {flavour!r}.",
            hint="Use 'native' (MLflow's own flavour where one fits) or 'keel'.",
        )
    project = project or open_project()
    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} already exists and is not an empty folder.",
            hint="Export to a new folder: an MLflow model directory is written whole.",
        )
    version = resolve(ref, project=project)
    model = load(f"{version.name}/{version.version}", trusted=trusted, project=project)
    cached = cache_folder(project, version)
    native = mlflow_flavour(model.manifest.adapter, flavour=flavour)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if native != "keel":
            write_native(model, cached, staging, flavour=native, version=version)
        else:
            _write_keel(model, version, cached, staging, trusted=trusted)
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def mlflow_flavour(adapter: str, *, flavour: str = "native") -> str:
    """The MLflow flavour :func:`export_mlflow` writes for a package of ``adapter``:
    ``sklearn``, ``xgboost``, ``lightgbm`` or ``onnx`` (loads without Keel), else ``keel``."""
    found = native_flavour(adapter) if flavour == "native" else None
    return found or "keel"


def _write_keel(
    model: KeelModel, version: ModelVersion, cached: Path, staging: Path, *, trusted: bool
) -> None:
    _copy_package(cached, staging / PACKAGE, [*model.manifest.files, MANIFEST])
    load_model(staging / PACKAGE, trusted=trusted)  # the copy is what MLflow will read
    requirements = _requirements(model.manifest)
    python = model.manifest.python or platform.python_version()
    mlmodel = _mlmodel(model, version, python)
    _write_yaml(staging / MLMODEL, mlmodel)
    (staging / "requirements.txt").write_text("\n".join(requirements) + "\n", "utf-8")
    _write_yaml(staging / "python_env.yaml", _python_env(python))
    _write_yaml(staging / "conda.yaml", _conda_env(python, requirements))


def _copy_package(source: Path, dest: Path, names: list[str]) -> None:
    """Copy the files a manifest lists, and only them, with no link followed on either side."""
    for name in names:
        target = package_path(dest, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package_path(source, name), target)


def _mlmodel(model: KeelModel, version: ModelVersion, python: str) -> dict[str, Any]:
    flavors: dict[str, Any] = {
        "python_function": {
            "loader_module": __name__,
            "data": PACKAGE,
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "python_version": python,
        },
        "keel": {
            "package": PACKAGE,
            "model": version.name,
            "version": version.version,
            "manifest": version.manifest,
            "adapter": model.manifest.adapter,
        },
    }
    found: dict[str, Any] = {"artifact_path": None, "flavors": flavors}
    mlflow_version = _installed("mlflow", "mlflow-skinny")
    if mlflow_version is not None:
        found["mlflow_version"] = mlflow_version
    found["model_uuid"] = uuid.uuid4().hex
    found["utc_time_created"] = str(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    signature = signature_fields(model, output_type(model))
    if signature is not None:
        found["signature"] = signature
    return found


def _requirements(manifest: Manifest) -> list[str]:
    found = list(manifest.requirements)
    mlflow_version = _installed("mlflow", "mlflow-skinny")
    if mlflow_version is not None and not any(r.startswith("mlflow") for r in found):
        found.append(f"mlflow=={mlflow_version}")
    return found


def _python_env(python: str) -> dict[str, Any]:
    return {
        "python": python,
        "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": ["-r requirements.txt"],
    }


def _conda_env(python: str, requirements: list[str]) -> dict[str, Any]:
    return {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": requirements}],
        "name": "mlflow-env",
    }


def _installed(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


class _KeelPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps: a verified Keel model behind MLflow's call."""

    def __init__(self, model: KeelModel) -> None:
        self.keel_model = model

    def predict(self, model_input: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Predictions for the frame MLflow passes (labels for a classifier)."""
        return self.keel_model.predict(model_input)


def _load_pyfunc(data_path: str) -> _KeelPyfunc:
    """MLflow's loader hook: load the Keel package of an export, verifying every file."""
    folder = Path(data_path)
    return _KeelPyfunc(load_model(folder, trusted=read_manifest(folder).trusted))


# --- import ----------------------------------------------------------------------------------


def import_mlflow(
    source: str | Path,
    name: str,
    *,
    contract: ContractLike | None = None,
    trusted: bool = False,
    description: str | None = None,
    project: Project | None = None,
) -> ModelVersion:
    """Register the MLflow model directory ``source`` as the next version of ``name``.

    ``contract`` (:data:`keel.contracts.ContractLike`) defaults to the MLflow signature's
    input columns. ``trusted=True`` is needed for a pickled sklearn model and for a
    python_function-only model (loading either runs code from the directory). The version's
    description records that it was imported from MLflow, and from where.
    """
    check_name(name, "model")
    folder = Path(source)
    meta = _read_mlmodel(folder)
    flavors = meta.get("flavors")
    flavors = flavors if isinstance(flavors, dict) else {}
    given = None if contract is None else as_contract(contract)
    project = project or open_project()
    for flavour in ("keel", *NATIVE_FLAVOURS, "python_function"):
        conf = flavors.get(flavour)
        if not isinstance(conf, dict):
            continue
        where = f"{folder.resolve()}, {flavour} flavour"
        note = f"Imported from MLflow: {where}."
        if description:
            note = f"{description} (imported from MLflow: {where})"
        if flavour == "keel":
            return _import_keel(
                folder, conf, name=name, contract=given, trusted=trusted, note=note, project=project
            )
        specs = _input_specs(folder, meta)
        found = given or _saved_contract(folder, meta) or _contract(folder, name, specs)
        if flavour in NATIVE_FLAVOURS:
            outputs = _saved_contract(folder, meta, output=True)
            return _import_native(
                folder,
                flavour,
                conf,
                name=name,
                contracts=(found, outputs),
                trusted=trusted,
                note=note,
                project=project,
            )
        return _import_pyfunc(
            folder, specs, name=name, contract=found, trusted=trusted, note=note, project=project
        )
    raise UsageError(
        f"the MLflow model at {folder} has the flavour(s) {', '.join(flavors) or 'none'}; "
        "Keel imports sklearn, xgboost, lightgbm, onnx and python_function models.",
        hint="Save the model with one of those MLflow flavours, or register it directly "
        "with keel.register.",
    )


def _read_mlmodel(folder: Path) -> dict[str, Any]:
    file = _inside(folder, MLMODEL, where=f"the MLflow model directory {folder}")
    if not file.is_file():
        raise InputError(
            f"{folder} is not an MLflow model directory: it has no {MLMODEL} file.",
            hint="Point at the folder mlflow.<flavour>.save_model wrote (or a downloaded one).",
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{file} is not valid YAML: {exc}", hint="Restore the file.") from exc
    if not isinstance(data, dict):
        raise InputError(f"{file} is not an MLflow model description.", hint="Restore it.")
    return data


def _input_specs(folder: Path, meta: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The signature's named input columns, or ``None`` (no signature, tensors, no names)."""
    signature = meta.get("signature")
    raw = signature.get("inputs") if isinstance(signature, dict) else None
    if not raw:
        return None
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise InputError(
            f"the signature inputs in {folder / MLMODEL} are not valid JSON: {exc}.",
            hint="Restore the file, or save the model again with a signature.",
        ) from exc
    if not isinstance(specs, list) or not specs:
        return None
    if any(not isinstance(s, dict) or s.get("type") == "tensor" or "name" not in s for s in specs):
        return None
    return specs


def _saved_contract(
    folder: Path, meta: Mapping[str, Any], *, output: bool = False
) -> Contract | None:
    """The full input (or output) contract a native export wrote beside MLmodel (checks
    included), or ``None``."""
    metadata = meta.get("metadata")
    key, default = ("output_contract", OUTPUT_CONTRACT) if output else ("contract", CONTRACT)
    listed = metadata.get(key) if isinstance(metadata, dict) else None
    file = _inside(folder, listed or default)
    if listed is None and not file.is_file():
        return None
    return read_contract(file)


def _contract(folder: Path, name: str, specs: list[dict[str, Any]] | None) -> Contract | None:
    if specs is None:
        return None
    columns = []
    for spec in specs:
        dtype = dtype_from_mlflow(str(spec.get("type")))
        if dtype is None:
            raise UsageError(
                f"input column {spec['name']!r} of the MLflow model at {folder} has the MLflow "
                f"type {spec.get('type')!r}, which a Keel contract cannot describe.",
                hint="Pass contract=... with the columns the model reads.",
            )
        nullable = not spec.get("required", True)
        columns.append(ColumnSpec(name=str(spec["name"]), dtype=dtype, nullable=nullable))
    return Contract(
        name=name, columns=tuple(columns), description="From the MLflow model signature."
    )


def _inside(folder: Path, relative: object, *, where: str | None = None) -> Path:
    """A file of the MLflow model directory (by the path rule: no '..', no link followed)."""
    where = where or str(folder / MLMODEL)
    return safe_join(folder, relative, where=where, what="MLflow model directory")


def _import_keel(
    folder: Path,
    conf: Mapping[str, Any],
    *,
    name: str,
    contract: Contract | None,
    trusted: bool,
    note: str,
    project: Project,
) -> ModelVersion:
    """A directory Keel exported: register its package as it is (verified, not re-saved)."""
    if contract is not None:
        raise UsageError(
            f"the MLflow model at {folder} was exported by Keel and brings its own contract.",
            hint="Import it without contract=; its package is registered unchanged.",
        )
    package = _inside(folder, conf.get("package", PACKAGE))
    manifest = load_model(package, trusted=trusted).manifest  # every file checked
    return store_package(package, name, manifest, description=note, project=project)


def _import_native(
    folder: Path,
    flavour: str,
    conf: Mapping[str, Any],
    *,
    name: str,
    contracts: tuple[Contract | None, Contract | None],
    trusted: bool,
    note: str,
    project: Project,
) -> ModelVersion:
    """A native flavour: the model read from its file, registered as any model is."""
    model = _read_native(folder, flavour, conf, trusted=trusted)
    contract = _fitted_order(contracts[0], model)
    given: dict[str, Any] = {"contract": contract, "output_contract": contracts[1]}
    try:  # a safe format (skops, UBJSON, LightGBM's text, ONNX): no trust needed later
        return register(model, name, description=note, project=project, **given)
    except ModelRejectedError:
        raise
    except UsageError:
        if not trusted:
            raise
    # types skops does not trust, or no safe format: stored as the caller vouched
    return register(model, name, description=note, trusted=True, project=project, **given)


def _read_native(folder: Path, flavour: str, conf: Mapping[str, Any], *, trusted: bool) -> Any:
    key, default = ("pickled_model", "model.pkl") if flavour == "sklearn" else ("data", None)
    file = _inside(folder, conf.get(key, default) or model_file(flavour))
    if not file.is_file():
        raise InputError(
            f"the MLflow {flavour} model at {folder} lacks its model file {file.name}.",
            hint="The directory is incomplete; copy or download it again.",
        )
    if flavour == "sklearn" or not reads_data_format(flavour, conf):
        return _read_estimator(folder, flavour, file, conf, trusted=trusted)
    return read_model(flavour, file, conf)


def _read_estimator(
    folder: Path, flavour: str, file: Path, conf: Mapping[str, Any], *, trusted: bool
) -> Any:
    """A scikit-learn style estimator (LightGBM's too): skops, or a pickle with trust."""
    kind = conf.get("serialization_format", "cloudpickle")
    if kind == "skops":
        return read_skops(file, trusted=trusted)
    if kind in ("pickle", "cloudpickle"):
        if not trusted:
            raise UsageError(
                f"an MLflow {flavour} model is a pickle; pass trusted=True (--trusted) if you "
                "trust its source.",
                hint=f"Unpickling {file} can run any code. Once imported, Keel stores the "
                "model in a safe format, so later loads need no trust.",
            )
        return _unpickle(file)
    raise InputError(
        f"the MLflow {flavour} model at {folder} is stored as {kind!r}, which Keel cannot read.",
        hint="Save it with serialization_format='skops' (or pickle/cloudpickle).",
    )


def _unpickle(file: Path) -> Any:
    try:
        with file.open("rb") as f:
            return pickle.load(f)  # the caller vouched for the file (trusted=True)
    except Exception as exc:  # a pickle can raise anything, ImportError most often
        raise InputError(
            f"{file} could not be unpickled: {type(exc).__name__}: {exc}.",
            hint="It may need a package that is missing: see the model's requirements.txt.",
        ) from exc


def _fitted_order(contract: Contract | None, estimator: Any) -> Contract | None:
    """The contract in the column order the estimator was fitted on (Keel feeds by position)."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if contract is None or fitted is None:
        return contract
    names = tuple(str(n) for n in fitted)
    if names == contract.column_names:
        return contract
    if set(names) != set(contract.column_names):
        raise UsageError(
            f"the estimator was fitted on the columns {', '.join(names)}, but the contract "
            f"names {', '.join(contract.column_names)}.",
            hint="Pass contract=... with the columns the estimator reads.",
        )
    return replace(contract, columns=tuple(contract.column(n) for n in names))


def _import_pyfunc(
    folder: Path,
    specs: list[dict[str, Any]] | None,
    *,
    name: str,
    contract: Contract | None,
    trusted: bool,
    note: str,
    project: Project,
) -> ModelVersion:
    if not trusted:
        raise UsageError(
            "an MLflow python_function model runs its own code when it is loaded; pass "
            "trusted=True (--trusted) if you trust its source.",
            hint=f"Keel keeps {folder} whole and loads it with mlflow.pyfunc.load_model.",
        )
    types = {str(s["name"]): str(s.get("type")) for s in specs or []}
    columns = contract.column_names if contract else tuple(types) or None
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        checked = _inside(folder, relative, where=f"the MLflow model directory {folder}")
        if checked.is_file():  # a symbolic link (to a file or folder) was refused above
            files[relative] = checked.read_bytes()
    wrapper = _MlflowPyfunc(files, columns, types)
    wrapper.pyfunc()  # fails here, with the reason, if MLflow cannot load it
    return register(
        wrapper, name, contract=contract, description=note, trusted=True, project=project
    )


class _MlflowPyfunc:
    """An MLflow python_function model kept whole (its files) and loaded with MLflow on use.

    Pickling keeps the files, never the loaded model, so a registered version does not
    depend on how the model's own objects pickle.
    """

    def __init__(
        self,
        files: Mapping[str, bytes],
        columns: tuple[str, ...] | None,
        types: Mapping[str, str],
    ) -> None:
        self.files = dict(files)
        self.columns = columns
        self.types = dict(types)
        self._loaded: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"files": self.files, "columns": self.columns, "types": self.types}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.files = dict(state["files"])
        self.columns = state["columns"]
        self.types = dict(state["types"])
        self._loaded = None

    def pyfunc(self) -> Any:
        """The loaded ``mlflow.pyfunc.PyFuncModel`` (written to a private folder once)."""
        if self._loaded is not None:
            return self._loaded
        mlflow_pyfunc = _mlflow_pyfunc()
        folder = Path(tempfile.mkdtemp(prefix="keel-mlflow-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        for relative, data in self.files.items():
            path = safe_join(folder, relative, where="a stored MLflow python_function model")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            self._loaded = mlflow_pyfunc.load_model(str(folder))
        except KeelError:
            raise
        except Exception as exc:  # MLflow and the model's own loader raise many kinds
            raise InputError(
                f"MLflow could not load the python_function model: {type(exc).__name__}: {exc}",
                hint="Install the model's requirements (its requirements.txt) and try again.",
            ) from exc
        return self._loaded

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803 (X is the name every ML library uses)
        data = X
        if isinstance(X, np.ndarray) and self.columns is not None:
            pd = importlib.import_module("pandas")  # MLflow passes and expects pandas
            rows = X.reshape(1, -1) if X.ndim == 1 else X
            data = pd.DataFrame(
                {
                    name: rows[:, i].astype(_NUMPY.get(self.types.get(name, ""), rows.dtype))
                    for i, name in enumerate(self.columns)
                }
            )
        out = np.asarray(self.pyfunc().predict(data))
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out


def _mlflow_pyfunc() -> Any:
    with warnings.catch_warnings():  # MLflow warns about its own type hints when imported
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module("mlflow.pyfunc")
        except ImportError as exc:
            raise MissingDependencyError(
                "mlflow", extra="mlflow", purpose="Loading an MLflow python_function model"
            ) from exc
