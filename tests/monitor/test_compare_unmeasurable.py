"""``monitor compare`` on data it cannot measure says so: a side without rows is an error
(exit 2), a column with no value on either side is a data-quality finding (exit 1), and
neither is ever reported as "no drift"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.errors import InputError
from keel.monitor import QualityFinding, compare

runner = CliRunner()


def _frame(rows: int = 400, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.normal(size=rows),
            "plan": rng.choice(["free", "pro"], rows).tolist(),
        }
    )


def _nulled(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return frame.with_columns(pl.lit(None, dtype=frame.schema[column]).alias(column))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    _frame().write_parquet("ref.parquet")
    _frame(seed=1).head(0).write_parquet("empty.parquet")
    _nulled(_frame(seed=1), "y").write_parquet("null_y.parquet")
    return tmp_path


# -- zero rows ---------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["reference", "current"])
def test_a_side_without_rows_is_an_input_error(side: str) -> None:
    full, empty = _frame(), _frame(seed=1).head(0)
    pair = (empty, full) if side == "reference" else (full, empty)
    with pytest.raises(InputError, match=f"the {side} data has no rows"):
        compare(*pair)


@pytest.mark.parametrize(
    ("args", "side"),
    [
        (["ref.parquet", "empty.parquet"], "current"),
        (["empty.parquet", "ref.parquet"], "reference"),
    ],
)
def test_cli_exits_2_on_zero_rows(files: Path, args: list[str], side: str) -> None:
    for fmt in ("table", "json"):
        result = runner.invoke(app, ["monitor", "compare", *args, "--format", fmt])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: the {side} data (empty.parquet) has no rows")
        assert "Hint:" in result.stderr
        assert "no drift" not in result.output


# -- columns without values --------------------------------------------------------------------
@pytest.mark.parametrize("side", ["reference", "current"])
@pytest.mark.parametrize("column", ["y", "plan"])
def test_an_all_null_column_is_a_finding_on_either_side(side: str, column: str) -> None:
    full, nulled = _frame(), _nulled(_frame(seed=1), column)
    result = compare(*((nulled, full) if side == "reference" else (full, nulled)))
    assert result.findings == [
        QualityFinding(
            column,
            side,  # type: ignore[arg-type]
            "all_null",
            400,
            400,
            f"column {column!r} of the {side} data is entirely null (400 of 400 rows null or "
            "NaN): its drift cannot be measured.",
        )
    ]
    assert not result.passed
    assert not result.drifted  # nothing drifted: something could not be measured
    data = result.to_dict()
    assert data["passed"] is False
    assert data["findings"] == [f.to_dict() for f in result.findings]
    assert data["findings"][0]["kind"] == "all_null"


def test_columns_without_a_value_of_any_kind() -> None:
    reference = _frame().with_columns(
        pl.Series("none", [None] * 400),  # type Null: was skipped with a warning
        pl.lit(float("inf")).alias("inf"),
        pl.lit(float("nan")).alias("nan"),
    )
    current = _frame(seed=1).with_columns(
        pl.lit(1.0).alias("none"), pl.lit(1.0).alias("inf"), pl.lit(1.0).alias("nan")
    )
    assert reference.schema["none"] == pl.Null
    found = {f.column: f.kind for f in compare(reference, current).findings}
    assert found == {"none": "all_null", "inf": "no_finite_values", "nan": "all_null"}


def test_an_empty_csv_column_is_all_null_not_a_type_error(tmp_path: Path) -> None:
    _frame().write_csv(tmp_path / "ref.csv")
    _nulled(_frame(seed=1), "y").write_csv(tmp_path / "cur.csv")  # reads back as text
    assert pl.read_csv(tmp_path / "cur.csv").schema["y"] == pl.String
    result = compare(tmp_path / "ref.csv", tmp_path / "cur.csv")
    assert [(f.column, f.side, f.kind) for f in result.findings] == [("y", "current", "all_null")]


def test_a_healthy_comparison_has_no_finding() -> None:
    result = compare(_frame(), _frame(seed=1))
    assert result.findings == []
    assert result.passed
    assert result.to_dict()["findings"] == []


def test_cli_reports_the_finding_and_exits_1(files: Path) -> None:
    table = runner.invoke(
        app, ["monitor", "compare", "ref.parquet", "null_y.parquet", "--html", "r.html"]
    )
    assert table.exit_code == 1, table.output
    assert "no drift" not in table.stdout
    assert "1 of 3 column(s) could not be compared" in table.stdout
    assert "not measured" in table.stdout
    assert "column 'y' of the current data is entirely null" in table.stdout
    assert "column &#x27;y&#x27; of the current data is entirely null" in Path("r.html").read_text()
    assert "<strong>no drift</strong>" not in Path("r.html").read_text()

    done = runner.invoke(
        app, ["monitor", "compare", "null_y.parquet", "ref.parquet", "--format", "json"]
    )
    assert done.exit_code == 1
    data = json.loads(done.stdout)
    assert data["drifted"] is False
    assert data["passed"] is False
    assert [(f["column"], f["side"], f["kind"]) for f in data["findings"]] == [
        ("y", "reference", "all_null")
    ]
