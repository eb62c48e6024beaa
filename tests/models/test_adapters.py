"""Model adapters: detection, safe round trips, trust, missing extras and third-party plug-ins.

Every built-in adapter runs through :func:`check_round_trip`, the same check a third-party
adapter passes below: detect, save into a folder, load back, and predict, give probabilities
and class labels exactly as the original model did.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keel.errors import InputError, MissingDependencyError, UsageError
from keel.models import _adapters
from keel.models._adapters import (
    ENTRY_POINT_GROUP,
    Adapter,
    Model,
    ProbabilisticModel,
    adapter_for,
    adapters,
    get_adapter,
)

BUILTIN_ORDER = ["xgboost", "lightgbm", "sklearn", "onnx", "torch", "callable"]

# --- data and models -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """200 rows, 4 features, a binary target that depends on three of them."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.3, size=200) > 0).astype(int)
    return x, y


def _sklearn_logistic(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(x, y)


def _sklearn_forest(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)


def _sklearn_pipeline(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)


def _sklearn_regressor(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=10, random_state=0).fit(x, x @ [1.0, 2.0, 0, -1])


def _xgb_classifier(x: np.ndarray, y: np.ndarray) -> Any:
    import xgboost as xgb

    return xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(x, y)


def _xgb_regressor(x: np.ndarray, y: np.ndarray) -> Any:
    import xgboost as xgb

    return xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(x, x @ [1.0, 2.0, 0, -1])


def _xgb_booster(x: np.ndarray, y: np.ndarray) -> Any:
    import xgboost as xgb

    params = {"objective": "binary:logistic", "max_depth": 3}
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=10)


def _lgbm_classifier(x: np.ndarray, y: np.ndarray) -> Any:
    import lightgbm as lgb

    labels = np.where(y == 1, "yes", "no")  # string labels must come back as strings
    return lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(x, labels)


def _lgbm_multiclass(x: np.ndarray, y: np.ndarray) -> Any:
    import lightgbm as lgb

    labels = np.digitize(x[:, 0], [-0.5, 0.5]) * 10  # classes 0, 10, 20
    return lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(x, labels)


def _lgbm_regressor(x: np.ndarray, y: np.ndarray) -> Any:
    import lightgbm as lgb

    return lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(x, x @ [1.0, 2.0, 0, -1])


def _lgbm_booster(x: np.ndarray, y: np.ndarray) -> Any:
    import lightgbm as lgb

    params = {"objective": "binary", "verbose": -1}
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=10)


def _onnx(x: np.ndarray, y: np.ndarray, *, zipmap: bool) -> Any:
    from skl2onnx import to_onnx

    model = _sklearn_logistic(x, y)
    options = None if zipmap else {"zipmap": False}
    return to_onnx(model, x[:1].astype(np.float32), options=options)


def _onnx_tensor(x: np.ndarray, y: np.ndarray) -> Any:
    return _onnx(x, y, zipmap=False)


def _onnx_zipmap(x: np.ndarray, y: np.ndarray) -> Any:
    return _onnx(x, y, zipmap=True)


def score(x: np.ndarray) -> np.ndarray:
    """A model that is just a function (module level, so pickle can find it again)."""
    return np.asarray(x)[:, 0] * 2.0 - np.asarray(x)[:, 1]


class Threshold:
    """A plain Python model: no framework, no Keel base class."""

    def __init__(self, cut: float) -> None:
        self.cut = cut
        self.classes_ = np.array([0, 1])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(np.asarray(x)[:, 0] - self.cut)))
        return np.column_stack([1.0 - p, p])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(x).argmax(axis=1))


def _function(x: np.ndarray, y: np.ndarray) -> Any:
    return score


def _python_object(x: np.ndarray, y: np.ndarray) -> Any:
    return Threshold(0.2)


@dataclass(frozen=True)
class Case:
    id: str
    adapter: str
    build: Callable[[np.ndarray, np.ndarray], Any]
    native_file: str
    classes: list[Any] | None
    requires: str  # the module the case needs installed
    trusted: bool = False


