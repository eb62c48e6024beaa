"""MLflow interop: registered versions export as MLflow model directories that
``mlflow.pyfunc.load_model`` loads (Keel's flavour: verified; the native flavours are in
test_mlflow_native.py), and MLflow sklearn and pyfunc models import into the registry,
pickles only with trust. No MLflow server is involved."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

import keel
from keel.config import init_project
from keel.errors import InputError, UsageError
from keel.models import ModelPackageError
from keel.registry._mlflow import export_mlflow, import_mlflow
from keel.tracking import Project, open_project

with warnings.catch_warnings():  # MLflow warns about its own type hints when imported
    warnings.simplefilter("ignore")
    import mlflow.models
    import mlflow.pyfunc
    import mlflow.sklearn


class Doubler(mlflow.pyfunc.PythonModel):
    """A custom MLflow model: twice x1 plus x2."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.Series:
        return model_input["x1"] * 2 + model_input["x2"]


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's advice while saving (add an input example, add type hints) is not under test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)


class Mixed(keel.Schema):
    n: int
    x: float
    flag: bool
    label: str
    kind: keel.Categorical
    day: dt.date | None


class Identity:
    """A plain model with predict: returns its first column."""

    def predict(self, X: Any) -> Any:  # noqa: N803 (ML convention)
        return np.asarray(X)[:, 0]


def _data(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=rows) > 0.5).astype(int)
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]}), y


def _model() -> LogisticRegression:
    frame, y = _data()
    return LogisticRegression().fit(frame.to_numpy(), y)


def _save_sklearn(model: Any, path: Path, *, fmt: str) -> None:
    frame, _ = _data(20, seed=3)
    signature = mlflow.models.infer_signature(frame, model.predict(frame.to_numpy()))
    with _quiet():
        mlflow.sklearn.save_model(model, str(path), serialization_format=fmt, signature=signature)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    init_project(tmp_path)
    return open_project(tmp_path)


def test_a_keel_flavour_export_loads_in_mlflow_and_predicts_as_keel(
    project: Project, tmp_path: Path
) -> None:
    model = _model()
    keel.register(model, "churn", contract=Features, project=project)
    dest = export_mlflow("churn", tmp_path / "export", project=project, flavour="keel")
    assert sorted(p.name for p in dest.iterdir()) == [
        "MLmodel",
        "conda.yaml",
        "keel-model",
        "python_env.yaml",
        "requirements.txt",
    ]
    frame, _ = _data(30, seed=1)
    loaded = mlflow.pyfunc.load_model(str(dest))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame.to_numpy()))
    np.testing.assert_array_equal(
        loaded.predict(frame), keel.load("churn", project=project).predict(frame)
    )
    meta = mlflow.models.Model.load(str(dest))
    assert meta.signature.inputs.input_names() == ["x1", "x2"]
    assert meta.flavors["python_function"]["loader_module"] == "keel.registry._mlflow"
    requirements = (dest / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("mlkeel==") for r in requirements)
    assert any(r.startswith("scikit-learn==") for r in requirements)
    env = yaml.safe_load((dest / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]


def test_an_export_is_verified_when_mlflow_loads_it(project: Project, tmp_path: Path) -> None:
    keel.register(_model(), "churn", contract=Features, project=project)
    dest = export_mlflow("churn", tmp_path / "export", project=project, flavour="keel")
    model_file = dest / "keel-model" / "model.skops"
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    with pytest.raises(ModelPackageError, match="does not match its recorded digest"):
        mlflow.pyfunc.load_model(str(dest))


def test_export_refuses_a_folder_with_files(project: Project, tmp_path: Path) -> None:
    keel.register(_model(), "churn", contract=Features, project=project)
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not an empty folder"):
        export_mlflow("churn", dest, project=project)
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    (dest / "notes.txt").unlink()
    assert export_mlflow("churn", dest, project=project) == dest  # an empty folder is fine


def test_the_signature_maps_every_contract_type(project: Project, tmp_path: Path) -> None:
    sample = np.zeros((3, 6))  # Keel models read numbers: the smoke test gets an array
    keel.register(Identity(), "plain", contract=Mixed, sample=sample, trusted=True, project=project)
    with pytest.raises(UsageError, match="trusted=True"):
        export_mlflow("plain", tmp_path / "refused", project=project)
    dest = export_mlflow("plain", tmp_path / "export", project=project, trusted=True)
    inputs = mlflow.models.Model.load(str(dest)).signature.inputs.to_dict()
    assert [(c["name"], c["type"], c["required"]) for c in inputs] == [
        ("n", "long", True),
        ("x", "double", True),
        ("flag", "boolean", True),
        ("label", "string", True),
        ("kind", "string", True),
        ("day", "datetime", False),
    ]


def test_a_pickled_sklearn_model_imports_only_with_trust(project: Project, tmp_path: Path) -> None:
    model = _model()
    source = tmp_path / "mlflow-model"
    _save_sklearn(model, source, fmt="pickle")
    with pytest.raises(UsageError, match="is a pickle; pass trusted=True"):
        import_mlflow(source, "churn", project=project)
    assert project.metadata.models.models() == []
    version = import_mlflow(source, "churn", trusted=True, description="v1", project=project)
    assert (version.version, version.adapter) == (1, "sklearn")
    assert version.description is not None
    assert version.description.startswith("v1 (imported from MLflow: ")
    assert str(source) in version.description
    loaded = keel.load("churn", project=project)  # stored with skops: no trust needed now
    assert loaded.columns == ("x1", "x2")
    assert not any(name.endswith(".pkl") for name in loaded.manifest.files)
    frame, _ = _data(30, seed=2)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame.to_numpy()))


