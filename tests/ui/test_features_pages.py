"""``keel ui``'s feature pages: the definitions as ``keel features list/show`` print them, each
view's online freshness from its last materialization, the training sets built with links to
their dataset versions, and an explanatory empty state for a project without definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from keel.ui import create_app, export_site
from tests.ui._features_project import FeatureProject, build_features
from tests.ui._project import Built
from tests.ui.conftest import cli_json


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> FeatureProject:
    return build_features(tmp_path_factory.mktemp("features-ui"))


@pytest.fixture(scope="module")
def client(features: FeatureProject) -> TestClient:
    return TestClient(create_app(features.root))


def get(client: TestClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_definitions_are_the_cli_list(client: TestClient, features: FeatureProject) -> None:
    shown = get(client, "/api/features")
    listed = cli_json(features.root, "features", "list")
    assert {k: shown[k] for k in listed} == listed
    assert shown["configured"] is True
    assert shown["problem"] is None
    assert [v["name"] for v in shown["views"]] == ["credit", "bureau"]


def test_a_view_is_the_cli_show_with_its_columns(
    client: TestClient, features: FeatureProject
) -> None:
    shown = get(client, "/api/features/credit")
    expected = cli_json(features.root, "features", "show", "credit")
    assert {k: shown[k] for k in expected} == expected
    roles = {c["name"]: c["role"] for c in shown["columns"]}
    assert roles == {
        "applicant_id": "key", "event_time": "event time", "created_at": "created time",
        "credit_score": "feature", "open_loans": "feature",
    }  # fmt: skip
    assert {c["name"]: c["nullable"] for c in shown["columns"]}["credit_score"] is True
    assert shown["services"] == ["loans"]


def test_freshness_compares_the_snapshot_with_the_view_now(
    client: TestClient, features: FeatureProject
) -> None:
    online = get(client, "/api/features")["online"]
    done = {m["view"]: m for m in features.materialized["materializations"]}
    assert online["materializations"] == done  # as keel features materialize printed them
    assert online["materializations"]["credit"]["rows"] == 3
    # credit's data is as materialized; bureau's changed since
    assert online["freshness"] == {"credit": "current", "bureau": "stale"}
    credit = get(client, "/api/features/credit")
    assert credit["fingerprint"] == done["credit"]["fingerprint"]
    assert credit["online"]["freshness"] == "current"
    assert get(client, "/api/features/bureau")["online"]["freshness"] == "stale"


def test_training_sets_link_to_their_dataset_versions(
    client: TestClient, features: FeatureProject
) -> None:
    (built,) = get(client, "/api/features")["training_sets"]
    assert built["dataset"] == features.training_set["dataset"] == "loans.training-set/1"
    assert built["rows"] == features.training_set["rows"] == 5
    assert built["features"] == features.training_set["features"]
    version = cli_json(features.root, "data", "show", "loans.training-set/1")
    assert built["run_id"] == version["run_id"]
    # built after the bureau data changed: both views' fingerprints then are the ones now
    now = get(client, "/api/features")["fingerprints"]
    assert built["views"] == now
    page = client.get("/features").text
    assert 'href="/data/loans.training-set/1"' in page
    assert f'href="/runs/{built["run_id"]}"' in page
    (from_view,) = get(client, "/api/features/bureau")["training_sets"]
    assert from_view["current"] is True


def test_the_pages_render_the_same_numbers(client: TestClient, features: FeatureProject) -> None:
    page = client.get("/features")
    assert page.status_code == 200
    assert '<tr data-view="credit">' in page.text
    assert 'data-freshness="stale"' in page.text
    detail = client.get("/features/credit").text
    fingerprint = get(client, "/api/features/credit")["fingerprint"]
    assert f'<dd class="mono" id="fingerprint">{fingerprint}</dd>' in detail
    assert '<dd id="online-rows">3</dd>' in detail


def test_an_unknown_view_is_not_found(client: TestClient) -> None:
    response = client.get("/api/features/credits")
    assert response.status_code == 404
    assert "no feature view 'credits'" in response.json()["error"]
    assert "credit" in response.json()["hint"]


def test_the_api_is_listed_in_openapi(client: TestClient) -> None:
    paths = get(client, "/openapi.json")["paths"]
    assert {"/api/features", "/api/features/{view}"} <= set(paths)


def test_a_project_without_definitions_explains_instead_of_failing(built: Built) -> None:
    client = TestClient(create_app(built.root))
    shown = get(client, "/api/features")
    assert shown["configured"] is False
    assert "names no feature definitions file" in shown["problem"]["error"]
    assert "[features]" in shown["problem"]["hint"]
    assert shown["views"] == []
    assert shown["training_sets"] == []
    page = client.get("/features")
    assert page.status_code == 200
    assert 'id="no-definitions"' in page.text
    assert client.get("/api/features/credit").status_code == 404
    assert not (built.root / ".keel" / "online.db").exists()  # the UI created nothing


def test_a_broken_definitions_file_is_shown_with_its_line(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    from keel.config import init_project

    init_project(root)
    toml = root / "keel.toml"
    toml.write_text(
        toml.read_text().replace('# definitions = "features.py"', 'definitions = "features.py"')
    )
    (root / "features.py").write_text("import keel\n\nraise ValueError('no credit data')\n")
    shown = get(TestClient(create_app(root)), "/api/features")
    assert shown["configured"] is True
    assert "features.py:3" in shown["problem"]["error"]
    assert "no credit data" in shown["problem"]["error"]


def test_the_export_writes_the_feature_pages(features: FeatureProject, tmp_path: Path) -> None:
    written = export_site(tmp_path / "site", features.root)
    site = tmp_path / "site"
    assert {site / "features.html", site / "features" / "credit.html"} <= set(written)
    page = (site / "features.html").read_text()
    assert 'href="data/loans.training-set/1.html"' in page
    assert 'href="features/bureau.html"' in page
