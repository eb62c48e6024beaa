"""The pipeline DAG, lineage, profile and dataset diff pages, through the app and its JSON API:
each API answer carries the CLI's JSON for the same object (``keel lineage [--downstream]
--format json``, ``keel data diff``, ``keel monitor compare``, ``keel monitor reference
show``), and the pages show those numbers and link along the chain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from keel.ui import create_app, export_site
from tests.ui._lineage_project import LineageBuilt
from tests.ui._project import Built
from tests.ui.conftest import cli_json


@pytest.fixture(scope="module")
def client(lineage_built: LineageBuilt) -> Iterator[TestClient]:
    with TestClient(create_app(lineage_built.root)) as found:
        yield found


def get(client: TestClient, path: str, status: int = 200) -> Any:
    response = client.get(path)
    assert response.status_code == status, (path, response.text)
    return response.json() if path.startswith("/api/") else response.text


def walk(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield tree
    for child in tree["children"]:
        yield from walk(child)


def test_lineage_of_a_dataset_version_is_the_cli_trees_both_ways(
    client: TestClient, lineage_built: LineageBuilt
) -> None:
    found = get(client, "/api/lineage/applicants/1")
    assert found["upstream"] == cli_json(lineage_built.root, "lineage", "applicants/1")
    down = cli_json(lineage_built.root, "lineage", "applicants/1", "--downstream")
    assert found["downstream"] == down
    run, = down["children"]  # fmt: skip
    assert (run["kind"], run["run_id"]) == ("run", lineage_built.run_id)
    kinds = {(n["kind"], n["label"]) for n in walk(down)}
    assert {("model", "scorer/1"), ("deployment", "scorer (champion)")} <= kinds
    assert ("step", "training.evaluate") in kinds
    model = next(n for n in walk(down) if n["kind"] == "model")
    assert model["detail"] == {"name": "scorer", "version": 1, "aliases": ["champion"]}
    (deployment,) = model["children"]
    assert deployment["detail"]["spec"] == "deploy/scorer.yaml"


def test_the_lineage_graph_flows_down_from_sources_to_deployments(
    client: TestClient, lineage_built: LineageBuilt
) -> None:
    graph = get(client, "/api/lineage/applicants/1")["graph"]
    layer = {n["label"]: n["layer"] for n in graph["nodes"]}
    assert layer["applicants/1"] < layer["run training (finished)"] < layer["scorer/1"]
    assert layer["scorer/1"] < layer["scorer (champion)"]
    assert layer["training.featurize"] < layer["training.train"] < layer["training.evaluate"]
    labels = [n["label"] for n in graph["nodes"]]
    assert len(labels) == len(set(labels))  # evaluate, read along two paths, drawn once
    assert [n["label"] for n in graph["nodes"] if n.get("root")] == ["applicants/1"]
    page = get(client, "/lineage/applicants/1")
    assert page.count('<g class="node') == len(graph["nodes"])
    assert page.count('<polyline class="edge"') == len(graph["edges"])
    assert 'href="/models/scorer/1"' in page
    assert f'href="/runs/{lineage_built.run_id}"' in page
    assert f'href="/pipelines/{lineage_built.run_id}#step-train"' in page


def test_the_pipeline_dag_page_shows_each_step_as_the_cli_does(
    client: TestClient, lineage_built: LineageBuilt
) -> None:
    run_id = lineage_built.run_id
    dag = get(client, f"/api/pipelines/{run_id}")
    upstream = cli_json(lineage_built.root, "lineage", run_id)
    assert dag["lineage"] == upstream
    assert dag["run"] == cli_json(lineage_built.root, "runs", "show", run_id)
    cli_steps = {
        n["label"].split(".")[-1]: n["detail"] for n in walk(upstream) if n["kind"] == "step"
    }
    steps = {s["step"]: s for s in dag["steps"]}
    assert set(steps) == set(cli_steps) == {"ingest", "featurize", "train", "evaluate"}
    assert steps["evaluate"]["upstream"] == ["featurize", "train"]
    edges = {(e["source"], e["target"]) for e in dag["graph"]["edges"]}
    assert ("dataset:applicants/1", "step:ingest") in edges
    assert ("step:train", "step:evaluate") in edges
    page = get(client, f"/pipelines/{run_id}")
    for name, detail in cli_steps.items():
        row = re.search(rf'<tr id="step-{name}".*?</tr>', page, re.S)
        assert row is not None, name
        shown = re.search(r'data-duration="([^"]+)"', row.group(0))
        assert shown is not None
        assert round(float(shown.group(1)), 3) == detail["duration"]
        assert detail["status"] in row.group(0)
        assert "miss" in row.group(0)
    assert 'href="/data/applicants/1"' in page  # the data it read, a node linking to it
    assert get(client, "/pipelines").count(f'href="/pipelines/{run_id}"') == 1
    assert f'href="/pipelines/{run_id}"' in get(client, f"/runs/{run_id}")


def test_a_fully_cached_run_says_every_step_was_a_cache_hit_and_why(built: Built) -> None:
    with TestClient(create_app(built.root)) as client:
        second = get(client, "/api/pipelines")[0]  # newest first: the cached run
        dag = get(client, f"/api/pipelines/{second['run_id']}")
        assert [s["status"] for s in dag["steps"]] == ["cached", "cached"]
        titles = [n["title"] for n in dag["graph"]["nodes"]]
        assert all("cache hit" in t for t in titles)
        page = get(client, f"/pipelines/{second['run_id']}")
        for step in dag["steps"]:
            assert step["explanation"]
            assert step["explanation"] in page
        assert page.count(">hit</td>") == 2
        not_a_pipeline = get(client, f"/api/pipelines/{built.runs[0]}", status=404)
        assert "ran no pipeline steps" in not_a_pipeline["error"]


def test_a_dataset_version_shows_its_stored_profile(
    client: TestClient, lineage_built: LineageBuilt
) -> None:
    shown = get(client, "/api/datasets/applicants/1")
    stored = cli_json(lineage_built.root, "monitor", "reference", "show", "data:applicants/1")
    assert shown["profile"] == stored
    profiled = {c["column"]: c for c in stored["profile"]["columns"]}
    for d in shown["distributions"]:
        column = profiled[d["column"]]
        assert d["counts"] == column["counts"]
        assert d["nulls"] == column["nulls"]
        assert sum(d["counts"]) == stored["rows"] - column["nulls"]
        assert len(d["labels"]) == len(d["counts"])
    page = get(client, "/data/applicants/1")
    for d in shown["distributions"]:
        assert f'id="profile-{d["column"]}"' in page  # its histogram
        assert f'data-mean="{d["mean"]}"' in page
    assert 'href="/lineage/applicants/1"' in page
    unprofiled = get(client, "/api/datasets/applicants/3")
    assert (unprofiled["profile"], unprofiled["distributions"]) == (None, [])
    assert 'id="no-profile"' in get(client, "/data/applicants/3")


def test_the_diff_of_two_versions_is_the_cli_diff_and_drift(
    client: TestClient, lineage_built: LineageBuilt
) -> None:
    found = get(client, "/api/datasets/applicants/diff?a=1&b=2")
    expected = cli_json(lineage_built.root, "data", "diff", "applicants", "1", "2")
    extra = {"drift", "drift_error", "distributions"}
    assert {k: v for k, v in found.items() if k not in extra} == expected
    assert found["schema"]["added"] == ["band"]
    drift = cli_json(
        lineage_built.root, "monitor", "compare", "data:applicants/1", "data:applicants/2", code=1
    )
    assert found["drift"] == drift
    scores = {c["column"]: c for c in drift["columns"]}
    assert scores["x1"]["drifted"]
    assert not scores["x2"]["drifted"]
    for d in found["distributions"]:
        assert d["score"] == scores[d["column"]]["score"]
        assert [sum(c) for c in d["counts"]] == [
            r - n for r, n in zip(d["rows"], d["nulls"], strict=True)
        ]
    page = get(client, "/data/applicants/diff?a=1&b=2")
    for column, result in scores.items():
        assert f'data-score="{result["score"]}"' in page, column
    assert '<tr data-change="added"><td>band</td>' in page
    assert 'href="/data/applicants/diff?a=1&amp;b=2"' in get(client, "/data/applicants")


def test_a_diff_without_a_stored_profile_says_why_and_a_missing_version_is_404(
    client: TestClient,
) -> None:
    found = get(client, "/api/datasets/applicants/diff?a=3&b=1")
    assert found["drift"] is None
    assert "no reference profile" in found["drift_error"]["error"]
    assert "keel monitor reference set" in found["drift_error"]["hint"]
    assert 'id="drift-error"' in get(client, "/data/applicants/diff?a=3&b=1")
    assert "error" in get(client, "/api/datasets/applicants/diff?a=1&b=9", status=404)
    get(client, "/api/datasets/applicants/diff?a=0&b=1", status=422)
    assert "not a run" in get(client, "/api/lineage/nothing-here", status=404)["error"]


def test_the_new_routes_are_in_openapi(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/api/pipelines/{run_id}", "/api/lineage/{ref}", "/api/datasets/{name}/diff"} <= paths


def test_the_export_has_the_dag_lineage_and_diff_pages(
    lineage_built: LineageBuilt, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    written = export_site(site, lineage_built.root)
    run_id = lineage_built.run_id
    for page in (
        f"pipelines/{run_id}.html",
        f"lineage/{run_id}.html",
        "lineage/applicants/1.html",
        "lineage/applicants/3.html",
        "data/applicants/diff-1-2.html",
        "data/applicants/diff-2-3.html",
    ):
        assert site / page in written, page
    dag = (site / "pipelines" / f"{run_id}.html").read_text()
    assert 'href="../data/applicants/1.html"' in dag
    lineage = (site / "lineage" / "applicants" / "1.html").read_text()
    assert 'href="../../models/scorer/1.html"' in lineage
    assert f'href="../../pipelines/{run_id}.html#step-train"' in lineage
    dataset = (site / "data" / "applicants.html").read_text()
    assert 'href="../data/applicants/diff-1-2.html"' in dataset
    assert 'id="diff-form"' not in dataset  # picking two versions needs the server


def test_the_lineage_of_an_output_draws_it_once_between_its_maker_and_its_readers(
    client: TestClient, lineage_built: LineageBuilt
) -> None:
    dag = get(client, f"/api/pipelines/{lineage_built.run_id}")
    train = next(s for s in dag["steps"] if s["step"] == "train")
    digest = train["outputs"][0]["digest"]
    found = get(client, f"/api/lineage/{digest[:12]}")
    assert found["upstream"] == cli_json(lineage_built.root, "lineage", digest[:12])
    nodes = found["graph"]["nodes"]
    (output,) = [n for n in nodes if n["kind"] == "artifact" and n.get("root")]
    assert [n for n in nodes if n["key"] == output["key"]] == [output]
    layer = {n["label"]: n["layer"] for n in nodes if n["kind"] == "step"}
    assert layer["training.train"] < output["layer"] < layer["training.evaluate"]
