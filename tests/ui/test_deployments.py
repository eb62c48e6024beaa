"""The deployment pages of ``keel ui``: each rollout as ``keel deploy status NAME --format
json``, its steps, and every decision over time with the guardrails' values against their
limits; links to the model versions; the static export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from keel.ui import create_app, export_site
from tests.ui._project import Built
from tests.ui.conftest import cli_json


@pytest.fixture(scope="module")
def client(built: Built) -> TestClient:
    return TestClient(create_app(built.root))


def get(client: TestClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_deployment_is_the_cli_status(client: TestClient, built: Built) -> None:
    shown = get(client, "/api/deployments/risk")
    expected = cli_json(built.root, "deploy", "status", "risk")
    assert {k: shown[k] for k in expected} == expected
    assert shown["rollout"]["weight"] == 50.0
    assert shown["rollout"]["failed_analyses"] == 1
    assert [s["where"] for s in shown["steps"]] == ["done", "done", "done", "current"]
    (listed,) = get(client, "/api/deployments")
    assert {k: v for k, v in listed.items() if k != "error"} == {
        k: v for k, v in expected.items() if k != "decisions"
    }


def test_the_timeline_holds_each_decision_with_its_guardrails(client: TestClient) -> None:
    timeline = get(client, "/api/deployments/risk")["timeline"]
    kinds = [e["kind"] for e in timeline]
    assert kinds[-2:] == ["analysis", "advance"]
    failed, passed = timeline[-2], timeline[-1]
    rows = {g["guardrail"]: g for g in failed["guardrails"]}
    assert rows["errorRate"]["value"] == pytest.approx(0.2)
    assert rows["errorRate"]["limit"] == 0.01
    assert rows["errorRate"]["breached"] is True
    assert rows["latencyP99"]["breached"] is False
    assert failed["detail"]["evidence"]["errorRate"]["increase"] == rows["errorRate"]["value"]
    assert {g["guardrail"]: g["breached"] for g in passed["guardrails"]}["errorRate"] is False
    assert passed["detail"]["weight"] == 50.0
    assert [e["id"] for e in timeline] == sorted(e["id"] for e in timeline)


def test_the_page_links_to_both_versions_and_marks_the_breach(
    client: TestClient, built: Built
) -> None:
    shown = get(client, "/api/deployments/risk")
    page = client.get("/deployments/risk").text
    rollout = shown["rollout"]
    assert f'id="champion-version" href="/models/risk/{rollout["champion_version"]}"' in page
    assert f'id="challenger-version" href="/models/risk/{rollout["challenger_version"]}"' in page
    assert 'data-weight="50.0"' in page
    assert 'class="guard fail" data-guardrail="errorRate"' in page
    assert page.count('data-where="done"') == 3
    listing = client.get("/deployments").text
    assert 'href="/deployments/risk"' in listing


def test_an_unknown_deployment_is_404(client: TestClient) -> None:
    response = client.get("/api/deployments/nope")
    assert response.status_code == 404
    assert "deploy/nope.yaml" in response.json()["error"]


def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = set(get(client, "/openapi.json")["paths"])
    assert {
        "/api/monitoring",
        "/api/monitoring/{name}",
        "/api/deployments",
        "/api/deployments/{name}",
    } <= paths
    assert not {p for p in paths if not p.startswith("/api/")}


def test_the_export_has_the_deployment_pages(built: Built, tmp_path: Path) -> None:
    site = tmp_path / "site"
    written = {p.relative_to(site).as_posix() for p in export_site(site, built.root)}
    assert {"deployments.html", "deployments/risk.html"} <= written
    page = (site / "deployments" / "risk.html").read_text()
    assert 'href="../models/risk/' in page
