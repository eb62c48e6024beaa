"""Model adapters: one small protocol in front of every ML framework.

A model is anything with ``predict`` (:class:`Model`), and ``predict_proba`` where it has
probabilities (:class:`ProbabilisticModel`). That is the duck-typed contract scikit-learn
estimators follow, and it keeps their best property: a model works with Keel without
inheriting from, or even importing, a Keel class.

Everything else Keel needs from a model (saving it, loading it, calling it on a 2-D array,
reading its class labels) lives in an :class:`Adapter` that *wraps* the framework's object
from outside: composition, never inheritance. Which adapter wraps an object is found by
detection (:func:`adapter_for`): third-party adapters first, then the built-ins in a fixed
order (xgboost, lightgbm, sklearn, onnx, torch, callable; XGBoost and LightGBM estimators
also look like scikit-learn ones, so they are asked first). Detection reads only the
object's class and its MRO, so asking never imports a framework the program has not
imported itself. A package names its adapter, and :func:`get_adapter` finds it again to load.

Safety is the default. A model package may come from elsewhere (a registry, a colleague, a
download) and unpickling runs whatever code the file names, so every built-in format is a
data format: skops for scikit-learn (it refuses types nobody said to trust), XGBoost's
UBJSON, LightGBM's text model, ONNX and TorchScript. Pickle is used only for plain Python
callables and objects, and only when the caller passes ``trusted=True``, to save and again
to load.

Third parties add an adapter through the entry point group ``keel.model_adapters``: each
entry point loads to an adapter instance (or a class, which is instantiated). A broken one
is skipped with a ``RuntimeWarning``; it never breaks Keel.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import pickle
import pkgutil
import sys
import warnings
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from keel.errors import InputError, MissingDependencyError, UsageError, did_you_mean, first_line
from keel.models._torch_archive import load_exported
from keel.versioning import site_index

__all__ = [
    "ENTRY_POINT_GROUP",
    "XGBOOST_CLASSES",
    "Adapter",
    "Model",
    "ProbabilisticModel",
    "adapter_for",
    "adapters",
    "get_adapter",
]

ENTRY_POINT_GROUP = "keel.model_adapters"

_META = "adapter.json"  # what an adapter records beside a native file to rebuild the object


@runtime_checkable
class Model(Protocol):
    """Anything with ``predict``: a fitted estimator, a booster, your own class."""

    def predict(self, X: Any) -> Any: ...  # noqa: N803 (X is the name every ML library uses)


@runtime_checkable
class ProbabilisticModel(Model, Protocol):
    """A :class:`Model` that also gives class probabilities."""

    def predict_proba(self, X: Any) -> Any: ...  # noqa: N803 (as above)


class Adapter(Protocol):
    """What Keel needs from a framework, supplied from outside the framework's objects.

    ``name`` is recorded in model packages; ``extra`` is the ``mlkeel`` extra that installs
    the framework (``None`` if none is needed). ``frameworks()`` maps the installed
    distributions the saved format depends on to their versions without importing them.
    ``save`` writes into an existing empty folder and returns the relative POSIX paths it
    wrote; ``load`` gets them back and returns the native object. ``predict`` and
    ``predict_proba`` take a 2-D float array with columns in contract order;
    ``predict_proba`` and ``classes`` return ``None`` when the model has no probabilities.
    """

    name: str
    extra: str | None

    def detect(self, obj: object) -> bool: ...

    def frameworks(self) -> dict[str, str]: ...

    def save(self, obj: Any, folder: Path, *, trusted: bool) -> list[str]: ...

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any: ...

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray: ...  # noqa: N803 (as above)

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None: ...  # noqa: N803

    def classes(self, obj: Any) -> list[Any] | None: ...


# --- helpers shared by the built-in adapters ------------------------------------------------


def _named(obj: Any, X: np.ndarray) -> Any:  # noqa: N803 (ML convention)
    """For an estimator fitted on a DataFrame, the rows as a DataFrame with its column names
    (scikit-learn warns on, and column transformers refuse, unnamed arrays)."""
    names = getattr(obj, "feature_names_in_", None)
    if names is None or len(names) != np.asarray(X).shape[1]:
        return X
    try:
        pandas: Any = importlib.import_module("pandas")  # untyped; installed with such models
    except ImportError:
        return X
    return pandas.DataFrame(np.asarray(X), columns=list(names))


def read_skops(path: Path, *, trusted: bool) -> Any:
    """Load a skops file, trusting only scikit-learn, NumPy and SciPy classes unless
    ``trusted``: any other type in the file could run its code when loaded."""
    sio = _skops_io(purpose="Loading a model")
    try:
        listed = list(sio.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises zip, JSON and its own errors
        raise InputError(
            f"{path} is not a readable skops file: {exc}.", hint="Restore the package."
        ) from exc
    refused = [t for t in listed if not trusted and not _auto_trusted(t)]
    if refused:
        raise UsageError(
            f"the scikit-learn model in {path.parent} contains types Keel does not trust by "
            f"default: {', '.join(refused)}. Loading them could run their code.",
            hint="If you trust where it comes from, load it with trusted=True (--trusted).",
        )
    return sio.load(path, trusted=listed)


def _skops_io(*, purpose: str) -> Any:
    """``skops.io``, or the extra to install. Imported as it is: replacing its walk of every
    scikit-learn estimator during the import (to load faster) left skops trusting no
    estimator by default for the rest of the process, which broke MLflow's own skops loading
    beside Keel (tests/registry/test_mlflow.py caught it)."""
    return _require("skops.io", package="skops", extra="sklearn", purpose=purpose)


def _require(module: str, *, package: str, extra: str, purpose: str) -> Any:
    """Import ``module``; if it is missing, say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package, extra=extra, purpose=purpose) from exc
    except Exception as exc:  # a broken installation (a half-installed library, say)
        raise UsageError(
            f"{purpose} needs {package}, which is installed but fails to import: "
            f"{type(exc).__name__}: {exc}",
            hint=f"Reinstall it: pip install --force-reinstall 'mlkeel[{extra}]'",
        ) from exc


