"""keel monitor report includes the training-serving skew when the model serves features."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.monitor import monitor_report_html, report, skew
from keel.tracking import open_project
from tests.features.conftest import DAY, T0, project  # noqa: F401  # the fixture
from tests.features.test_skew import SINCE, planted, serve  # noqa: F401  # the fixture

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


class Inputs(keel.Schema):
    """The input contract of a model trained on the ``loans`` service."""

    credit_score: float | None
    open_loans: int | None
    delinquencies: int | None
    risky: bool | None


def _register(versions: int) -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack(
        [rng.uniform(300, 800, 200), rng.integers(0, 4, 200), rng.integers(0, 3, 200)]
    )
    x = np.column_stack([x, x[:, 1] > 1])
    model = HistGradientBoostingClassifier(max_iter=5).fit(x, (x[:, 0] > 550).astype(int))
    for _ in range(versions):
        keel.register(
            model, "churn", contract=Inputs, feature_service="loans", project=open_project()
        )


def test_each_logged_version_is_replayed_with_its_registered_service(
    planted: Path,  # noqa: F811
) -> None:
    _register(versions=2)  # the planted rows were served by version 1
    serve("churn", [({"applicant_id": 1}, T0 + 2 * DAY + dt.timedelta(hours=13))], version=2)
    found = skew("churn", since=SINCE)  # no service named: the registry's
    assert (found.services, found.versions, found.rows) == (("loans",), (1, 2), 5)
    score = found.feature("credit_score")
    assert (score.rows, score.reasons["stale"], score.reasons["missing"]) == (5, 2, 1)
    # and the monitor report shows it
    result = report("churn", reference=str(_reference(planted)), since="2024-01-01",
                    until="2024-01-05", window="1d")  # fmt: skip
    data = result.to_dict()["skew"]
    assert data["skewed"] == ["credit_score", "open_loans", "risky"]
    assert "<td>credit_score</td>" in monitor_report_html(result)