CASES = [
    Case("sklearn-logistic", "sklearn", _sklearn_logistic, "model.skops", [0, 1], "skops"),
    Case("sklearn-forest", "sklearn", _sklearn_forest, "model.skops", [0, 1], "skops"),
    Case("sklearn-pipeline", "sklearn", _sklearn_pipeline, "model.skops", [0, 1], "skops"),
    Case("sklearn-regressor", "sklearn", _sklearn_regressor, "model.skops", None, "skops"),
    Case("xgboost-classifier", "xgboost", _xgb_classifier, "model.ubj", [0, 1], "xgboost"),
    Case("xgboost-regressor", "xgboost", _xgb_regressor, "model.ubj", None, "xgboost"),
    Case("xgboost-booster", "xgboost", _xgb_booster, "model.ubj", [0, 1], "xgboost"),
    Case(
        "lightgbm-classifier", "lightgbm", _lgbm_classifier, "model.txt", ["no", "yes"], "lightgbm"
    ),
    Case("lightgbm-multiclass", "lightgbm", _lgbm_multiclass, "model.txt", [0, 10, 20], "lightgbm"),
    Case("lightgbm-regressor", "lightgbm", _lgbm_regressor, "model.txt", None, "lightgbm"),
    Case("lightgbm-booster", "lightgbm", _lgbm_booster, "model.txt", [0, 1], "lightgbm"),
    Case("onnx-tensor", "onnx", _onnx_tensor, "model.onnx", [0, 1], "skl2onnx"),
    Case("onnx-zipmap", "onnx", _onnx_zipmap, "model.onnx", [0, 1], "skl2onnx"),
    Case("function", "callable", _function, "model.pkl", None, "pickle", trusted=True),
    Case("python-object", "callable", _python_object, "model.pkl", [0, 1], "pickle", trusted=True),
]


# --- the conformance check every adapter passes ---------------------------------------------