def _versions(*distributions: str | tuple[str, ...]) -> dict[str, str]:
    """Installed versions, read from metadata (nothing is imported).

    Each argument is a distribution or a tuple of alternatives (``xgboost`` or
    ``xgboost-cpu``); the first argument is the framework itself: without it, ``{}``.
    """
    found: dict[str, str] = {}
    installed = site_index().versions  # read once per process (and cached on disk)
    for position, names in enumerate(distributions):
        for name in (names,) if isinstance(names, str) else names:
            version = installed.get(name)
            if version is None:
                try:
                    version = importlib.metadata.version(name)  # spelled otherwise in metadata
                except importlib.metadata.PackageNotFoundError:
                    continue
            found[name] = version
            break
        else:
            if position == 0:
                return {}
    return found


def _from(cls: type, prefix: str) -> bool:
    module = getattr(cls, "__module__", None) or ""
    return module == prefix or module.startswith(prefix + ".")


def _mro_from(obj: object, prefix: str) -> bool:
    return any(_from(cls, prefix) for cls in type(obj).__mro__)


def _has(obj: object, method: str) -> bool:
    return callable(getattr(obj, method, None))


def _file(folder: Path, files: list[str], name: str) -> Path:
    """The package file ``name``, or an :class:`InputError` if the package lacks it."""
    path = folder / name
    if name not in files or not path.is_file():
        raise InputError(
            f"model package {folder} has no file {name}.",
            hint="The package is incomplete or was written by another adapter; restore it.",
        )
    return path


def _write_meta(folder: Path, adapter: str, **fields: Any) -> str:
    text = json.dumps({"adapter": adapter, **fields}, indent=2, sort_keys=True)
    (folder / _META).write_text(text + "\n", encoding="utf-8")
    return _META


def _read_meta(folder: Path, files: list[str], adapter: str) -> dict[str, Any]:
    path = _file(folder, files, _META)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}.", hint="Restore the package.") from exc
    if not isinstance(meta, dict) or meta.get("adapter") != adapter:
        raise InputError(
            f"{path} was not written by Keel's {adapter} adapter.", hint="Restore the package."
        )
    return meta


def _native_class(meta: dict[str, Any], allowed: tuple[str, ...], path: Path) -> str:
    """The recorded class name, only if it is one the adapter knows how to rebuild."""
    name = meta.get("class")
    if name not in allowed:
        raise InputError(
            f"{path} names the class {name!r}, which Keel cannot rebuild; "
            f"expected one of {', '.join(allowed)}.",
            hint="Restore the package, or load it with the Keel version that wrote it.",
        )
    return str(name)


