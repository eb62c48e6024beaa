"""keel features skew: JSON shape, table, HTML, exit codes (0 under the threshold, 1 over it,
2 unusable input) and messages."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keel.cli import app
from tests.features.conftest import project  # noqa: F401  # the fixture
from tests.features.test_skew import SINCE, planted  # noqa: F401  # the fixture

runner = CliRunner()
ARGS = ["features", "skew", "churn", "--since", SINCE, "--service", "loans"]


def test_json_and_exit_1_when_a_feature_is_over_the_threshold(planted: Path) -> None:  # noqa: F811
    result = runner.invoke(app, [*ARGS, "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["skewed"] == ["credit_score", "open_loans", "risky"]
    score = next(f for f in data["features"] if f["feature"] == "credit_score")
    assert score["reasons"] == {"stale": 1, "missing": 1, "expired": 1, "computed differently": 0}
    assert score["share"] == 0.75
    assert score["exceeds"] is True


def test_exit_0_under_a_given_threshold_with_a_table_and_html(planted: Path) -> None:  # noqa: F811
    result = runner.invoke(app, [*ARGS, "--max-share", "0.8", "--html", "skew.html"])
    assert result.exit_code == 0, result.output
    assert "no feature over the threshold" in result.stdout
    assert "credit_score" in result.stdout
    assert "stale" in result.stdout
    assert "applicant_id=1" in result.stdout  # an example: served against offline
    page = (planted / "skew.html").read_text()
    assert "Training-serving skew" in page
    assert "computed differently" in page
    assert "<td>credit_score</td>" in page


def test_unusable_input_exits_2_with_a_message(planted: Path) -> None:  # noqa: F811
    unknown = runner.invoke(app, ["features", "skew", "chrun", "--since", SINCE])
    assert unknown.exit_code == 2
    assert "no model 'chrun'" in unknown.stderr
    assert "Did you mean 'churn'?" in unknown.stderr
    empty = runner.invoke(app, [*ARGS[:3], "--since", "2025-01-01", "--service", "loans"])
    assert empty.exit_code == 2
    assert "has no predictions since 2025-01-01" in empty.stderr
    service = runner.invoke(app, [*ARGS[:5], "--service", "lons"])
    assert service.exit_code == 2
    assert "no feature service 'lons'" in service.stderr
    share = runner.invoke(app, [*ARGS, "--max-share", "2"])
    assert share.exit_code == 2
    assert "not a share between 0 and 1" in share.stderr
