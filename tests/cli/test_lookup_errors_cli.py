"""A misspelled name is an unknown name with a did-you-mean, wherever a name is looked up:
the model of keel monitor check/report, the --slice column of monitor compare, monitor report
and models evaluate."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project
from keel.monitor import PredictionLog
from keel.tracking import open_project
from tests.monitor._served import fit, register, traffic, training, write

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Model churn, registered and served for two hours; its training data with labels."""
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = open_project(tmp_path)
    model = fit()
    register(project, model)
    write(project, *(traffic(model, hour=h, rows=200, seed=h) for h in range(2)))
    frame, y = training()
    frame.with_columns(label=pl.Series(y)).write_parquet(tmp_path / "train.parquet")
    return tmp_path


def _said(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    return " ".join(result.stderr.split())


@pytest.mark.parametrize("command", ["check", "report"])
def test_monitoring_an_unknown_model_names_the_closest_one(served: Path, command: str) -> None:
    said = _said(["monitor", command, "chrun", "--reference", "train.parquet"])
    assert "unknown model 'chrun': it is not registered and has no prediction log" in said
    assert "Hint: Did you mean 'churn'?" in said
    assert "has no predictions" not in said
    assert "keel serve chrun" not in said  # never suggest serving the typo


def test_a_logged_model_that_is_not_registered_is_suggested_too(served: Path) -> None:
    log = PredictionLog(open_project(served).artifacts, "fraud")
    log.append(traffic(fit(), hour=0, rows=50, seed=9))
    said = _said(["monitor", "check", "frau", "--reference", "train.parquet"])
    assert "Did you mean 'fraud'?" in said


def test_a_registered_model_never_served_still_says_it_has_no_predictions(
    served: Path,
) -> None:
    import keel
    from tests.monitor._served import Features

    keel.register(fit(), "fresh", contract=Features, project=open_project(served))
    said = _said(["monitor", "check", "fresh", "--reference", "train.parquet"])
    assert "has no predictions" in said


def test_compare_slice_by_an_unknown_column(served: Path) -> None:
    said = _said(["monitor", "compare", "train.parquet", "train.parquet", "--slice", "staet"])
    assert "cannot slice by 'staet'" in said
    assert "Did you mean 'state'?" in said


def test_report_slice_by_an_unknown_column(served: Path) -> None:
    args = ["monitor", "report", "churn", "--reference", "train.parquet", "--slice", "staet"]
    said = _said(args)
    assert "cannot slice by 'staet'" in said
    assert "Did you mean 'state'?" in said


def test_evaluate_slice_by_an_unknown_column(served: Path) -> None:
    args = ["models", "evaluate", "churn", "--data", "train.parquet", "--target", "label"]
    said = _said([*args, "--slice", "staet", "--n-boot", "0"])
    assert "cannot slice by staet: no such column" in said
    assert "Did you mean 'state'?" in said


def test_column_names_and_values_with_brackets_are_printed_literally(served: Path) -> None:
    frame = pl.read_parquet(served / "train.parquet")
    frame.rename({"x2": "x2[raw]"}).write_parquet(served / "odd.parquet")
    tagged = frame.with_columns(state=pl.concat_str(pl.lit("[bold]"), pl.col("state")))
    tagged.write_parquet(served / "tagged.parquet")
    compared = runner.invoke(app, ["monitor", "compare", "odd.parquet", "odd.parquet"])
    assert compared.exit_code == 0, compared.output
    assert "x2[raw]" in compared.stdout
    args = ["models", "evaluate", "churn", "--data", "tagged.parquet", "--target", "label"]
    evaluated = runner.invoke(app, [*args, "--slice", "state", "--n-boot", "0"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "state = [bold]CA" in evaluated.stdout
    assert "[nan," in evaluated.stdout  # no bootstrap: the interval is unknown, not hidden
