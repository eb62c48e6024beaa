"""``keel ui``'s JSON API and pages over a demo-like project: the same objects as the CLI's
``--format json``, runs filtered, sorted and paged on the server, read-only, and 404 for what
is not in the store."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from keel.ui import create_app
from tests.ui._project import Built
from tests.ui.conftest import cli_json


@pytest.fixture(scope="module")
def client(built: Built) -> TestClient:
    return TestClient(create_app(built.root))


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_runs_are_the_cli_runs_newest_first(client: TestClient, built: Built) -> None:
    page = get(client, "/api/runs")
    assert page["total"] == 6  # three training runs, the failed one, two pipeline runs
    assert page["runs"] == cli_json(built.root, "runs", "list")


def test_one_run_is_the_cli_show_with_what_it_used_and_made(
    client: TestClient, built: Built
) -> None:
    first = built.runs[0]
    shown = get(client, f"/api/runs/{first}")
    assert {k: v for k, v in shown.items() if k in cli_json(built.root, "runs", "show", first)} == (
        cli_json(built.root, "runs", "show", first)
    )
    assert shown["datasets_used"] == [
        {"name": "applicants", "version": 1, "digest": shown["datasets_used"][0]["digest"]}
    ]
    assert [(m["name"], m["version"]) for m in shown["models_registered"]] == [("risk", 1)]
    assert shown["curves"]["loss"]["step"] == [0, 1, 2, 3, 4]


def test_comparison_is_the_cli_comparison_with_curves(client: TestClient, built: Built) -> None:
    ids = built.runs[:2]
    compared = get(client, "/api/compare", ids=ids)
    expected = cli_json(built.root, "runs", "compare", *ids)
    assert {k: compared[k] for k in expected} == expected
    assert compared["differs"]["params"] is True
    assert set(compared["curves"]["loss"]["runs"]) == set(ids)


def test_compare_takes_two_to_fifty_runs(client: TestClient, built: Built) -> None:
    response = client.get("/api/compare", params={"ids": built.runs[:1]})
    assert response.status_code == 400
    assert "2 to 50 runs" in response.json()["error"]


def test_models_versions_and_history_are_the_cli_ones(client: TestClient, built: Built) -> None:
    assert get(client, "/api/models") == cli_json(built.root, "models", "list")
    model = get(client, "/api/models/risk")
    assert model["versions"] == cli_json(built.root, "models", "show", "risk")
    assert model["history"] == cli_json(built.root, "models", "history", "risk")
    assert model["metrics_by_version"]["auc"] == {"version": [1, 2], "value": [0.8, 0.81]}
    assert [g["version"] for g in model["gates"]] == [1, 2]
    version = get(client, "/api/models/risk/1")
    assert {k: version[k] for k in version if k not in ("events", "evaluations")} == cli_json(
        built.root, "models", "show", "risk/1"
    )[0]
    assert version["run_id"] == built.model_runs[1]


def test_datasets_are_the_cli_versions(client: TestClient, built: Built) -> None:
    versions = get(client, "/api/datasets/applicants")["versions"]
    assert versions == cli_json(built.root, "data", "list", "applicants")
    assert [v["contract_passed"] for v in versions] == [True, False]
    second = get(client, "/api/datasets/applicants/2")
    context = ("used_by", "profile", "distributions")  # what the page adds around it
    assert {k: second[k] for k in second if k not in context} == cli_json(
        built.root, "data", "show", "applicants/2"
    )
    first = get(client, "/api/datasets/applicants/1")
    assert {r["id"] for r in first["used_by"]} == set(built.runs)
    listed = get(client, "/api/datasets")
    assert [(d["name"], d["versions"], d["passed"], d["checked"]) for d in listed] == [
        ("applicants", 2, 1, 2)
    ]


def test_kpis_are_the_cli_kpis_and_red_fails_it(client: TestClient, built: Built) -> None:
    report = get(client, "/api/kpis")
    assert _steady(report) == _steady(cli_json(built.root, "kpis", code=1))  # red: exit 1
    assert report["status"] == "red"
    by_key = {(k["key"], k["subject"]): k for k in report["kpis"]}
    contract = by_key[("contract_pass_rate", "dataset applicants")]
    assert (contract["value"], contract["status"]) == (0.5, "red")
    assert "misses the objective at least 95.0%" in contract["reason"]
    runs = by_key[("run_failure_rate", "runs")]
    assert (runs["value"], runs["status"]) == (pytest.approx(1 / 6), "red")  # 1 of 6 failed
    cache = by_key[("cache_hit_rate", "pipelines")]
    assert (cache["value"], cache["status"]) == (0.5, "green")  # the second run all cached
    assert by_key[("data_freshness", "dataset applicants")]["status"] == "green"
    assert _steady(get(client, "/api/overview")) == _steady(report)


def _steady(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The KPIs without the age of the data, which grows between two reads."""
    return [k for k in report["kpis"] if k["key"] != "data_freshness"]