def _plain_list(values: Any) -> list[Any]:
    """Class labels as plain Python values (JSON- and YAML-ready)."""
    return list(np.asarray(values).tolist())


def _labels(proba: np.ndarray, classes: list[Any]) -> np.ndarray:
    return np.asarray(np.asarray(classes)[np.argmax(proba, axis=1)])


def _two_columns(positive: np.ndarray) -> np.ndarray:
    """``P(class 1)`` (a binary booster's output) as the usual ``(n, 2)`` matrix."""
    p = np.asarray(positive, dtype=float).reshape(-1)
    return np.column_stack([1.0 - p, p])


# --- scikit-learn ----------------------------------------------------------------------------

# Types skops does not trust by itself but that Keel accepts without ``trusted=True``:
# *classes* (never functions, which a model could call) defined in these libraries, such as
# the tree structure inside a random forest.
_SAFE_LIBRARIES = ("sklearn", "numpy", "scipy")


def _auto_trusted(type_name: str) -> bool:
    parts = type_name.split(".")
    if parts[0] not in _SAFE_LIBRARIES or len(parts) < 2:
        return False
    if any(p.startswith("__") for p in parts):  # never import numpy.f2py.__main__ and such
        return False
    try:
        found = pkgutil.resolve_name(type_name)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(found, type) and any(_from(found, lib) for lib in _SAFE_LIBRARIES)


class _SklearnAdapter:
    """scikit-learn estimators and pipelines (and anything built on their base classes)."""

    name = "sklearn"
    extra: str | None = "sklearn"

    def detect(self, obj: object) -> bool:
        return _has(obj, "fit") and _has(obj, "predict") and _mro_from(obj, "sklearn")

    def frameworks(self) -> dict[str, str]:
        return _versions("scikit-learn", "skops")

    def save(self, obj: Any, folder: Path, *, trusted: bool) -> list[str]:
        sio = _skops_io(purpose="Saving a model")
        sio.dump(obj, folder / "model.skops")
        return ["model.skops"]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        _skops_io(purpose="Loading a model")
        return read_skops(_file(folder, files, "model.skops"), trusted=trusted)

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        return np.asarray(obj.predict(_named(obj, X)))

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        if not _has(obj, "predict_proba"):
            return None
        return np.asarray(obj.predict_proba(_named(obj, X)))

    def classes(self, obj: Any) -> list[Any] | None:
        found = getattr(obj, "classes_", None)
        return None if found is None else _plain_list(found)


# --- XGBoost ---------------------------------------------------------------------------------
# The classes an XGBoost model (and an MLflow xgboost flavour's model_class) may be.

XGBOOST_CLASSES = (
    "XGBClassifier",
    "XGBRegressor",
    "XGBRFClassifier",
    "XGBRFRegressor",
    "XGBRanker",
    "Booster",
)


def _xgb_objective(booster: Any) -> str:
    return str(json.loads(booster.save_config())["learner"]["objective"]["name"])


class _XGBoostAdapter:
    """XGBoost's scikit-learn estimators and raw ``Booster`` objects, in XGBoost's UBJSON."""

    name = "xgboost"
    extra: str | None = "xgboost"

    def detect(self, obj: object) -> bool:
        return _from(type(obj), "xgboost") and type(obj).__name__ in XGBOOST_CLASSES

    def frameworks(self) -> dict[str, str]:
        return _versions(("xgboost", "xgboost-cpu"))

    def _module(self, purpose: str) -> Any:
        return _require("xgboost", package="xgboost", extra="xgboost", purpose=purpose)

    def save(self, obj: Any, folder: Path, *, trusted: bool) -> list[str]:
        self._module("Saving an XGBoost model")
        obj.save_model(str(folder / "model.ubj"))
        return ["model.ubj", _write_meta(folder, self.name, **{"class": type(obj).__name__})]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        xgb = self._module("Loading an XGBoost model")
        meta = _read_meta(folder, files, self.name)
        cls = getattr(xgb, _native_class(meta, XGBOOST_CLASSES, folder / _META))
        model = cls()
        model.load_model(str(_file(folder, files, "model.ubj")))
        return model

    def _booster_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        objective = _xgb_objective(obj)
        if objective not in ("binary:logistic", "multi:softprob"):
            return None
        xgb = self._module("Predicting with an XGBoost booster")
        out = np.asarray(obj.predict(xgb.DMatrix(X)))
        return _two_columns(out) if objective == "binary:logistic" else out

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        if type(obj).__name__ != "Booster":
            return np.asarray(obj.predict(X))
        proba = self._booster_proba(obj, X)
        if proba is not None:
            return np.asarray(np.argmax(proba, axis=1))
        xgb = self._module("Predicting with an XGBoost booster")
        return np.asarray(obj.predict(xgb.DMatrix(X)))

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        if type(obj).__name__ == "Booster":
            return self._booster_proba(obj, X)
        return np.asarray(obj.predict_proba(X)) if _has(obj, "predict_proba") else None

    def classes(self, obj: Any) -> list[Any] | None:
        if type(obj).__name__ != "Booster":
            found = getattr(obj, "classes_", None)
            return None if found is None else _plain_list(found)
        objective = _xgb_objective(obj)
        if objective == "binary:logistic":
            return [0, 1]
        if objective == "multi:softprob":
            config = json.loads(obj.save_config())
            return list(range(int(config["learner"]["learner_model_param"]["num_class"])))
        return None


