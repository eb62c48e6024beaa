"""A model version's page shows its stored evaluations (``keel models evaluate``): each metric
with its interval overall and per slice, a chart per metric with the intervals as bars, and
the reliability curve; the numbers are those the CLI printed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

import keel
from keel.config import init_project
from keel.registry import evaluate_model
from keel.tracking import open_project
from keel.ui import create_app
from tests.ui._project import Built
from tests.ui.conftest import cli_json


@pytest.fixture(scope="module")
def client(built: Built) -> TestClient:
    return TestClient(create_app(built.root))


@pytest.fixture(scope="module")
def evaluated(built: Built) -> Any:
    """``keel models evaluate risk/1 ... --format json``, as a user runs it."""
    return cli_json(
        built.root, "models", "evaluate", "risk/1", "--data", "holdout.parquet",
        "--target", "label", "--slice", "x1", "--n-boot", "150", "--seed", "3",
    )  # fmt: skip


def get(client: TestClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_stored_evaluation_is_the_cli_json(client: TestClient, evaluated: Any) -> None:
    (shown,) = get(client, "/api/models/risk/1")["evaluations"]
    assert {k: shown[k] for k in evaluated} == evaluated
    assert shown["data"] == "holdout.parquet"
    assert shown["dataset"] is None
    assert (shown["target"], shown["seed"]) == ("label", 3)
    assert [s["column"] for s in shown["slices"]] == ["x1"] * 4  # quantile bins
    assert sum(b["rows"] for b in shown["calibration"]) == shown["rows"] == 400


def test_evaluations_are_kept_in_the_history_not_among_the_events(
    client: TestClient, built: Built, evaluated: Any
) -> None:
    version = get(client, "/api/models/risk/1")
    assert "evaluation" not in {e["kind"] for e in version["events"]}
    history = cli_json(built.root, "models", "history", "risk")
    kept = [e for e in history if e["kind"] == "evaluation" and e["version"] == 1]
    assert [e["detail"]["evaluation"]["metrics"] for e in kept] == [evaluated["metrics"]]


def test_no_record_leaves_the_history_alone(built: Built, evaluated: Any) -> None:
    before = cli_json(built.root, "models", "history", "risk")
    cli_json(
        built.root, "models", "evaluate", "risk/1", "--data", "holdout.parquet",
        "--target", "label", "--n-boot", "0", "--no-record",
    )  # fmt: skip
    assert cli_json(built.root, "models", "history", "risk") == before


def test_an_evaluation_on_a_dataset_version_links_to_it(client: TestClient) -> None:
    (shown,) = get(client, "/api/models/risk/2")["evaluations"]  # the project's own
    assert shown["dataset"] == shown["data"] == "applicants/1"
    page = client.get("/models/risk/2").text
    assert 'href="/data/applicants/1"' in page


def _cell(page: str, slice_key: str, metric: str) -> dict[str, str]:
    row = re.search(rf'<tr data-slice="{re.escape(slice_key)}">(.*?)</tr>', page, re.S)
    assert row is not None, slice_key
    cell = re.search(
        rf'data-metric="{metric}" data-value="([^"]*)" data-low="([^"]*)" data-high="([^"]*)"',
        row.group(1),
    )
    assert cell is not None, (slice_key, metric)
    return dict(zip(("value", "low", "high"), cell.groups(), strict=True))


def test_the_page_shows_each_slice_with_its_interval(client: TestClient, evaluated: Any) -> None:
    page = client.get("/models/risk/1").text
    for name, metric in evaluated["metrics"].items():
        cell = _cell(page, "all", name)
        assert float(cell["value"]) == pytest.approx(metric["value"])
        assert float(cell["low"]) == pytest.approx(metric["low"])
        assert float(cell["high"]) == pytest.approx(metric["high"])
    for item in evaluated["slices"]:
        cell = _cell(page, f"{item['column']}={item['label']}", "auc")
        assert float(cell["value"]) == pytest.approx(item["metrics"]["auc"]["value"])
        assert float(cell["high"]) == pytest.approx(item["metrics"]["auc"]["high"])
    # a chart per metric: one interval bar per row (overall and the four slices)
    forests = re.findall(r'<figure class="forest" data-forest="([^"]+)">(.*?)</figure>', page, re.S)
    assert [name for name, _ in forests] == list(evaluated["metrics"])
    assert all(body.count('class="bar"') == 5 for _, body in forests)


def test_the_reliability_curve_has_each_bin_with_its_count(
    client: TestClient, evaluated: Any
) -> None:
    page = client.get("/models/risk/1").text
    rows = [int(n) for n in re.findall(r'<td class="num" data-rows="(\d+)">', page)]
    assert rows[-len(evaluated["calibration"]) :] == [b["rows"] for b in evaluated["calibration"]]
    assert 'data-chart="calibration-' in page


def test_a_regression_without_intervals_shows_values_only(tmp_path: Path) -> None:
    """No bootstrap (``n_boot=0``): no interval and no bar is drawn, rather than a made-up
    one; a regression has no reliability curve, and the page says why."""
    init_project(tmp_path, name="prices")
    project = open_project(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(200, 1))
    data = pl.DataFrame({"x": x[:, 0], "y": 3 * x[:, 0] + rng.normal(0, 0.1, 200)})
    data.write_parquet(tmp_path / "test.parquet")
    keel.register(LinearRegression().fit(x, data["y"]), "price", contract=X, project=project)
    _, result = evaluate_model(
        "price/1", tmp_path / "test.parquet", target="y", n_boot=0, project=project
    )
    client = TestClient(create_app(tmp_path))
    (shown,) = get(client, "/api/models/price/1")["evaluations"]
    assert shown["metrics"] == result.to_dict()["metrics"]
    assert shown["metrics"]["rmse"]["low"] is None
    assert shown["data"] == str(tmp_path / "test.parquet")
    page = client.get("/models/price/1").text
    assert float(_cell(page, "all", "rmse")["value"]) == pytest.approx(result.metrics["rmse"].value)
    assert _cell(page, "all", "rmse")["low"] == ""
    assert 'class="bar"' not in page
    assert "No reliability curve" in page


class X(keel.Schema):
    x: float
