"""Native MLflow flavours: a registered version written by MLflow's own ``save_model``.

A scikit-learn, XGBoost, LightGBM or ONNX package is exported as MLflow's ``sklearn``,
``xgboost``, ``lightgbm`` or ``onnx`` flavour, so ``mlflow.pyfunc.load_model`` loads it where
MLflow and the framework are installed and Keel is not. What Keel adds to what MLflow writes:

- the signature: input columns (names, MLflow types, ``required`` unless nullable) from the
  input contract, through the contract type table (:func:`keel.contracts.type_map`); the
  output from the task (labels for a classifier, a number for a regressor);
- an input example, a few rows every column's constraints accept, when the contract's
  columns are all numbers or booleans (what the frameworks read);
- requirements pinned to the installed versions: MLflow and the framework, nothing else (no
  requirement inference, which would start a subprocess);
- ``contract.yaml`` (and ``output_contract.yaml``): the full contracts, checks included, that
  :func:`keel.registry.import_mlflow` reads back; MLmodel's ``metadata`` names the source
  version, the task and the class labels.

What ``predict`` returns is what the flavour's own pyfunc returns: the estimator's ``predict``
(labels) for scikit-learn and XGBoost's scikit-learn classes; for a booster (a LightGBM
package is always one, and a raw ``xgboost.Booster``) the booster's output, probabilities
for a classifier; for ONNX a frame with one column per graph output.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from keel.contracts import DType, dump_yaml, type_map
from keel.errors import InputError, MissingDependencyError, UsageError
from keel.models import XGBOOST_CLASSES, KeelModel, package_path, sample_rows
from keel.store import ModelVersion, safe_join

__all__ = [
    "CONTRACT",
    "NATIVE_FLAVOURS",
    "OUTPUT_CONTRACT",
    "model_file",
    "native_flavour",
    "output_type",
    "read_model",
    "reads_data_format",
    "signature_fields",
    "write_native",
]

CONTRACT = "contract.yaml"  # the input contract, beside MLmodel
OUTPUT_CONTRACT = "output_contract.yaml"

# The MLflow flavour written for the packages of each Keel adapter (the others: Keel's own).
_NATIVE = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "onnx": "onnx"}
NATIVE_FLAVOURS = tuple(_NATIVE.values())
_EXAMPLE_TYPES = (DType.INT, DType.FLOAT, DType.BOOL)


def native_flavour(adapter: str) -> str | None:
    """The native MLflow flavour written for a package of ``adapter``, or ``None``."""
    return _NATIVE.get(adapter)


def write_native(
    model: KeelModel, package: Path, dest: Path, *, flavour: str, version: ModelVersion
) -> None:
    """Write ``model`` (loaded from the package folder ``package``) into the new folder
    ``dest`` with ``mlflow.<flavour>.save_model``."""
    module = _mlflow_module(flavour)
    if flavour == "sklearn" and not hasattr(module, "SERIALIZATION_FORMAT_SKOPS"):
        raise UsageError(
            f"the installed MLflow ({_installed_mlflow() or 'unknown version'}) writes "
            "scikit-learn models only as pickles; Keel exports them with skops, so that "
            "loading one runs no code of it.",
            hint="Upgrade MLflow (pip install -U 'mlkeel[mlflow]'), or export with "
            "--flavour keel (flavour='keel').",
        )
    signature = _signature(model, flavour)
    common: dict[str, Any] = {
        "signature": signature,
        "input_example": _example(model),
        "pip_requirements": _requirements(model),
        "metadata": _metadata(model, version),
    }
    with warnings.catch_warnings():  # MLflow's advice (type hints, pickle) is not the user's
        warnings.simplefilter("ignore")
        if flavour == "sklearn":
            module.save_model(
                _named_sklearn(model),
                str(dest),
                serialization_format="skops",
                skops_trusted_types=_skops_types(package, model),
                **common,
            )
        elif flavour == "xgboost":
            module.save_model(_named_xgboost(model), str(dest), model_format="ubj", **common)
        elif flavour == "lightgbm":
            module.save_model(model.native, str(dest), **common)
        else:
            onnx = importlib.import_module("onnx")
            proto = onnx.load(str(package_path(package, "model.onnx")))
            module.save_model(
                proto,
                str(dest),
                onnx_execution_providers=["CPUExecutionProvider"],  # as Keel runs it
                save_as_external_data=False,  # one file, as in the Keel package
                **common,
            )
    if model.input_contract is not None:
        (dest / CONTRACT).write_text(dump_yaml(model.input_contract), encoding="utf-8")
    if model.manifest.output_contract is not None:
        text = dump_yaml(model.manifest.output_contract)
        (dest / OUTPUT_CONTRACT).write_text(text, encoding="utf-8")


def _mlflow_module(flavour: str) -> Any:
    with warnings.catch_warnings():  # MLflow warns about its own type hints when imported
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(f"mlflow.{flavour}")
        except ImportError as exc:
            raise MissingDependencyError(
                "mlflow",
                extra="mlflow",
                purpose=f"Exporting a model as MLflow's {flavour} flavour",
            ) from exc


def output_type(model: KeelModel) -> str | None:
    """The MLflow type of what the Keel model's ``predict`` returns (labels or a number)."""
    manifest = model.manifest
    if manifest.task == "regression":
        return "double"
    classes = manifest.classes or []
    if manifest.task != "classification" or not classes:
        return None
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "long"
    if all(isinstance(c, str) for c in classes):
        return "string"
    return "double" if all(isinstance(c, float) for c in classes) else None