# --- LightGBM --------------------------------------------------------------------------------

_LGB_CLASSES = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker", "Booster")
_LGB_MULTICLASS = ("multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr")
_LGB_LABELS = "_keel_classes"  # set on boosters Keel loads: the labels of their classes


def _lgb_booster_classes(booster: Any) -> list[Any] | None:
    """A booster's class labels: recorded when Keel loaded it, else from its objective."""
    if hasattr(booster, _LGB_LABELS):
        found: list[Any] | None = getattr(booster, _LGB_LABELS)
        return found
    objective = booster.params.get("objective")
    if objective == "binary":
        return [0, 1]
    if objective in _LGB_MULTICLASS:
        return list(range(int(booster.num_model_per_iteration())))
    return None


class _LightGBMAdapter:
    """LightGBM estimators and boosters in LightGBM's text format; loaded as a ``Booster``."""

    name = "lightgbm"
    extra: str | None = "lightgbm"

    def detect(self, obj: object) -> bool:
        return _from(type(obj), "lightgbm") and type(obj).__name__ in _LGB_CLASSES

    def frameworks(self) -> dict[str, str]:
        return _versions("lightgbm")

    def _module(self, purpose: str) -> Any:
        return _require("lightgbm", package="lightgbm", extra="lightgbm", purpose=purpose)

    def save(self, obj: Any, folder: Path, *, trusted: bool) -> list[str]:
        self._module("Saving a LightGBM model")
        booster = obj if type(obj).__name__ == "Booster" else obj.booster_
        booster.save_model(str(folder / "model.txt"))
        meta = _write_meta(
            folder, self.name, **{"class": type(obj).__name__, "classes": self.classes(obj)}
        )
        return ["model.txt", meta]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        lgb = self._module("Loading a LightGBM model")
        meta = _read_meta(folder, files, self.name)
        _native_class(meta, _LGB_CLASSES, folder / _META)
        booster = lgb.Booster(model_file=str(_file(folder, files, "model.txt")))
        setattr(booster, _LGB_LABELS, meta.get("classes"))
        return booster

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        if type(obj).__name__ != "Booster":
            return np.asarray(obj.predict(X))
        classes = _lgb_booster_classes(obj)
        proba = self.predict_proba(obj, X)
        if classes is None or proba is None:
            return np.asarray(obj.predict(X))
        return _labels(proba, classes)

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        if type(obj).__name__ != "Booster":
            return np.asarray(obj.predict_proba(X)) if _has(obj, "predict_proba") else None
        if _lgb_booster_classes(obj) is None:
            return None
        out = np.asarray(obj.predict(X))
        return _two_columns(out) if out.ndim == 1 else out

    def classes(self, obj: Any) -> list[Any] | None:
        if type(obj).__name__ == "Booster":
            return _lgb_booster_classes(obj)
        found = getattr(obj, "classes_", None)
        return None if found is None else _plain_list(found)


# --- ONNX ------------------------------------------------------------------------------------

_ONNX_LABELS = "_keel_classes"  # set on sessions Keel loads: the labels in the model's graph
_ONNX_LABEL_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")


