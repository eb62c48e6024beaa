"""keel monitor report includes the training-serving skew when the model serves features."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from keel.cli import app
from keel.monitor import monitor_report_html, report
from tests.features.conftest import project  # noqa: F401  # the fixture
from tests.features.test_skew import planted  # noqa: F401  # the fixture

runner = CliRunner()


def _reference(root: Path) -> Path:
    """Training data of the model's inputs (the features), its drift reference."""
    path = root / "train.parquet"
    pl.DataFrame(
        {"credit_score": [600.0, 650.0, 700.0, 500.0], "open_loans": [0, 1, 2, 3]}
    ).write_parquet(path)
    return path


def test_a_skew_that_cannot_be_measured_says_why_and_the_report_stands(
    planted: Path,  # noqa: F811
) -> None:
    # features were logged, but the model's version names no feature service to replay
    result = report(
        "churn",
        reference=str(_reference(planted)),
        since="2024-01-01",
        until="2024-01-05",
        window="1d",
    )
    assert result.rows == 4
    assert len(result.windows) == 4
    assert result.to_dict()["skew"] == {
        "error": "version(s) 1 of model 'churn' name no feature service in the registry, "
        "but their logged rows hold features.",
        "hint": "Pass the service they were served with: --service NAME.",
    }
    assert "Skew not measured: version(s) 1" in monitor_report_html(result)
    args = ["monitor", "report", "churn", "--since", "2024-01-01", "--until", "2024-01-05"]
    shown = runner.invoke(app, [*args, "--window", "1d", "--reference", str(_reference(planted))])
    assert shown.exit_code == 0, shown.output
    assert "skew not measured: version(s) 1 of model 'churn'" in shown.stdout


def test_a_model_without_features_has_no_skew_section(project: Path) -> None:  # noqa: F811
    from tests.features.test_skew import test_a_log_without_feature_columns_is_refused as plain

    plain(project)  # logs model "plain": no feature columns, no service
    reference = pl.DataFrame({"x1": [0.1, 0.2, 0.3, 0.5]})
    result = report(
        "plain", reference=reference, since="2024-01-01", until="2024-01-05", window="1d"
    )
    assert result.skew is None
    assert result.to_dict()["skew"] is None
    assert "Training-serving skew" not in monitor_report_html(result)
