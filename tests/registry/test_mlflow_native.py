"""Native MLflow exports load without Keel: a scikit-learn, XGBoost, LightGBM or ONNX version
is written as MLflow's own flavour, and ``mlflow.pyfunc.load_model(path).predict(frame)`` in a
virtual environment that has MLflow and the frameworks but not Keel predicts what Keel does
in-process. The contract travels beside MLmodel, so importing the export back keeps its
checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.errors import MissingDependencyError, UsageError
from keel.registry import export_mlflow, import_mlflow, mlflow_flavour
from keel.store import UnsafePathError
from keel.tracking import Project, open_project

with warnings.catch_warnings():  # MLflow warns about its own type hints when imported
    warnings.simplefilter("ignore")
    import mlflow.models
    import mlflow.onnx

runner = CliRunner()


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)


def _training(rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(rows, 2))
    return x, (x[:, 0] + 0.2 * rng.normal(size=rows) > 0.5).astype(int)


def _models() -> dict[str, tuple[Any, str]]:
    """Each case's fitted model and the flavour its export must have."""
    x, y = _training()
    small = {"n_estimators": 8, "max_depth": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skl2onnx's and LightGBM's own advice
        onnx_model = to_onnx(LogisticRegression().fit(x, y), x[:1].astype(np.float32))
        return {
            "sk-clf": (LogisticRegression().fit(x, y), "sklearn"),
            "sk-pipe": (make_pipeline(StandardScaler(), Ridge()).fit(x, x[:, 0]), "sklearn"),
            "xgb-clf": (xgb.XGBClassifier(**small).fit(x, y), "xgboost"),
            "lgb-clf": (lgb.LGBMClassifier(**small, verbose=-1).fit(x, y), "lightgbm"),
            "lgb-reg": (lgb.LGBMRegressor(**small, verbose=-1).fit(x, x[:, 0]), "lightgbm"),
            "onnx-clf": (onnx_model, "onnx"),
        }


@dataclass
class Exported:
    project: Project
    root: Path
    frame: pd.DataFrame  # what both sides predict on
    flavours: dict[str, str]
    paths: dict[str, Path]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    root = tmp_path_factory.mktemp("native")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEEL_ACTOR", "ana")
        init_project(root)
        project = open_project(root)
        flavours, paths = {}, {}
        for name, (model, flavour) in _models().items():
            keel.register(model, name, contract=Features, project=project)
            paths[name] = export_mlflow(name, root / "exports" / name, project=project)
            flavours[name] = flavour
        rng = np.random.default_rng(7)
        frame = pd.DataFrame({"x2": rng.uniform(0, 1, 40), "x1": rng.uniform(0, 1, 40)})
        yield Exported(project, root, frame, flavours, paths)  # columns out of contract order


def _python_without_keel(folder: Path) -> Path:
    """A virtual environment that sees this one's site-packages through a .pth file: MLflow
    and the frameworks import, Keel does not (the .pth files in that folder, Keel's editable
    install among them, are not processed when it is reached through a .pth line)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120
    )
    site = sysconfig.get_path("purelib")  # this interpreter's site-packages
    found = subprocess.run(
        [
            str(folder / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(found, "outer-site.pth").write_text(site + "\n", encoding="utf-8")
    return folder / "bin" / "python"


_SCRIPT = """
import json, sys
try:
    import keel
except ModuleNotFoundError:
    pass
else:
    sys.exit("keel is importable here: " + keel.__file__)
import warnings
warnings.simplefilter("ignore")
import mlflow.pyfunc
import numpy as np
import pandas as pd

cases, frame = json.loads(sys.stdin.read())
frame = pd.DataFrame(frame)
found = {}
for name, path in cases.items():
    loaded = mlflow.pyfunc.load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no advice on every call (feature names, dtypes)
        predicted = loaded.predict(frame)
    if isinstance(predicted, pd.DataFrame):
        found[name] = {c: predicted[c].tolist() for c in predicted.columns}
    else:
        found[name] = np.asarray(predicted).tolist()
assert not any(m == "keel" or m.startswith("keel.") for m in sys.modules), "keel was imported"
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def predicted_without_keel(
    exported: Exported, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    python = _python_without_keel(tmp_path_factory.mktemp("venv") / "nokeel")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cases = {name: str(path) for name, path in exported.paths.items()}
    frame = {c: exported.frame[c].tolist() for c in exported.frame.columns}
    done = subprocess.run(
        [str(python), "-c", _SCRIPT],
        input=json.dumps([cases, frame]),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path_factory.mktemp("elsewhere"),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.slow  # one subprocess for all: importing MLflow and skops there takes ~10 s
@pytest.mark.parametrize("name", ["sk-clf", "sk-pipe", "xgb-clf", "lgb-reg"])
def test_mlflow_predicts_what_keel_predicts_without_keel(
    exported: Exported, predicted_without_keel: dict[str, Any], name: str
) -> None:
    expected = keel.load(name, project=exported.project).predict(exported.frame)
    np.testing.assert_allclose(predicted_without_keel[name], expected, rtol=1e-6)


@pytest.mark.slow
def test_a_lightgbm_classifier_gives_the_boosters_probabilities(
    exported: Exported, predicted_without_keel: dict[str, Any]
) -> None:
    model = keel.load("lgb-clf", project=exported.project)
    proba = model.predict_proba(exported.frame)
    assert proba is not None
    np.testing.assert_allclose(predicted_without_keel["lgb-clf"], proba[:, 1], rtol=1e-6)
    meta = mlflow.models.Model.load(str(exported.paths["lgb-clf"]))
    classes = np.asarray(meta.metadata["classes"])  # the labels, for the MLflow side
    labels = classes[(np.asarray(predicted_without_keel["lgb-clf"]) > 0.5).astype(int)]
    np.testing.assert_array_equal(labels, model.predict(exported.frame))


@pytest.mark.slow
def test_an_onnx_export_gives_every_graph_output(
    exported: Exported, predicted_without_keel: dict[str, Any]
) -> None:
    model = keel.load("onnx-clf", project=exported.project)
    found = predicted_without_keel["onnx-clf"]
    np.testing.assert_array_equal(found["output_label"], model.predict(exported.frame))
    proba = model.predict_proba(exported.frame)
    assert proba is not None
    given = [[row[str(c)] for c in (0, 1)] for row in found["output_probability"]]
    np.testing.assert_allclose(given, proba, rtol=1e-5)


def test_the_mlmodel_names_the_native_flavour_and_not_keel(exported: Exported) -> None:
    for name, path in exported.paths.items():
        text = (path / "MLmodel").read_text(encoding="utf-8")
        assert "keel" not in text.lower(), name
        meta = yaml.safe_load(text)
        flavour = exported.flavours[name]
        assert set(meta["flavors"]) == {flavour, "python_function"}
        assert meta["flavors"]["python_function"]["loader_module"] == f"mlflow.{flavour}"
        assert mlflow_flavour(keel.load(name, project=exported.project).manifest.adapter) == (
            flavour
        )


def test_the_signature_and_example_come_from_the_contract(exported: Exported) -> None:
    meta = mlflow.models.Model.load(str(exported.paths["sk-clf"]))
    assert meta.signature.inputs.to_dict() == [
        {"type": "double", "name": "x1", "required": True},
        {"type": "double", "name": "x2", "required": True},
    ]
    assert meta.signature.outputs.to_dict() == [{"type": "long", "required": True}]
    assert meta.metadata == {
        "source": "sk-clf/1",
        "task": "classification",
        "classes": [0, 1],
        "contract": "contract.yaml",
    }
    example = meta.load_input_example(str(exported.paths["sk-clf"]))
    assert list(example.columns) == ["x1", "x2"]
    assert Features.check(example).passed  # rows the contract accepts
    lgb_outputs = mlflow.models.Model.load(str(exported.paths["lgb-reg"])).signature.outputs
    assert lgb_outputs.to_dict() == [{"type": "double", "required": True}]


def test_requirements_pin_mlflow_and_the_framework_and_not_keel(exported: Exported) -> None:
    from importlib.metadata import version

    expected = {
        "sk-clf": {"scikit-learn", "skops"},
        "xgb-clf": {"xgboost-cpu"},
        "lgb-clf": {"lightgbm"},
        "onnx-clf": {"onnxruntime", "onnx"},
    }
    for name, frameworks in expected.items():
        lines = (exported.paths[name] / "requirements.txt").read_text().split()
        pins = dict(line.split("==") for line in lines)
        assert set(pins) == {"mlflow-skinny", *frameworks}, name
        assert all(pins[p] == version(p) for p in pins), name


@pytest.mark.parametrize(
    ("name", "adapter"),
    [("sk-clf", "sklearn"), ("xgb-clf", "xgboost"), ("lgb-clf", "lightgbm"), ("onnx-clf", "onnx")],
)
def test_import_back_keeps_the_contract_and_its_checks(
    exported: Exported, name: str, adapter: str
) -> None:
    back = import_mlflow(exported.paths[name], f"{name}-back", project=exported.project)
    assert back.adapter == adapter  # read from its data format: no trust asked
    loaded = keel.load(f"{name}-back", project=exported.project)
    original = keel.load(name, project=exported.project)
    assert loaded.input_contract == original.input_contract
    assert loaded.input_contract is not None
    assert loaded.input_contract.column("x1").constraints() == {"ge": 0, "le": 1}
    np.testing.assert_array_equal(loaded.predict(exported.frame), original.predict(exported.frame))


def _wide_onnx() -> Any:
    """x (n, 2) -> mean of x @ W over 300 columns: W is large enough to be kept apart."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(2).normal(size=(2, 300)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("ReduceMean", ["h"], ["y"], axes=[1], keepdims=1),
        ],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model, weights


def test_an_onnx_model_with_external_tensors_imports_and_a_path_out_is_refused(
    exported: Exported, tmp_path: Path
) -> None:
    import onnx

    proto, weights = _wide_onnx()
    source = tmp_path / "onnx-model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.onnx.save_model(proto, str(source))  # MLflow's default: large tensors apart
    kept_apart = sorted(p.name for p in source.iterdir() if p.suffix not in (".onnx", ".txt"))
    assert len(kept_apart) > len(["MLmodel", "conda.yaml", "python_env.yaml"])
    version = import_mlflow(source, "wide", project=exported.project)
    assert version.adapter == "onnx"
    rows = np.array([[0.5, 1.0], [2.0, -1.0]])
    np.testing.assert_allclose(
        keel.load("wide", project=exported.project).predict(rows),
        (rows @ weights).mean(axis=1),
        rtol=1e-5,
    )

    stored = onnx.load(str(source / "model.onnx"), load_external_data=False)
    for entry in stored.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../elsewhere/weights"  # a tensor read from outside the directory
    (source / "model.onnx").write_bytes(stored.SerializeToString())
    with pytest.raises(UnsafePathError, match="elsewhere/weights"):
        import_mlflow(source, "evil", project=exported.project)
    assert "evil" not in {m.name for m in exported.project.metadata.models.models()}


def test_without_mlflow_a_native_export_says_what_to_install(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.sklearn", None)  # as if MLflow were absent
    with pytest.raises(MissingDependencyError, match="mlflow") as caught:
        export_mlflow("sk-clf", exported.root / "no-mlflow", project=exported.project)
    assert "pip install 'mlkeel[mlflow]'" in str(caught.value.hint)
    assert not (exported.root / "no-mlflow").exists()
    keel_flavour = export_mlflow(  # Keel's own flavour needs no MLflow to be written
        "sk-clf", exported.root / "keel-flavour", project=exported.project, flavour="keel"
    )
    assert (keel_flavour / "keel-model").is_dir()
    with pytest.raises(UsageError, match="flavour 'pytorch'"):
        export_mlflow("sk-clf", exported.root / "x", project=exported.project, flavour="pytorch")


def test_an_mlflow_without_skops_is_refused_rather_than_writing_a_pickle(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.sklearn

    monkeypatch.delattr(mlflow.sklearn, "SERIALIZATION_FORMAT_SKOPS")  # as MLflow 2 has it
    with pytest.raises(UsageError, match="only as pickles") as caught:
        export_mlflow("sk-clf", exported.root / "old-mlflow", project=exported.project)
    assert "--flavour keel" in str(caught.value.hint)
    assert not (exported.root / "old-mlflow").exists()


class Doubler:
    """A plain model: no native MLflow flavour fits it."""

    def predict(self, X: Any) -> Any:  # noqa: N803 (ML convention)
        return np.asarray(X)[:, 0] * 2


def test_cli_says_which_flavour_it_wrote(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(exported.root)
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    done = runner.invoke(app, ["models", "export", "xgb-clf", "cli/xgb"])
    assert done.exit_code == 0, done.output
    assert "MLflow's xgboost flavour: loads without Keel" in done.output
    assert "xgb-clf/1" in done.output
    keel.register(Doubler(), "doubler", contract=Features, trusted=True, project=exported.project)
    done = runner.invoke(app, ["models", "export", "doubler", "cli/doubler", "--trusted"])
    assert done.exit_code == 0, done.output
    assert "Keel's flavour, none native for callable models: loading it needs Keel" in (
        " ".join(done.output.split())
    )
    meta = yaml.safe_load((exported.root / "cli" / "doubler" / "MLmodel").read_text())
    assert "keel" in meta["flavors"]
