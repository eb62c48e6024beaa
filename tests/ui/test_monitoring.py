"""The monitoring pages of ``keel ui``: each served model's report window by window (the
numbers of ``keel monitor report NAME --format json``), its drift heatmap and the two
distributions behind each cell, links to the model versions, and the static export."""

from __future__ import annotations

import math
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from keel.monitor import PredictionLog
from keel.tracking import open_project
from keel.ui import create_app, export_site
from tests.ui._project import LOG_START, SERVED_HOURS, Built
from tests.ui.conftest import cli_json


@pytest.fixture(scope="module")
def client(built: Built) -> TestClient:
    return TestClient(create_app(built.root))


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def close(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON, floats to 1e-9 (performance sums run in no fixed order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (where, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def test_the_served_models_are_listed(client: TestClient) -> None:
    (risk,) = get(client, "/api/monitoring")
    assert risk["name"] == "risk"
    assert risk["files"] == SERVED_HOURS
    assert risk["first_hour"] == LOG_START.isoformat()
    assert risk["last_hour"] == (LOG_START + timedelta(hours=SERVED_HOURS - 1)).isoformat()
    assert risk["feedback"] is True
    assert risk["registered"] is True
    assert risk["deployed"] is True
    assert risk["window"] == "15m"  # four hours: the shortest window giving at most 120


def test_a_model_page_is_the_cli_report(client: TestClient, built: Built) -> None:
    shown = get(client, "/api/monitoring/risk", window="1h")
    expected = cli_json(built.root, "monitor", "report", "risk", "--window", "1h")
    close({k: shown[k] for k in expected}, expected)
    assert len(shown["windows"]) == SERVED_HOURS
    drifted = [[c["column"] for c in w["columns"] if c["drifted"]] for w in shown["windows"]]
    assert ["x1" in d for d in drifted] == [False] * (SERVED_HOURS - 1) + [True]
    assert shown["versions"]["reference"] == shown["versions"]["champion"][0]


def test_the_heatmap_holds_each_window_and_column_against_its_threshold(
    client: TestClient,
) -> None:
    shown = get(client, "/api/monitoring/risk", window="1h")
    heatmap = shown["heatmap"]
    assert heatmap["columns"] == shown["reference"]["columns"]
    assert heatmap["rows"] == [w["rows"] for w in shown["windows"]]
    for c, column in enumerate(heatmap["columns"]):
        for w, window in enumerate(shown["windows"]):
            (result,) = [r for r in window["columns"] if r["column"] == column]
            cell = heatmap["cells"][c][w]
            assert cell["score"] == result["score"]
            assert cell["threshold"] == result["threshold"]
            assert cell["drifted"] == result["drifted"]
            assert cell["ratio"] == pytest.approx(result["score"] / result["threshold"])


def test_each_cell_has_both_distributions_over_the_reference_bins(client: TestClient) -> None:
    shown = get(client, "/api/monitoring/risk", window="1h")
    dist = shown["distributions"]
    for c, column in enumerate(shown["heatmap"]["columns"]):
        labels = dist["labels"][column]
        assert len(dist["reference"][column]) == len(labels)
        assert sum(dist["reference"][column]) == shown["reference"]["rows"]
        for w, window in enumerate(shown["windows"]):
            counts = dist["windows"][w][c]
            assert len(counts) == len(labels)
            assert sum(counts) == window["rows"]  # no nulls in the log
    # the last hour's x1 is halved: its upper bins are empty, the reference's are not
    x1 = shown["heatmap"]["columns"].index("x1")
    last = dist["windows"][-1][x1]
    assert last[-1] == 0
    assert dist["reference"]["x1"][-1] > 0


def test_the_page_shows_the_apis_numbers_and_links_alerts_to_the_version(
    client: TestClient,
) -> None:
    shown = get(client, "/api/monitoring/risk", window="1h")
    page = client.get("/monitoring/risk", params={"window": "1h"}).text
    body = page.split('<table id="heatmap"', 1)[1].split("<tbody>", 1)[1].split("</tbody>")[0]
    rows = re.findall(r"<tr><th>([^<]+)</th>(.*?)</tr>", body)
    assert [name for name, _ in rows] == shown["heatmap"]["columns"]
    for c, (_, cells) in enumerate(rows):
        scores = [float(v) for v in re.findall(r'data-score="([^"]+)"', cells)]
        expected = [cell["score"] for cell in shown["heatmap"]["cells"][c]]
        assert scores == pytest.approx(expected, rel=1e-5)  # shown to 6 digits
    version = shown["versions"]["champion"][0]
    assert shown["alerts"]
    assert f'class="alert-version" href="/models/risk/{version}"' in page
    assert 'href="/deployments/risk"' not in page or "Deployments" in page
    assert 'src="/static/monitor.js"' in page


def test_unknown_models_and_bad_windows_are_answered_with_a_hint(client: TestClient) -> None:
    missing = client.get("/api/monitoring/nope")
    assert missing.status_code == 404
    assert "no prediction log" in missing.json()["error"]
    bad = client.get("/api/monitoring/risk", params={"window": "7m"})
    assert bad.status_code == 400
    assert bad.json()["hint"]
    assert client.get("/monitoring/nope").status_code == 404


def test_a_new_flush_shows_on_the_next_request(built: Built, tmp_path: Path) -> None:
    """The app remembers reports, but a new log file is a new page."""
    root = tmp_path / "copy"
    shutil.copytree(built.root, root)
    client = TestClient(create_app(root))
    before = get(client, "/api/monitoring/risk", window="1h")
    assert get(client, "/api/monitoring/risk", window="1h") == before
    log = PredictionLog(open_project(root).artifacts, "risk")
    last = log.scan().collect().sort("time").tail(50)  # the last hour's, an hour later
    later = last.with_columns(time=last["time"] + timedelta(hours=1))
    log.append(later)
    after = get(client, "/api/monitoring/risk", window="1h")
    assert after["rows"] == before["rows"] + 50
    assert after["windows"][-1]["start"] == (LOG_START + timedelta(hours=SERVED_HOURS)).isoformat()


def test_the_export_has_the_monitoring_pages(built: Built, tmp_path: Path) -> None:
    site = tmp_path / "site"
    written = {p.relative_to(site).as_posix() for p in export_site(site, built.root)}
    assert {"monitoring.html", "monitoring/risk.html"} <= written
    page = (site / "monitoring" / "risk.html").read_text()
    assert 'id="heatmap"' in page
    assert 'src="../static/monitor.js"' in page
    assert (site / "static" / "monitor.js").is_file()
    assert '<form class="filter"' not in page  # needs a server
    assert 'href="../models/risk/' in page


def test_the_export_shows_why_a_model_cannot_be_monitored(built: Built, tmp_path: Path) -> None:
    """A served model without a reference is the server's error page in the export, with its
    hint; it does not stop the export (make demo once failed on it)."""
    root = tmp_path / "copy"
    shutil.copytree(built.root, root)
    artifacts = open_project(root).artifacts
    PredictionLog(artifacts, "ghost").append(PredictionLog(artifacts, "risk").scan().collect())
    live = TestClient(create_app(root)).get("/api/monitoring/ghost")
    assert live.status_code == 400
    site = tmp_path / "site"
    written = {p.relative_to(site).as_posix() for p in export_site(site, root)}
    assert {"monitoring/ghost.html", "monitoring/risk.html"} <= written
    page = (site / "monitoring" / "ghost.html").read_text()
    assert 'id="error"' in page
    assert str(escape(live.json()["error"])) in page  # as Jinja escapes it
    assert "Hint: " in page


def test_a_page_of_too_many_windows_is_refused_with_the_default(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.ui import _views_monitor

    monkeypatch.setattr(_views_monitor, "MOST_SHOWN", 100)
    refused = client.get("/api/monitoring/risk", params={"window": "1m"})  # 240 windows
    assert refused.status_code == 400
    assert "at most 100" in refused.json()["error"]
    assert "the default is 15m" in refused.json()["hint"]
    assert client.get("/api/monitoring/risk", params={"window": "15m"}).status_code == 200