def test_runs_are_filtered_sorted_and_paged_on_the_server(client: TestClient) -> None:
    by_accuracy = get(client, "/api/runs", order_by="metrics.accuracy", desc="false")
    values = [r["metrics"].get("accuracy") for r in by_accuracy["runs"]]
    assert values[:3] == sorted(values[:3]) == pytest.approx([0.7, 0.75, 0.8])
    assert values[3:] == [None, None, None]  # the failed run and the pipeline runs: none
    finished = get(client, "/api/runs", where="status = finished and metrics.accuracy >= 0.75")
    assert finished["total"] == 2
    second = get(client, "/api/runs", limit=1, offset=1)
    assert (second["total"], len(second["runs"])) == (6, 1)
    assert second["runs"][0]["id"] == get(client, "/api/runs")["runs"][1]["id"]


def test_a_filter_that_does_not_parse_is_a_400_with_a_hint(client: TestClient) -> None:
    response = client.get("/api/runs", params={"where": "params.c < 1"})
    assert response.status_code == 400
    assert "compares with =, != or ~" in response.json()["error"]
    page = client.get("/runs", params={"where": "metrics.auc >"})
    assert page.status_code == 400
    assert "cannot read the run filter" in page.text
    assert "Hint:" in page.text


@pytest.mark.parametrize(
    "path", ["/api/runs/0123456789abcdef", "/api/models/nope", "/api/datasets/applicants/9"]
)
def test_what_is_not_in_the_store_is_a_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["hint"]


def test_every_api_route_is_in_the_openapi_document(client: TestClient) -> None:
    paths = set(get(client, "/openapi.json")["paths"])
    assert {
        "/api/kpis",
        "/api/overview",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/compare",
        "/api/pipelines",
        "/api/models",
        "/api/models/{name}",
        "/api/models/{name}/{version}",
        "/api/datasets",
        "/api/datasets/{name}",
        "/api/datasets/{name}/{version}",
    } <= paths
    assert not any(not p.startswith("/api/") for p in paths)  # pages are not API


def test_the_app_writes_nothing(client: TestClient) -> None:
    for path in ("/api/runs", "/api/models", "/"):
        assert client.post(path).status_code == 405
        assert client.delete(path).status_code == 405


def test_pages_forbid_requests_outside_the_app(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy


def test_pipeline_runs_show_their_steps_cache_and_edges(client: TestClient) -> None:
    found = get(client, "/api/pipelines")
    assert [(p["pipeline"], p["steps"], p["cached"]) for p in found] == [
        ("flow", 2, 2),  # the second run: every step from the cache
        ("flow", 2, 0),
    ]
    steps = {s["step"]: s for s in get(client, f"/api/runs/{found[1]['run_id']}")["steps"]}
    assert steps["total"]["upstream"] == ["numbers"]  # the DAG's edge
    assert steps["numbers"]["upstream"] == []
    cached = get(client, f"/api/runs/{found[0]['run_id']}")["steps"]
    assert {s["status"] for s in cached} == {"cached"}
    assert all(s["explanation"] for s in cached)  # why it was a hit