def test_a_skops_sklearn_model_imports_without_trust(project: Project, tmp_path: Path) -> None:
    model = _model()
    source = tmp_path / "mlflow-model"
    _save_sklearn(model, source, fmt="skops")
    version = import_mlflow(source, "churn", project=project)
    assert version.description is not None
    assert version.description.startswith("Imported from MLflow")
    frame, _ = _data(30, seed=2)
    proba = keel.load("churn", project=project).predict_proba(frame)
    assert proba is not None
    np.testing.assert_allclose(proba, model.predict_proba(frame.to_numpy()))


def test_the_contract_follows_the_columns_the_estimator_was_fitted_on(
    project: Project, tmp_path: Path
) -> None:
    frame, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when Keel feeds arrays by position
        model = LogisticRegression().fit(frame, y)
        reordered = frame[["x2", "x1"]]  # the signature lists x2 first
        signature = mlflow.models.infer_signature(reordered, model.predict(frame))
        source = tmp_path / "mlflow-model"
        mlflow.sklearn.save_model(model, str(source), signature=signature)
        import_mlflow(source, "churn", project=project)
        loaded = keel.load("churn", project=project)
        assert loaded.columns == ("x1", "x2")
        np.testing.assert_array_equal(loaded.predict(reordered), model.predict(frame))

    class Other(keel.Schema):
        a: float
        b: float

    with pytest.raises(UsageError, match="fitted on the columns x1, x2"):
        import_mlflow(source, "other", contract=Other, project=project)


def test_a_pyfunc_model_imports_with_trust(project: Project, tmp_path: Path) -> None:
    source = tmp_path / "pyfunc-model"
    frame, _ = _data(20, seed=4)
    signature = mlflow.models.infer_signature(frame, (frame["x1"] * 2).to_numpy())
    with _quiet():
        mlflow.pyfunc.save_model(str(source), python_model=Doubler(), signature=signature)
    with pytest.raises(UsageError, match="runs its own code"):
        import_mlflow(source, "doubler", project=project)
    assert project.metadata.models.models() == []
    version = import_mlflow(source, "doubler", trusted=True, project=project)
    assert version.adapter == "callable"
    with pytest.raises(UsageError, match="trusted=True"):
        keel.load("doubler", project=project)
    loaded = keel.load("doubler", trusted=True, project=project)
    assert loaded.columns == ("x1", "x2")
    with _quiet():
        predicted = loaded.predict(frame)
    np.testing.assert_allclose(predicted, frame["x1"] * 2 + frame["x2"])


def test_round_trip_export_then_import(project: Project, tmp_path: Path) -> None:
    model = _model()
    original = keel.register(model, "churn", contract=Features, project=project)
    dest = export_mlflow("churn/1", tmp_path / "export", project=project, flavour="keel")
    back = import_mlflow(dest, "churn-back", project=project)  # the Keel package: no trust
    assert back.manifest == original.manifest  # registered unchanged, file for file
    frame, _ = _data(30, seed=5)
    np.testing.assert_array_equal(
        keel.load("churn-back", project=project).predict(frame), model.predict(frame.to_numpy())
    )
    with pytest.raises(UsageError, match="brings its own contract"):
        import_mlflow(dest, "again", contract=Features, project=project)


def test_import_reports_what_it_cannot_read(project: Project, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no MLmodel file"):
        import_mlflow(tmp_path, "nothing", project=project)
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  tensorflow: {}\n")
    with pytest.raises(UsageError, match="has the flavour\\(s\\) tensorflow"):
        import_mlflow(folder, "odd", project=project)
    with pytest.raises(UsageError, match="cannot name a model"):
        import_mlflow(folder, "a/b", project=project)


def _keel(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keel", "models", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "KEEL_ACTOR": "ci", "NO_COLOR": "1"},
        check=False,
    )


def test_cli_export_and_import(project: Project, tmp_path: Path) -> None:
    model = _model()
    keel.register(model, "churn", contract=Features, project=project)
    done = _keel(tmp_path, "export", "churn", "out/churn-mlflow", "--format", "mlflow")
    assert done.returncode == 0, done.stderr
    assert "churn-mlflow" in done.stdout
    assert "MLflow's sklearn flavour" in done.stdout
    assert (tmp_path / "out" / "churn-mlflow" / "MLmodel").is_file()
    again = _keel(tmp_path, "export", "churn", "out/churn-mlflow")
    assert again.returncode == 2
    assert "not an empty folder" in again.stderr
    other = _keel(tmp_path, "export", "churn", "out/x", "--format", "onnx")
    assert other.returncode == 2
    assert "--format mlflow" in other.stderr

    source = tmp_path / "pickled"
    _save_sklearn(model, source, fmt="pickle")
    refused = _keel(tmp_path, "import", str(source), "--name", "imported")
    assert refused.returncode == 2
    assert "pass trusted=True (--trusted)" in refused.stderr
    done = _keel(
        tmp_path, "import", str(source), "--name", "imported", "--trusted", "--description", "hi"
    )
    assert done.returncode == 0, done.stderr
    assert "Registered imported version 1 (sklearn)" in done.stdout
    version = project.metadata.models.get_version("imported")
    assert version.description is not None
    assert version.description.startswith("hi (imported from MLflow")
