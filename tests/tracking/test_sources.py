"""One way to accept data: validation, profiles, drift, evaluation and gates each take a path,
a glob, a dataset reference or a Polars/pandas/PyArrow/DuckDB frame, and answer the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

import keel
from keel.config import init_project
from keel.errors import UsageError
from keel.monitor import compare, profile, reference_bins
from keel.registry import evaluate_model, gate
from keel.tracking import (
    add_dataset,
    dataset_reference,
    local_source,
    open_project,
    open_source,
)
from tests.conftest import CONSTRUCTORS


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=0.9)  # some rows break it: the answer has something in it
    x2: float = keel.Field(ge=0, le=1)


class Inputs(keel.Schema):
    x1: float
    x2: float


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, 2))
    y = (x[:, 0] + 0.2 * rng.normal(size=rows) > 0.5).astype(int)
    return pl.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": y})


def _version_ref(name: str, version: int) -> str:
    return f"{name}/{version}"


HOLDOUT = _frame(400, 2)
Form = Callable[[Path], Any]
FORMS: dict[str, Form] = {
    "path": lambda root: str(root / "holdout.parquet"),
    "glob": lambda root: str(root / "parts" / "*.parquet"),
    "dataset": lambda root: _version_ref("holdout", 1),
    "data-prefix": lambda root: "data:holdout",
    **{name: (lambda root, c=c: c(HOLDOUT)) for name, c in CONSTRUCTORS.items() if name != "dask"},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources")
    init_project(root)
    project = open_project(root)
    train = _frame(1000, 1)
    model = LogisticRegression().fit(train.select("x1", "x2").to_numpy(), train["label"])
    keel.register(model, "risk", contract=Inputs, project=project)
    HOLDOUT.write_parquet(root / "holdout.parquet")
    (root / "parts").mkdir()
    HOLDOUT.head(150).write_parquet(root / "parts" / "a.parquet")
    HOLDOUT.tail(250).write_parquet(root / "parts" / "b.parquet")
    (root / "data").mkdir()
    HOLDOUT.write_parquet(root / "data" / "holdout.parquet")
    add_dataset(root / "data" / "holdout.parquet", "holdout", project=project)
    return root


def _validate(root: Path, source: Any) -> Any:
    report = Features.check(local_source(source, project=open_project(root)), examples=0)
    return report.rows, [(c.name, c.status, c.failures) for c in report.checks]


def _profile(root: Path, source: Any) -> Any:
    bins = reference_bins(HOLDOUT, columns=["x1", "x2"])
    found = profile(source, bins)
    return found.rows, {name: list(c.counts) for name, c in found.columns.items()}


def _compare(root: Path, source: Any) -> Any:
    result = compare(_frame(300, 9), source, project=open_project(root))
    return [(c.column, round(c.score, 12)) for c in result.columns]


def _evaluate(root: Path, source: Any) -> Any:
    _, found = evaluate_model(
        "risk/1", source, target="label", n_boot=20, project=open_project(root)
    )
    return {name: m.value for name, m in found.metrics.items()}


def _gate(root: Path, source: Any) -> Any:
    outcome = gate("risk", candidate=1, data=source, target="label", project=open_project(root))
    return outcome.passed, [(c.name, c.passed, c.detail) for c in outcome.checks]


USERS = {
    "validate": _validate,
    "profile": _profile,
    "compare": _compare,
    "evaluate": _evaluate,
    "gate": _gate,
}


@pytest.mark.parametrize("user", list(USERS))
def test_every_user_of_data_answers_the_same_for_every_form(
    user: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)  # profile opens the current project for a dataset reference
    ask = USERS[user]
    expected = ask(root, HOLDOUT)
    for form, make in FORMS.items():
        assert ask(root, make(root)) == expected, form


def test_a_dataset_is_restored_once_and_read_lazily(root: Path) -> None:
    project = open_project(root)
    first = local_source(_version_ref("holdout", 1), project=project)
    assert isinstance(first, Path)
    assert first.is_relative_to(root / ".keel")
    assert local_source(_version_ref("holdout", 1), project=project) == first
    frame = open_source(_version_ref("holdout", 1), project=project)
    assert isinstance(frame, pl.LazyFrame)
    assert frame.collect().equals(HOLDOUT)


def test_what_counts_as_a_dataset_reference(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    ref = _version_ref("holdout", 1)
    assert str(dataset_reference(ref)) == ref
    assert str(dataset_reference("data:holdout")) == "holdout"
    assert dataset_reference("holdout.parquet") is None  # an existing path wins
    assert dataset_reference("parts/*.parquet") is None
    assert dataset_reference("holdout") is None  # no version, no prefix: a (missing) path


def test_something_that_is_no_data_is_refused(root: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot read data of type builtins\.dict"):
        open_source({"x1": [1.0]})


def test_the_commands_take_a_dataset_reference(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from keel.cli import app

    monkeypatch.chdir(root)
    (root / "features.yaml").write_text(Features.to_yaml())
    runner = CliRunner()
    by_path = runner.invoke(app, ["validate", "features.yaml", "holdout.parquet", "-f", "json"])
    by_ref = runner.invoke(app, ["validate", "features.yaml", "data:holdout", "-f", "json"])
    assert (by_path.exit_code, by_ref.exit_code) == (1, 1)  # x1 > 0.9 in some rows
    failures = [json.loads(r.stdout)["errors"] for r in (by_path, by_ref)]
    assert failures[0] == failures[1] > 0
    drift = runner.invoke(
        app, ["monitor", "compare", _version_ref("holdout", 1), "holdout.parquet", "-f", "json"]
    )
    assert drift.exit_code == 0, drift.output
    evaluated = runner.invoke(
        app,
        [
            *("models", "evaluate", "risk/1", "--data", "data:holdout", "--target", "label"),
            *("--n-boot", "10", "-f", "json"),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