def _assert_same(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


def check_round_trip(
    adapter: Adapter, model: Any, x: np.ndarray, folder: Path, *, trusted: bool = False
) -> Any:
    """Save ``model`` with ``adapter``, load it back, and require the same behaviour.

    Returns the loaded native object. Any adapter, built-in or third-party, must pass.
    """
    assert isinstance(adapter.name, str)
    assert adapter.extra is None or isinstance(adapter.extra, str)
    assert adapter.detect(model)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in adapter.frameworks().items())
    folder.mkdir()
    files = adapter.save(model, folder, trusted=trusted)
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(files) == written, "save() must return exactly the files it wrote"

    loaded = adapter.load(folder, list(files), trusted=trusted)
    _assert_same(adapter.predict(loaded, x), adapter.predict(model, x))
    proba, proba_back = adapter.predict_proba(model, x), adapter.predict_proba(loaded, x)
    assert (proba is None) == (proba_back is None)
    if proba is not None:
        assert proba_back is not None
        np.testing.assert_allclose(proba_back, proba, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    classes = adapter.classes(model)
    assert adapter.classes(loaded) == classes
    if proba is not None and classes is not None:
        assert proba.shape[1] == len(classes)
    return loaded


def _is_native_format(path: Path) -> bool:
    head = path.read_bytes()[:4]
    checks: dict[str, Callable[[], bool]] = {
        ".skops": lambda: zipfile.is_zipfile(path),
        ".ubj": lambda: head[:1] == b"{",  # UBJSON object
        ".txt": lambda: head == b"tree",  # LightGBM's text model
        ".onnx": lambda: head[:1] == b"\x08",  # protobuf ModelProto
        ".json": lambda: isinstance(json.loads(path.read_text(encoding="utf-8")), dict),
    }
    return checks[path.suffix]()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_round_trip(case: Case, data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip(case.requires)
    x, y = data
    model = case.build(x, y)
    adapter = adapter_for(model)
    assert adapter.name == case.adapter
    assert adapter.classes(model) == case.classes

    folder = tmp_path / "model"
    check_round_trip(adapter, model, x, folder, trusted=case.trusted)

    files = sorted(p.name for p in folder.iterdir())
    assert case.native_file in files
    if case.adapter != "callable":  # safe formats only: no pickle anywhere
        assert not any(name.endswith((".pkl", ".pickle")) for name in files)
        assert all(_is_native_format(folder / name) for name in files)
        assert all((folder / name).read_bytes()[:1] != b"\x80" for name in files)  # pickle magic


@pytest.mark.parametrize("build", [_sklearn_logistic, _sklearn_forest, _sklearn_pipeline])
def test_sklearn_models_load_without_trust(
    build: Callable[..., Any], data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """Common estimators (a forest's tree structures too) need no ``trusted=True``."""
    pytest.importorskip("skops")
    x, y = data
    model = build(x, y)
    adapter = get_adapter("sklearn")
    files = adapter.save(model, tmp_path, trusted=False)
    assert files == ["model.skops"]
    loaded = adapter.load(tmp_path, files, trusted=False)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))


# --- scikit-learn: code from outside the trusted libraries needs trusted=True -----------------


def _sklearn_base() -> tuple[type, type]:
    from sklearn.base import BaseEstimator, TransformerMixin

    return BaseEstimator, TransformerMixin


def double(x: np.ndarray) -> np.ndarray:
    return np.asarray(x) * 2.0


def _with_custom_class(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(AddOne(), LogisticRegression()).fit(x, y)


def _with_custom_function(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(x, y)


if importlib.util.find_spec("sklearn") is not None:
    _Base, _Transformer = _sklearn_base()

    class AddOne(_Transformer, _Base):  # type: ignore[misc, valid-type]
        """A user's own transformer: its code is not scikit-learn's."""

        def fit(self, x: np.ndarray, y: Any = None) -> AddOne:
            return self

        def transform(self, x: np.ndarray) -> np.ndarray:
            return np.asarray(x) + 1.0


@pytest.mark.parametrize(
    ("build", "name"),
    [(_with_custom_class, "AddOne"), (_with_custom_function, "double")],
    ids=["class", "function"],
)
def test_sklearn_refuses_outside_code_unless_trusted(
    build: Callable[..., Any], name: str, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    pytest.importorskip("skops")
    x, y = data
    model = build(x, y)
    adapter = adapter_for(model)
    assert adapter.name == "sklearn"
    files = adapter.save(model, tmp_path, trusted=False)

    with pytest.raises(UsageError, match="trusted=True") as refused:
        adapter.load(tmp_path, files, trusted=False)
    assert f"tests.models.test_adapters.{name}" in str(refused.value)

    loaded = adapter.load(tmp_path, files, trusted=True)
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))


@pytest.mark.parametrize(
    ("type_name", "accepted"),
    [
        ("sklearn.tree._tree.Tree", True),  # a class inside a trusted library
        ("scipy.sparse._csr.csr_matrix", True),
        ("numpy.load", False),  # functions are never trusted implicitly: a model calls them
        ("sklearn.utils.validation.check_array", False),
        ("builtins.eval", False),
        ("tests.models.test_adapters.Threshold", False),
        ("sklearnish.Model", False),
        ("numpy.f2py.__main__.main", False),  # importing it would run a program
    ],
)
def test_implicit_trust_covers_only_library_classes(type_name: str, accepted: bool) -> None:
    pytest.importorskip("sklearn")
    assert _adapters._auto_trusted(type_name) is accepted
    assert "numpy.f2py.__main__" not in sys.modules


def test_sklearn_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    pytest.importorskip("skops")
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="skops"):
        get_adapter("sklearn").load(tmp_path, ["model.skops"], trusted=False)


def test_recorded_class_must_be_one_keel_rebuilds(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    pytest.importorskip("xgboost")
    x, y = data
    adapter = get_adapter("xgboost")
    files = adapter.save(_xgb_classifier(x, y), tmp_path, trusted=False)
    meta = tmp_path / "adapter.json"
    meta.write_text(json.dumps({"adapter": "xgboost", "class": "DMatrix"}), encoding="utf-8")
    with pytest.raises(InputError, match="DMatrix"):
        adapter.load(tmp_path, files, trusted=False)


# --- ONNX ------------------------------------------------------------------------------------


@pytest.mark.parametrize("zipmap", [False, True], ids=["tensor", "zipmap"])
def test_onnx_matches_the_sklearn_model(
    zipmap: bool, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    pytest.importorskip("skl2onnx")
    x, y = data
    model = _sklearn_logistic(x, y)
    proto = _onnx(x, y, zipmap=zipmap)
    adapter = adapter_for(proto)
    assert adapter.name == "onnx"

    files = adapter.save(proto, tmp_path, trusted=False)
    session = adapter.load(tmp_path, files, trusted=False)
    assert type(session).__name__ == "InferenceSession"
    for native in (proto, session):
        proba = adapter.predict_proba(native, x)
        assert proba is not None
        np.testing.assert_allclose(proba, model.predict_proba(x), atol=1e-5)
        np.testing.assert_array_equal(adapter.predict(native, x), model.predict(x))
        assert adapter.classes(native) == [0, 1]


def test_onnx_accepts_the_bytes_of_a_model(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    pytest.importorskip("skl2onnx")
    x, y = data
    raw = _onnx_tensor(x, y).SerializeToString()
    adapter = adapter_for(raw)
    assert adapter.name == "onnx"
    assert adapter.classes(raw) == [0, 1]
    check_round_trip(adapter, raw, x, tmp_path / "model")
    with pytest.raises(UsageError, match="not an ONNX model"):
        adapter.save(b"\x08garbage", tmp_path, trusted=False)


# --- plain callables: pickle, and only when trusted --------------------------------------------


def test_callable_is_not_pickled_without_trust(tmp_path: Path) -> None:
    adapter = adapter_for(score)
    assert adapter.name == "callable"
    assert adapter.extra is None
    with pytest.raises(UsageError, match="pass trusted=True if you trust where the package"):
        adapter.save(score, tmp_path, trusted=False)
    assert list(tmp_path.iterdir()) == []


def test_pickled_callable_loads_only_when_trusted(tmp_path: Path) -> None:
    adapter = get_adapter("callable")
    files = adapter.save(score, tmp_path, trusted=True)
    with pytest.raises(UsageError, match="trusted=True"):
        adapter.load(tmp_path, files, trusted=False)
    assert adapter.load(tmp_path, files, trusted=True) is score


def test_unpicklable_callable_says_why(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be pickled"):
        get_adapter("callable").save(lambda x: x, tmp_path, trusted=True)


def test_callables_of_every_kind_are_detected() -> None:
    import functools

    class Scorer:
        def __call__(self, x: np.ndarray) -> np.ndarray:
            return np.asarray(x)[:, 0]

    for obj in (score, functools.partial(np.sum, axis=1), Scorer(), Threshold(0.0)):
        assert adapter_for(obj).name == "callable"
    x = np.ones((3, 4))
    np.testing.assert_array_equal(get_adapter("callable").predict(Scorer(), x), np.ones(3))
    assert get_adapter("callable").predict_proba(score, x) is None


# --- missing frameworks, unknown objects, unknown names --------------------------------------


@pytest.mark.parametrize(
    ("adapter", "hidden", "extra"),
    [
        ("sklearn", "skops.io", "sklearn"),
        ("xgboost", "xgboost", "xgboost"),
        ("lightgbm", "lightgbm", "lightgbm"),
        ("onnx", "onnxruntime", "onnx"),
        ("torch", "torch", "torch"),
    ],
)
def test_missing_framework_names_the_extra(
    adapter: str, hidden: str, extra: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # importing it now raises ImportError
    with pytest.raises(MissingDependencyError) as missing:
        get_adapter(adapter).load(tmp_path, ["model"], trusted=False)
    assert missing.value.extra == extra
    assert f"pip install 'mlkeel[{extra}]'" in str(missing.value)


def test_saving_without_the_framework_names_the_extra(
    data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("xgboost")
    model = _xgb_classifier(*data)
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(MissingDependencyError, match=r"mlkeel\[xgboost\]"):
        adapter_for(model).save(model, tmp_path, trusted=False)


def test_torch_modules_are_detected_without_importing_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stand-in for torch.nn.Module: detection looks at the class hierarchy only.
    module_class = type("Module", (), {"__module__": "torch.nn.modules.module"})
    net = type("Net", (module_class,), {"__call__": lambda self, x: x})()
    monkeypatch.setitem(sys.modules, "torch", None)
    adapter = adapter_for(net)
    assert adapter.name == "torch"
    assert adapter.extra == "torch"
    with pytest.raises(MissingDependencyError, match=r"mlkeel\[torch\]"):
        adapter.save(net, tmp_path, trusted=False)


def test_detection_imports_no_framework() -> None:
    code = textwrap.dedent(
        """
        import functools, sys
        from keel.models import _adapters as a
        before = set(sys.modules)
        class Own:
            def predict(self, x): return x
        for obj in (len, functools.partial(len), Own(), b"\\x08\\x07"):
            a.adapter_for(obj)
        for adapter in a.adapters():
            adapter.frameworks()
        a.get_adapter("xgboost")
        heavy = {"sklearn", "skops", "xgboost", "lightgbm", "onnx", "onnxruntime", "torch"}
        new = {m.split(".")[0] for m in set(sys.modules) - before} & heavy
        assert not new, new
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_unknown_object_lists_the_adapters() -> None:
    with pytest.raises(UsageError) as unknown:
        adapter_for(42)
    message = str(unknown.value)
    assert "builtins.int" in message
    assert all(name in message for name in BUILTIN_ORDER)
    assert ENTRY_POINT_GROUP in message


def test_a_class_instead_of_an_instance_is_explained() -> None:
    with pytest.raises(UsageError, match="pass an instance"):
        adapter_for(Threshold)


def test_unknown_adapter_name_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match="Did you mean 'sklearn'"):
        get_adapter("skleran")


def test_builtins_in_detection_order() -> None:
    assert [a.name for a in adapters()][-len(BUILTIN_ORDER) :] == BUILTIN_ORDER
    assert [get_adapter(n).name for n in BUILTIN_ORDER] == BUILTIN_ORDER


def test_frameworks_are_read_from_installed_metadata() -> None:
    pytest.importorskip("skops")
    assert get_adapter("sklearn").frameworks() == {
        "scikit-learn": importlib.metadata.version("scikit-learn"),
        "skops": importlib.metadata.version("skops"),
    }
    assert get_adapter("callable").frameworks() == {}
    if importlib.util.find_spec("torch") is None:
        assert get_adapter("torch").frameworks() == {}


# --- the Model protocol ----------------------------------------------------------------------


def test_model_protocol_is_duck_typed(data: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("sklearn")
    x, y = data
    classifier = _sklearn_logistic(x, y)
    regressor = _sklearn_regressor(x, y)
    assert isinstance(classifier, ProbabilisticModel)
    assert isinstance(regressor, Model)
    assert not isinstance(regressor, ProbabilisticModel)
    assert isinstance(Threshold(0.0), ProbabilisticModel)  # no Keel or framework base class
    assert not isinstance(score, Model)


# --- third-party adapters through entry points -----------------------------------------------

THIRD_PARTY_MODULE = '''
import json

import numpy as np


class Ruler:
    """A model from a framework Keel has never heard of (it has predict, too)."""

    def __init__(self, slope):
        self.slope = slope

    def predict(self, x):
        return np.asarray(x)[:, 0] * self.slope


class MyAdapter:
    name = "mine"
    extra = None

    def detect(self, obj):
        return type(obj).__name__ == "Ruler"

    def frameworks(self):
        return {"thirdparty": "1.0"}

    def save(self, obj, folder, *, trusted):
        (folder / "ruler.json").write_text(json.dumps({"slope": obj.slope}))
        return ["ruler.json"]

    def load(self, folder, files, *, trusted):
        return Ruler(json.loads((folder / "ruler.json").read_text())["slope"])

    def predict(self, obj, x):
        return obj.predict(x)

    def predict_proba(self, obj, x):
        return None

    def classes(self, obj):
        return None


ADAPTER = MyAdapter()


class Impostor(MyAdapter):
    name = "sklearn"


class NotAnAdapter:
    name = "half"
'''


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Any]]:
    """Install a fake distribution ``thirdparty`` declaring the given entry points."""

    def installer(entries: str) -> Any:
        site = tmp_path / "site"
        info = site / "thirdparty-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: thirdparty\nVersion: 1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[{ENTRY_POINT_GROUP}]\n{textwrap.dedent(entries)}", encoding="utf-8"
        )
        (site / "thirdparty_adapter.py").write_text(THIRD_PARTY_MODULE, encoding="utf-8")
        monkeypatch.syspath_prepend(site)
        return importlib.import_module("thirdparty_adapter")

    try:
        yield installer
    finally:
        sys.modules.pop("thirdparty_adapter", None)
        _adapters._reset()


@pytest.mark.parametrize("target", ["MyAdapter", "ADAPTER"], ids=["class", "instance"])
def test_third_party_adapter_comes_first(
    target: str, install: Callable[[str], Any], tmp_path: Path
) -> None:
    assert "mine" not in [a.name for a in adapters()]
    module = install(f"mine = thirdparty_adapter:{target}\n")  # no _reset(): sys.path changed

    ruler = module.Ruler(3.0)  # it has predict, so the callable adapter would take it
    adapter = adapter_for(ruler)
    assert adapter.name == "mine"
    assert get_adapter("mine") is adapter
    assert [a.name for a in adapters()] == ["mine", *BUILTIN_ORDER]
    loaded = check_round_trip(adapter, ruler, np.ones((5, 4)), tmp_path / "model")
    assert loaded.slope == 3.0


def test_broken_entry_points_warn_and_are_skipped(install: Callable[[str], Any]) -> None:
    install(
        """
        missing = thirdparty_nowhere:Adapter
        half = thirdparty_adapter:NotAnAdapter
        impostor = thirdparty_adapter:Impostor
        mine = thirdparty_adapter:MyAdapter
        again = thirdparty_adapter:ADAPTER
        """
    )
    with pytest.warns(RuntimeWarning) as caught:
        names = [a.name for a in adapters()]
    assert names == ["mine", *BUILTIN_ORDER]
    messages = " | ".join(str(w.message) for w in caught)
    for culprit in ("missing = ", "half = ", "impostor = ", "again = "):
        assert culprit in messages
    assert "thirdparty 1.0" in messages
    assert type(get_adapter("sklearn")).__module__ == "keel.models._adapters"


# --- scikit-learn: loading imports what the package needs, not all of scikit-learn -----------

# Modules only skops' own list of every scikit-learn estimator imports (and, through the
# array-API shims, PyTorch): a LogisticRegression needs none of them.
_NOT_NEEDED = (
    "torch",
    "sklearn.neural_network",
    "sklearn.gaussian_process",
    "sklearn.semi_supervised",
    "sklearn.mixture",
    "sklearn.kernel_ridge",
)


def _load_in_fresh_process(package: Path) -> subprocess.CompletedProcess[str]:
    """Load ``package`` with ``keel.models.load_model`` in a new interpreter; report what it
    imported as JSON on stdout (or the refusal's message)."""
    code = textwrap.dedent(
        f"""
        import json, sys
        import sklearn.utils
        from keel.errors import UsageError
        from keel.models import load_model
        try:
            model = load_model({str(package)!r})
            outcome = type(model.native).__name__
        except UsageError as exc:
            outcome = "refused: " + str(exc)
        print(json.dumps({{
            "outcome": outcome,
            "imported": [m for m in {list(_NOT_NEEDED)!r} if m in sys.modules],
                    }}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )


def test_fast_loading_still_refuses_a_type_outside_the_allow_list(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """In a fresh process (skops imported by Keel), a user's own class is still refused."""
    pytest.importorskip("skops")
    from keel.models import save_model

    x, y = data
    save_model(_with_custom_class(x, y), tmp_path / "pkg")
    result = _load_in_fresh_process(tmp_path / "pkg")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)["outcome"]
    assert outcome.startswith("refused: ")
    assert "tests.models.test_adapters.AddOne" in outcome
    assert "--trusted" in outcome