def _booster(model: KeelModel) -> bool:
    return type(model.native).__name__ == "Booster"


def _native_output(model: KeelModel, flavour: str) -> str | None:
    """The MLflow type of what the native flavour's pyfunc returns, where it is one column."""
    if flavour == "onnx":
        return None  # a frame, one column per graph output
    if not _booster(model) or model.manifest.task == "regression":
        return output_type(model)
    classes = model.manifest.classes or []
    return "double" if len(classes) == 2 else None  # P(class 1); one column per class


def signature_fields(model: KeelModel, output: str | None) -> dict[str, Any] | None:
    """MLflow's column-based signature as MLmodel holds it: the inputs from the input contract
    (a column is required unless nullable), ``output`` the type of the one output column."""
    contract = model.input_contract
    if contract is None:
        return None
    inputs = [
        {"type": type_map(c.dtype).mlflow, "name": c.name, "required": not c.nullable}
        for c in contract.columns
    ]
    outputs = None if output is None else json.dumps([{"type": output, "required": True}])
    return {"inputs": json.dumps(inputs), "outputs": outputs, "params": None}


def _signature(model: KeelModel, flavour: str) -> Any:
    fields = signature_fields(model, _native_output(model, flavour))
    if fields is None:
        return None
    return importlib.import_module("mlflow.models").ModelSignature.from_dict(fields)


def _example(model: KeelModel) -> Any:
    """A few rows the contract accepts, when its columns are what the frameworks read."""
    contract = model.input_contract
    if contract is None or any(c.dtype not in _EXAMPLE_TYPES for c in contract.columns):
        return None
    pandas = importlib.import_module("pandas")  # MLflow's own dependency
    return pandas.DataFrame(sample_rows(contract, rows=3).to_dict(as_series=False))


def _requirements(model: KeelModel) -> list[str]:
    """MLflow and the framework, pinned to the installed versions."""
    found = [f"{name}=={version}" for name, version in model.adapter.frameworks().items()]
    mlflow = _installed_mlflow()
    return found if mlflow is None else [mlflow, *found]


def _installed_mlflow() -> str | None:
    """``mlflow==X`` or ``mlflow-skinny==X``: the distribution installed here, pinned."""
    for name in ("mlflow", "mlflow-skinny"):
        try:
            return f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _metadata(model: KeelModel, version: ModelVersion) -> dict[str, Any]:
    found: dict[str, Any] = {"source": f"{version.name}/{version.version}"}
    if model.manifest.task is not None:
        found["task"] = model.manifest.task
    if model.classes is not None:
        found["classes"] = list(model.classes)
    if model.input_contract is not None:
        found["contract"] = CONTRACT
    if model.manifest.output_contract is not None:
        found["output_contract"] = OUTPUT_CONTRACT
    return found