def _node_labels(node: Any) -> list[Any] | None:
    for attribute in node.attribute:
        if attribute.name not in _ONNX_LABEL_ATTRIBUTES:
            continue
        if attribute.strings:
            return [s.decode("utf-8") for s in attribute.strings]
        if attribute.ints:
            return [int(i) for i in attribute.ints]
    return None


def _onnx_graph_classes(proto: Any) -> list[Any] | None:
    """Class labels from the graph: the ZipMap's keys, else the last ONNX-ML classifier's."""
    ml_nodes = [n for n in proto.graph.node if n.domain == "ai.onnx.ml"]
    zipmaps = [n for n in ml_nodes if n.op_type == "ZipMap"]
    for node in zipmaps or reversed(ml_nodes):
        labels = _node_labels(node)
        if labels is not None:
            return labels
    return None


class _OnnxAdapter:
    """ONNX models (an ``onnx.ModelProto`` or its bytes), run with ONNX Runtime on CPU."""

    name = "onnx"
    extra: str | None = "onnx"

    def detect(self, obj: object) -> bool:
        if isinstance(obj, bytes | bytearray):
            return obj[:1] == b"\x08"  # field 1 (ir_version), written first by protobuf
        return _from(type(obj), "onnx") and type(obj).__name__ == "ModelProto"

    def frameworks(self) -> dict[str, str]:
        return _versions(("onnxruntime", "onnxruntime-gpu"), "onnx")

    def _proto(self, obj: Any) -> Any:
        if not isinstance(obj, bytes | bytearray):
            return obj
        onnx = _require("onnx", package="onnx", extra="onnx", purpose="Reading an ONNX model")
        try:
            return onnx.load_from_string(bytes(obj))
        except Exception as exc:  # protobuf's DecodeError, without importing protobuf
            raise UsageError(
                f"the bytes given are not an ONNX model: {exc}.",
                hint="Pass an onnx.ModelProto or the bytes of a .onnx file.",
            ) from exc

    def _session(self, obj: Any) -> Any:
        ort = _require(
            "onnxruntime", package="onnxruntime", extra="onnx", purpose="Running an ONNX model"
        )
        if isinstance(obj, ort.InferenceSession):
            return obj
        data = bytes(obj) if isinstance(obj, bytes | bytearray) else obj.SerializeToString()
        return ort.InferenceSession(data, providers=["CPUExecutionProvider"])

    def save(self, obj: Any, folder: Path, *, trusted: bool) -> list[str]:
        proto = self._proto(obj)
        (folder / "model.onnx").write_bytes(proto.SerializeToString())
        return ["model.onnx", _write_meta(folder, self.name, classes=self.classes(proto))]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        ort = _require(
            "onnxruntime", package="onnxruntime", extra="onnx", purpose="Loading an ONNX model"
        )
        meta = _read_meta(folder, files, self.name)
        path = _file(folder, files, "model.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        setattr(session, _ONNX_LABELS, meta.get("classes"))
        return session

    def _run(self, obj: Any, X: np.ndarray) -> list[Any]:  # noqa: N803 (ML convention)
        session = self._session(obj)
        feed = {session.get_inputs()[0].name: np.asarray(X, dtype=np.float32)}
        return list(session.run(None, feed))

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        out = np.asarray(self._run(obj, X)[0])
        return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        outputs = self._run(obj, X)
        if len(outputs) < 2:
            return None
        proba = outputs[1]
        if isinstance(proba, list):  # ZipMap: one {label: probability} per row
            keys = self.classes(obj) or (list(proba[0]) if proba else [])
            return np.array([[row[k] for k in keys] for row in proba], dtype=float)
        return np.asarray(proba)

    def classes(self, obj: Any) -> list[Any] | None:
        if hasattr(obj, _ONNX_LABELS):
            found: list[Any] | None = getattr(obj, _ONNX_LABELS)
            return found
        if hasattr(obj, "get_inputs"):  # a session Keel did not load: its graph is hidden
            return None
        return _onnx_graph_classes(self._proto(obj))


# --- PyTorch ---------------------------------------------------------------------------------


class _TorchAdapter:
    """``torch.nn.Module`` models, stored as TorchScript (code and weights, no pickle)."""

    name = "torch"
    extra: str | None = "torch"

    def detect(self, obj: object) -> bool:
        return _mro_from(obj, "torch.nn")  # nn.Module, its subclasses and ScriptModules

    def frameworks(self) -> dict[str, str]:
        return _versions("torch")

    def _module(self, purpose: str) -> Any:
        return _require("torch", package="torch", extra="torch", purpose=purpose)

    def save(
        self, obj: Any, folder: Path, *, trusted: bool, example: np.ndarray | None = None
    ) -> list[str]:
        """Export with ``torch.export`` (graph and weights, loaded without unpickling code).

        Exporting traces the model, so it needs an example input: rows shaped by the input
        contract (``save_model`` builds them from ``contract=``). The batch dimension stays
        dynamic.
        """
        torch = self._module("Saving a PyTorch model")
        if example is None:
            raise UsageError(
                "saving a PyTorch model needs an example input to export it.",
                hint="Give the model's input contract (contract=...): Keel builds example "
                "rows from it.",
            )
        x = torch.tensor(np.array(example, dtype=np.float32))  # a writable copy
        batch = torch.export.Dim("batch", min=1)
        try:
            exported = torch.export.export(obj.eval(), (x,), dynamic_shapes=({0: batch},))
        except Exception as exc:  # the exporter raises many kinds
            raise UsageError(
                f"the PyTorch model {type(obj).__name__} cannot be exported with "
                f"torch.export: {first_line(exc)}",
                hint="Make forward() traceable (no data-dependent Python control flow), "
                "or convert the model to ONNX and register that.",
            ) from exc
        torch.export.save(exported, str(folder / "model.pt2"))
        return ["model.pt2"]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        torch = self._module("Loading a PyTorch model")
        return load_exported(torch, _file(folder, files, "model.pt2"), trusted=trusted)

    def _output(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        torch = self._module("Running a PyTorch model")
        training = bool(getattr(obj, "training", False))
        try:
            if training:
                obj.eval()  # dropout and batch norm must behave as in inference
        except NotImplementedError:  # an exported program's module is already in eval mode
            training = False
        try:
            with torch.no_grad():
                out = obj(torch.tensor(np.array(X, dtype=np.float32)))  # a writable copy
        finally:
            if training:
                obj.train()
        if isinstance(out, tuple | list):
            out = out[0]
        return np.asarray(out.detach().cpu().numpy())

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        return self._output(obj, X)

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        out = self._output(obj, X)
        is_proba = (
            out.ndim == 2
            and out.shape[1] >= 2
            and bool(np.all(out >= 0))
            and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
        )
        return out if is_proba else None

    def classes(self, obj: Any) -> list[Any] | None:
        return None


# --- plain Python ----------------------------------------------------------------------------


class _CallableAdapter:
    """Plain functions and Python objects with ``predict``; stored with pickle if trusted."""

    name = "callable"
    extra: str | None = None

    def detect(self, obj: object) -> bool:
        return not isinstance(obj, type) and (_has(obj, "predict") or callable(obj))

    def frameworks(self) -> dict[str, str]:
        return {}

    def save(self, obj: Any, folder: Path, *, trusted: bool) -> list[str]:
        if not trusted:
            raise UsageError(
                "a plain callable can only be stored with pickle; pass trusted=True if you "
                "trust where the package will be loaded.",
                hint=f"{type(obj).__name__} has no safe format. Models of scikit-learn, "
                "XGBoost, LightGBM, ONNX or PyTorch are stored without pickle.",
            )
        try:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise UsageError(
                f"{type(obj).__name__} cannot be pickled: {exc}.",
                hint="Define the function or class at the top level of an importable module "
                "(not a lambda or a nested function).",
            ) from exc
        (folder / "model.pkl").write_bytes(data)
        return ["model.pkl"]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        path = _file(folder, files, "model.pkl")
        if not trusted:
            raise UsageError(
                f"the model in {folder} is a pickle, and loading a pickle can run any code.",
                hint="Load it with trusted=True only if you trust whoever wrote the package.",
            )
        with path.open("rb") as f:
            return pickle.load(f)  # the caller vouched for the file

    def predict(self, obj: Any, X: np.ndarray) -> np.ndarray:  # noqa: N803 (ML convention)
        return np.asarray(obj.predict(X) if _has(obj, "predict") else obj(X))

    def predict_proba(self, obj: Any, X: np.ndarray) -> np.ndarray | None:  # noqa: N803
        return np.asarray(obj.predict_proba(X)) if _has(obj, "predict_proba") else None

    def classes(self, obj: Any) -> list[Any] | None:
        found = getattr(obj, "classes_", None)
        return None if found is None else _plain_list(found)


# --- discovery ---------------------------------------------------------------------------

_BUILTINS: tuple[Adapter, ...] = (
    _XGBoostAdapter(),
    _LightGBMAdapter(),
    _SklearnAdapter(),
    _OnnxAdapter(),
    _TorchAdapter(),
    _CallableAdapter(),
)
_BUILTIN_NAMES = frozenset(a.name for a in _BUILTINS)
_ADAPTER_MEMBERS = ("detect", "frameworks", "save", "load", "predict", "predict_proba", "classes")

# Third-party adapters, keyed by the sys.path they were found on (a new path rescans).
_found: tuple[tuple[str, ...], list[Adapter]] | None = None


def _reset() -> None:
    """Forget the third-party adapters found so far (the next use scans entry points again)."""
    global _found  # noqa: PLW0603 (a one-slot cache of the entry-point scan)
    _found = None


def _load_entry_point(entry: importlib.metadata.EntryPoint) -> Adapter:
    loaded = entry.load()
    adapter = loaded() if isinstance(loaded, type) else loaded
    missing = [m for m in _ADAPTER_MEMBERS if not _has(adapter, m)]
    if not isinstance(getattr(adapter, "name", None), str) or missing:
        raise TypeError(f"not a Keel model adapter (missing: {', '.join(missing) or 'name'})")
    if adapter.name in _BUILTIN_NAMES:
        raise TypeError(f"the name {adapter.name!r} belongs to a built-in adapter")
    return adapter  # type: ignore[no-any-return]  # checked member by member above


def _third_party() -> list[Adapter]:
    global _found  # noqa: PLW0603 (a one-slot cache of the entry-point scan)
    key = tuple(sys.path)
    if _found is not None and _found[0] == key:
        return _found[1]
    found: list[Adapter] = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"{entry.name} = {entry.value}"
        if entry.dist is not None:
            where += f" (from {entry.dist.name} {entry.dist.version})"
        try:
            adapter = _load_entry_point(entry)
        except Exception as exc:  # a third party's bug must not break Keel
            warnings.warn(
                f"Keel skipped the model adapter entry point {where}: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if any(a.name == adapter.name for a in found):
            warnings.warn(
                f"Keel skipped the model adapter entry point {where}: another entry point "
                f"already provides an adapter named {adapter.name!r}.",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        found.append(adapter)
    _found = (key, found)
    return found


def adapters() -> list[Adapter]:
    """Every known adapter: third-party ones (entry points) first, then the built-ins."""
    return [*_third_party(), *_BUILTINS]


def _detects(adapter: Adapter, obj: object) -> bool:
    if adapter.name in _BUILTIN_NAMES:
        return adapter.detect(obj)
    try:
        return bool(adapter.detect(obj))
    except Exception as exc:  # a third party's bug must not break Keel
        warnings.warn(
            f"the model adapter {adapter.name!r} failed to inspect a {type(obj).__name__}: "
            f"{type(exc).__name__}: {exc}; Keel ignored it.",
            RuntimeWarning,
            stacklevel=3,
        )
        return False


def adapter_for(obj: object) -> Adapter:
    """The adapter for ``obj``: the first whose ``detect`` accepts it.

    Third-party adapters are asked first, then xgboost, lightgbm, sklearn, onnx, torch and
    callable. Detection never imports a framework.
    """
    known = adapters()
    for adapter in known:
        if _detects(adapter, obj):
            return adapter
    kind = type(obj)
    hint = (
        f"{kind.__name__} is a class: pass an instance (a fitted model)."
        if isinstance(obj, type)
        else "Pass a fitted model of a supported framework or any object with a predict "
        f"method; other frameworks plug in through the entry point group {ENTRY_POINT_GROUP!r}."
    )
    raise UsageError(
        f"no model adapter recognises an object of type {kind.__module__}.{kind.__qualname__}; "
        f"known adapters: {', '.join(a.name for a in known)}.",
        hint=hint,
    )


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name`` (the one a model package records)."""
    known = adapters()
    for adapter in known:
        if adapter.name == name:
            return adapter
    raise UsageError(
        f"unknown model adapter {name!r}.",
        hint=did_you_mean(name, [a.name for a in known])
        + " A package saved with a third-party adapter needs that adapter's package installed.",
    )
