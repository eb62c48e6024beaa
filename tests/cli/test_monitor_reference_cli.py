"""keel data add stores a tabular version's profile; keel monitor reference set|show; and
keel monitor compare against model:NAME@ALIAS and data:NAME/3 as against the raw data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.registry import set_alias

runner = CliRunner()

CONTRACT = """\
keel: 1
name: features
columns:
  income: {type: float}
  tenure: {type: float}
"""


class Features(keel.Schema):
    income: float
    tenure: float


def _data(rows: int, seed: int, *, shift: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, rows) * (1.5 if shift else 1.0),
            "tenure": rng.uniform(0, 120, rows),
            "region": rng.choice(["n", "s"], rows, p=[0.2, 0.8] if shift else [0.6, 0.4]),
        }
    )


def _same(stored: dict[str, Any], raw: dict[str, Any]) -> None:
    """The same verdicts and flags; scores equal up to float rounding (the two sides' moments
    are summed in a different order)."""
    assert (stored["drifted"], stored["share"]) == (raw["drifted"], raw["share"])
    assert stored["reference_rows"] == raw["reference_rows"]
    assert [(c["column"], c["method"], c["drifted"]) for c in stored["columns"]] == [
        (c["column"], c["method"], c["drifted"]) for c in raw["columns"]
    ]
    for a, b in zip(stored["columns"], raw["columns"], strict=True):
        for key in ("score", "low", "high", "p_value"):
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    _data(5_000, 1).write_parquet(tmp_path / "train.parquet")
    _data(2_000, 2, shift=True).write_parquet(tmp_path / "today.parquet")
    return tmp_path


def _register() -> None:
    train = _data(300, 1)
    model = LogisticRegression().fit(
        train.select("income", "tenure").to_numpy(), (train["region"] == "n").to_numpy()
    )
    keel.register(model, "churn", contract=Features)
    set_alias("churn", "champion", 1)


def _json(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_data_add_stores_the_profile_of_tabular_data(project: Path) -> None:
    added = _json("data", "add", "train.parquet", "--name", "train")
    shown = _json("monitor", "reference", "show", "data:train")
    assert (shown["subject"], shown["name"], shown["version"]) == ("dataset", "train", 1)
    assert shown["rows"] == added["rows"] == 5_000
    assert shown["columns"] == ["income", "tenure", "region"]
    assert shown["source"] == str((project / "train.parquet").resolve())
    assert shown["profile"]["rows"] == 5_000
    assert shown["inherited_from"] is None
    table = runner.invoke(app, ["monitor", "reference", "show", "data:train/1"])
    assert table.exit_code == 0, table.output
    assert "dataset train/1: reference profile of 5,000 rows" in table.stdout
    assert "region" in table.stdout
    again = runner.invoke(app, ["data", "add", "train.parquet", "--name", "train"])
    assert again.exit_code == 0, again.output
    assert "train/1:" in again.stdout  # unchanged: the same version, its profile kept
    assert "profiled" in again.stdout


def test_no_profile_skips_it_and_non_tabular_data_is_skipped_silently(project: Path) -> None:
    _json("data", "add", "train.parquet", "--name", "train", "--no-profile")
    missing = runner.invoke(app, ["monitor", "reference", "show", "data:train"])
    assert missing.exit_code == 2
    assert "dataset train has no reference profile" in missing.stderr
    assert "keel monitor reference set data:train" in missing.stderr
    set_ = _json("monitor", "reference", "set", "data:train")  # from the version's own files
    assert set_["rows"] == 5_000
    (project / "images").mkdir()
    (project / "images" / "a.png").write_bytes(b"\x89PNG")
    result = runner.invoke(app, ["data", "add", "images", "--name", "images"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "profiled" not in result.stdout


def test_set_and_show_a_model_reference_then_compare_with_it(project: Path) -> None:
    _register()
    stored = _json("monitor", "reference", "set", "churn@champion", "train.parquet")
    assert (stored["subject"], stored["name"], stored["version"]) == ("model", "churn", 1)
    # the model's input contract, and its answers on the reference (prediction drift)
    assert stored["columns"] == ["income", "tenure", "prediction", "score"]
    assert _json("monitor", "reference", "show", "model:churn/1") == stored
    via_model = _json("monitor", "compare", "model:churn@champion", "today.parquet", code=1)
    raw = _json(
        "monitor", "compare", "train.parquet", "today.parquet", "--contract", "contract.yaml",
        code=1,
    )  # fmt: skip
    _same(via_model, raw)
    assert [c["column"] for c in via_model["columns"] if c["drifted"]] == ["income"]


def test_compare_with_a_dataset_version_equals_compare_with_its_file(project: Path) -> None:
    _json("data", "add", "train.parquet", "--name", "train")
    via_data = _json("monitor", "compare", "data:train/1", "today.parquet", code=1)
    _same(via_data, _json("monitor", "compare", "train.parquet", "today.parquet", code=1))
    assert {c["column"] for c in via_data["columns"] if c["drifted"]} == {"income", "region"}
    sliced = _json("monitor", "compare", "data:train", "today.parquet", "--slice", "region",
                   code=1)  # fmt: skip
    assert set(sliced["slices"]) == {"region=n", "region=s"}


def test_errors_exit_2_and_say_what_to_do(project: Path) -> None:
    unknown = runner.invoke(app, ["monitor", "reference", "set", "nosuch", "train.parquet"])
    assert unknown.exit_code == 2
    assert "no model 'nosuch'" in unknown.stderr
    _register()
    _data(10, 1).drop("tenure").write_parquet(project / "bad.parquet")
    lacking = runner.invoke(app, ["monitor", "reference", "set", "churn", "bad.parquet"])
    assert lacking.exit_code == 2
    assert "lacks column(s) tenure" in lacking.stderr
    no_data = runner.invoke(app, ["monitor", "reference", "set", "churn"])
    assert no_data.exit_code == 2
    assert "needs reference data" in no_data.stderr
    none = runner.invoke(app, ["monitor", "compare", "model:churn/1", "today.parquet"])
    assert none.exit_code == 2
    assert "model:churn/1 has no reference profile" in none.stderr
    assert "keel monitor reference set churn/1 TRAINING_DATA" in none.stderr
    version = runner.invoke(app, ["monitor", "compare", "model:churn/9", "today.parquet"])
    assert version.exit_code == 2
    assert "has no version 9" in version.stderr