def _skops_types(package: Path, model: KeelModel) -> list[str]:
    """The types of the estimator that skops does not trust by itself: Keel loaded it, under
    its own trust rule, so MLflow is told to trust them too."""
    sio = importlib.import_module("skops.io")
    return list(sio.get_untrusted_types(file=package_path(package, "model.skops")))


def _named_sklearn(model: KeelModel) -> Any:
    """The estimator, with the contract's column names as the feature names of one fitted on
    an array: scikit-learn then checks the frame MLflow hands it by name, in contract order,
    instead of warning on every call that it was fitted without names."""
    native = model.native
    columns = model.columns
    first = native
    while hasattr(first, "steps"):  # a pipeline's feature names are its first step's
        first = first.steps[0][1]
    fitted = getattr(first, "n_features_in_", None)
    if columns is not None and fitted == len(columns) and not hasattr(first, "feature_names_in_"):
        first.feature_names_in_ = np.asarray(columns, dtype=object)
    return native


def _named_xgboost(model: KeelModel) -> Any:
    """The XGBoost model with the contract's column names as its feature names, so XGBoost
    checks the frame MLflow hands it by name (Keel feeds by position, in contract order)."""
    native = model.native
    booster = native if _booster(model) else native.get_booster()
    columns = model.columns
    if columns is not None and booster.num_features() == len(columns):
        booster.feature_names = list(columns)
    return native


# --- reading a native flavour back (keel.registry.import_mlflow) ------------------------------


def model_file(flavour: str) -> str:
    """The model file MLflow's ``save_model`` names by default for ``flavour``."""
    return {"xgboost": "model.xgb", "lightgbm": "model.lgb", "onnx": "model.onnx"}.get(
        flavour, "model.pkl"
    )


def reads_data_format(flavour: str, conf: Any) -> bool:
    """Whether the flavour's file is a framework's data format (no pickle, no skops): always
    for xgboost and onnx, for lightgbm when it holds a booster (its scikit-learn classes are
    stored as scikit-learn estimators are)."""
    if flavour == "lightgbm":
        return str(conf.get("model_class", "lightgbm.basic.Booster")).endswith(".Booster")
    return flavour in ("xgboost", "onnx")


def read_model(flavour: str, file: Path, conf: Any) -> Any:
    """The model in ``file``, read with the framework's own loader, running no code of it."""
    purpose = f"Importing an MLflow {flavour} model"
    if flavour == "xgboost":
        xgb = _framework("xgboost", package="xgboost", purpose=purpose)
        named = str(conf.get("model_class", "xgboost.core.Booster"))
        module, _, short = named.rpartition(".")
        if not module.startswith("xgboost") or short not in XGBOOST_CLASSES:
            raise InputError(
                f"{file.parent / 'MLmodel'} names the XGBoost class {named!r}, which Keel "
                f"cannot rebuild; expected one of {', '.join(XGBOOST_CLASSES)}.",
                hint="Save the model with mlflow.xgboost from one of those classes.",
            )
        model = getattr(xgb, short)()
        model.load_model(str(file))
        return model
    if flavour == "lightgbm":
        lgb = _framework("lightgbm", package="lightgbm", purpose=purpose)
        return lgb.Booster(model_file=str(file))
    onnx = _framework("onnx", package="onnx", purpose=purpose)
    try:
        proto = onnx.load(str(file), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and onnx's own, without importing them
        raise InputError(
            f"{file} is not a readable ONNX model: {exc}.", hint="Restore the file."
        ) from exc
    _load_external_data(onnx, proto, file)
    return proto


def _load_external_data(onnx: Any, proto: Any, file: Path) -> None:
    """Tensors kept in other files (MLflow's default for large ones), each path checked by
    Keel's path rule first: inside the model's folder, no '..', no symbolic link."""
    helper = importlib.import_module("onnx.external_data_helper")
    tensors = [t for t in _tensors(proto.graph) if helper.uses_external_data(t)]
    for tensor in tensors:
        location = next((e.value for e in tensor.external_data if e.key == "location"), None)
        safe_join(file.parent, location, where=f"the ONNX model {file}", what="MLflow model")
    if tensors:
        helper.load_external_data_for_model(proto, str(file.parent))


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of an ONNX graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


def _framework(module: str, *, package: str, purpose: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package, extra=module, purpose=purpose) from exc
