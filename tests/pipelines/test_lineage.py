"""Lineage: OpenLineage events per step run, POSTed when configured, and ``keel lineage``."""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project
from keel.errors import StepFailedError
from keel.pipelines import PipelineResult, load_pipeline, run_pipeline
from keel.pipelines._lineage import lineage_tree, to_dot
from keel.tracking import Project, open_project

runner = CliRunner()

SCORES = '''\
"""A CSV in, scaled scores out, published as a dataset version."""

from __future__ import annotations

from pathlib import Path

import polars as pl

import keel
from keel.tracking import add_dataset


class Raw(keel.Schema):
    id: keel.Column[int]
    score: keel.Column[float]


class Scaled(keel.Schema):
    id: keel.Column[int]
    score: keel.Column[float]
    scaled: keel.Column[float] = keel.Field(ge=0, le=1)


@keel.step
def ingest(source: Path) -> keel.Frame[Raw]:
    return Raw.validate(pl.read_csv(source))


@keel.step
def scale(raw: keel.Frame[Raw]) -> keel.Frame[Scaled]:
    frame = raw.to_polars()
    scaled = (pl.col("score") / frame["score"].max()).alias("scaled")
    return Scaled.validate(frame.with_columns(scaled))


@keel.step
def publish(scaled: keel.Frame[Scaled], folder: str) -> Path:
    path = Path(folder) / "scaled.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    scaled.to_polars().write_parquet(path)
    add_dataset(path, "scaled")  # registered inside the pipeline run
    return path


@keel.pipeline
def scores(source: Path = Path("scores.csv"), folder: str = "published") -> None:
    publish(scale(ingest(source)), folder)


@keel.step
def reject(raw: keel.Frame[Raw]) -> dict[str, float]:
    raise ValueError("no score may be negative")


@keel.pipeline
def broken(source: Path = Path("scores.csv")) -> None:
    reject(ingest(source))
'''

STEPS = ["ingest", "scale", "publish"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the pipeline file and its input, as the working folder."""
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)  # the steps' relative paths, and the CLI, use it
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_pipeline adds the file's folder
    (tmp_path / "scores.py").write_text(SCORES)
    (tmp_path / "scores.csv").write_text("id,score\n1,2.0\n2,4.0\n3,8.0\n")
    return tmp_path


@pytest.fixture
def project(folder: Path) -> Project:
    return open_project(folder)


def run(project: Project, name: str = "scores") -> PipelineResult:
    return run_pipeline(load_pipeline(f"scores.py:{name}"), project=project)


def facets(dataset: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = dataset["facets"]
    return found


# -- events ---------------------------------------------------------------------------------
def test_every_step_run_emits_start_then_complete_inside_its_pipeline_run(
    project: Project,
) -> None:
    result = run(project)
    events = project.metadata.pipelines.events()

    assert [(e.job, e.event_type) for e in events] == [
        ("scores", "START"),
        *((f"scores.{step}", kind) for step in STEPS for kind in ("START", "COMPLETE")),
        ("scores", "COMPLETE"),
    ]
    namespace = project.config.project_name
    pipeline_run = str(uuid.UUID(result.run_id))
    for event in events[1:-1]:
        payload = event.payload
        record = result.record(event.job.split(".")[1])
        assert event.run_id == record.id
        assert payload["eventType"] == event.event_type
        assert datetime.fromisoformat(payload["eventTime"]).tzinfo is not None
        assert payload["run"]["runId"] == str(uuid.UUID(record.id))  # a UUID string
        assert (payload["job"]["namespace"], payload["job"]["name"]) == (namespace, event.job)
        parent = payload["run"]["facets"]["parent"]
        assert parent["run"] == {"runId": pipeline_run}
        assert parent["job"] == {"namespace": namespace, "name": "scores"}
        assert payload["schemaURL"] == (
            "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
        )
    for event in (events[0], events[-1]):  # the pipeline run: the parent job
        assert event.run_id == result.run_id
        assert event.payload["run"]["runId"] == pipeline_run
        assert event.payload["job"]["name"] == "scores"
        assert "parent" not in event.payload["run"]["facets"]
    for step in STEPS:  # START and COMPLETE of a step run share its run id
        start, complete = project.metadata.pipelines.events(result.record(step).id)
        assert start.payload["run"]["runId"] == complete.payload["run"]["runId"]
        assert start.payload["outputs"] == []  # outputs exist once the step completes
        assert start.payload["inputs"] == complete.payload["inputs"]


def test_datasets_carry_their_version_and_schema(project: Project) -> None:
    result = run(project)
    completes = {
        e.job.split(".")[1]: e.payload
        for e in project.metadata.pipelines.events()
        if e.event_type == "COMPLETE" and "." in e.job
    }

    (source,) = completes["ingest"]["inputs"]
    assert (source["namespace"], source["name"]) == ("file", "scores.csv")
    assert facets(source)["version"]["datasetVersion"] == (result.record("ingest").inputs[0].digest)
    (raw,) = completes["ingest"]["outputs"]
    ingest_digest = result.record("ingest").outputs[0].digest
    assert raw["name"] == "scores.ingest.out"
    assert facets(raw)["version"]["datasetVersion"] == ingest_digest
    assert facets(raw)["schema"]["fields"] == [
        {"name": "id", "type": "Int64"},
        {"name": "score", "type": "Float64"},
    ]
    (read,) = completes["scale"]["inputs"]  # the same dataset, so the jobs link up
    assert (read["namespace"], read["name"]) == (raw["namespace"], raw["name"])
    assert facets(read)["version"]["datasetVersion"] == ingest_digest
    (scaled,) = completes["scale"]["outputs"]
    assert [f["name"] for f in facets(scaled)["schema"]["fields"]] == ["id", "score", "scaled"]
    (published,) = completes["publish"]["outputs"]
    assert facets(published)["version"]["datasetVersion"] == (
        result.record("publish").outputs[0].digest
    )
    assert "schema" not in facets(published)  # a file, not a frame


def test_a_failing_step_emits_fail_with_its_error(project: Project) -> None:
    with pytest.raises(StepFailedError, match="no score may be negative"):
        run(project, "broken")

    events = project.metadata.pipelines.events()
    assert [(e.job, e.event_type) for e in events] == [
        ("broken", "START"),
        ("broken.ingest", "START"),
        ("broken.ingest", "COMPLETE"),
        ("broken.reject", "START"),
        ("broken.reject", "FAIL"),
        ("broken", "FAIL"),
    ]
    failed = events[-2].payload
    assert failed["outputs"] == []
    error = failed["run"]["facets"]["errorMessage"]
    assert error["message"] == "ValueError: no score may be negative"
    assert error["programmingLanguage"] == "python"
    assert "Traceback" in error["stackTrace"]
    assert failed["run"]["facets"]["keel"]["status"] == "failed"


# -- an OpenLineage endpoint ----------------------------------------------------------------
class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Any]]]:
    """An OpenLineage endpoint on 127.0.0.1: its URL and what it received."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    received: list[Any] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_every_event_is_posted_to_the_lineage_url(
    folder: Path, collector: tuple[str, list[Any]]
) -> None:
    url, received = collector
    config = folder / "keel.toml"
    commented = '# url = "http://localhost:5000/api/v1/lineage"'
    assert commented in config.read_text()
    config.write_text(config.read_text().replace(commented, f'url = "{url}"'))
    project = open_project(folder)

    run(project)

    stored = project.metadata.pipelines.events()
    assert len(received) == len(stored) == 8  # the pipeline run's two, each step's two
    assert [body["eventType"] for _, _, body in received] == [e.event_type for e in stored]
    assert [body for _, _, body in received] == [e.payload for e in stored]
    assert {(path, kind) for path, kind, _ in received} == {("/api/v1/lineage", "application/json")}


def test_an_unreachable_lineage_url_only_warns(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KEEL_LINEAGE_URL", f"http://127.0.0.1:{port}/api/v1/lineage")
    project = open_project(folder)

    with pytest.warns(RuntimeWarning) as warned:
        result = run(project)

    (warning,) = warned  # once, not once per event
    assert "did not take the START event of scores" in str(warning.message)
    assert "kept in the metadata store only" in str(warning.message)
    assert result.executed == STEPS
    assert project.metadata.get_run(result.run_id).status == "finished"
    assert len(project.metadata.pipelines.events()) == 8


# -- keel lineage ---------------------------------------------------------------------------
def keel(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def recorded(project: Project) -> dict[str, Any]:
    """Register the input with keel data add, then run the pipeline with keel run."""
    keel("data", "add", "scores.csv", "--name", "scores")
    done: dict[str, Any] = json.loads(keel("run", "scores.py:scores", "--format", "json").stdout)
    return done


def chain(node: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, label) from ``node`` down its first children to a leaf."""
    found = [(node["kind"], node["label"])]
    while node["children"]:
        assert len(node["children"]) == 1, node["children"]
        node = node["children"][0]
        found.append((node["kind"], node["label"]))
    return found


UPSTREAM_OF_PUBLISH = [
    ("step", "scores.publish"),
    ("artifact", "scale.out as scaled"),
    ("step", "scores.scale"),
    ("artifact", "ingest.out as raw"),
    ("step", "scores.ingest"),
    ("dataset", "scores/1"),
]


def lineage_json(ref: str) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads(keel("lineage", ref, "--format", "json").stdout)
    return tree


def test_lineage_of_a_step_reaches_the_input_dataset(
    project: Project, recorded: dict[str, Any]
) -> None:
    run_id = recorded["run_id"]
    tree = lineage_json(f"{run_id}:publish")

    assert chain(tree) == UPSTREAM_OF_PUBLISH
    outputs = {s["step"]: s["outputs"][0]["digest"] for s in recorded["steps"]}
    assert tree["run_id"] == run_id
    assert tree["detail"]["status"] == "finished"
    assert tree["detail"]["outputs"] == {"out": outputs["publish"]}
    artifact = tree["children"][0]
    assert artifact["digest"] == outputs["scale"]
    assert artifact["detail"] == {"rows": 3, "contract": "Scaled", "kind": "frame"}
    dataset = project.metadata.get_dataset_version("scores", 1)
    leaf = artifact["children"][0]["children"][0]["children"][0]["children"][0]
    assert leaf["digest"] == dataset.digest
    assert leaf["detail"] == {"input": "source", "path": "scores.csv"}

    text = keel("lineage", f"{run_id[:8]}:publish").stdout  # a run id prefix works too
    lines = ["step scores.publish", "step scores.scale", "step scores.ingest", "dataset scores/1"]
    positions = [text.index(line) for line in lines]
    assert positions == sorted(positions), text


def test_lineage_of_a_run_starts_at_its_final_step(
    project: Project, recorded: dict[str, Any]
) -> None:
    tree = lineage_json(recorded["run_id"])

    assert (tree["kind"], tree["label"]) == ("run", "run scores (finished)")
    assert tree["detail"]["pipeline"] == "scores"
    assert chain(tree) == [("run", "run scores (finished)"), *UPSTREAM_OF_PUBLISH]


def test_a_run_is_printed_once_as_run_name_not_run_run(
    project: Project, recorded: dict[str, Any]
) -> None:
    text = keel("lineage", recorded["run_id"]).stdout
    assert text.splitlines()[0] == "run scores (finished)"
    assert "run run" not in text
    dot = keel("lineage", recorded["run_id"], "--format", "dot").stdout
    assert '[label="run scores (finished)", shape=box3d];' in dot
    assert "run: run" not in dot


def test_lineage_of_an_output_digest_prefix(project: Project, recorded: dict[str, Any]) -> None:
    digest = {s["step"]: s["outputs"][0]["digest"] for s in recorded["steps"]}["scale"]
    tree = lineage_json(digest[:12])

    assert (tree["kind"], tree["label"], tree["digest"]) == ("artifact", "out", digest)
    assert chain(tree)[1:] == UPSTREAM_OF_PUBLISH[2:]  # made by scale, from ingest's output


def test_lineage_of_a_dataset_version(project: Project, recorded: dict[str, Any]) -> None:
    source = lineage_json("scores/1")  # registered by keel data add: no run made it
    assert (source["kind"], source["children"]) == ("dataset", [])
    assert source["digest"] == project.metadata.get_dataset_version("scores", 1).digest

    published = lineage_json("scaled/1")  # registered by the publish step, inside the run
    assert chain(published) == [
        ("dataset", "scaled/1"),
        ("run", "run scores (finished)"),
        *UPSTREAM_OF_PUBLISH,
    ]
    assert published["run_id"] == recorded["run_id"]


def test_lineage_as_a_graphviz_digraph(project: Project, recorded: dict[str, Any]) -> None:
    dot = keel("lineage", f"{recorded['run_id']}:publish", "--format", "dot").stdout

    assert dot.lstrip().startswith("digraph lineage {")
    assert dot.rstrip().endswith("}")
    edges = [line for line in dot.splitlines() if "->" in line]
    assert len(edges) == len(UPSTREAM_OF_PUBLISH) - 1  # a chain of six nodes

    library = to_dot(lineage_tree(f"{recorded['run_id']}:publish", project=project))
    for kind, label in UPSTREAM_OF_PUBLISH:
        assert f'[label="{kind}: {label}"' in library
    assert "shape=box" in library


def test_the_cli_digraph_keeps_node_labels(project: Project, recorded: dict[str, Any]) -> None:
    dot = keel("lineage", f"{recorded['run_id']}:publish", "--format", "dot").stdout

    assert '[label="step: scores.publish", shape=box];' in dot


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "'nope' is not a run, a step (RUN_ID:STEP), an artifact digest"),
        ("{run}:nosuch", "has no step 'nosuch'. Hint: Steps: ingest, scale, publish"),
        ("ffff0000:publish", "no run 'ffff0000' in this store"),
        ("scores/7", "version 7 of dataset 'scores' is not in the metadata store"),
    ],
)
def test_a_bad_ref_exits_2_with_a_message(
    project: Project, recorded: dict[str, Any], ref: str, message: str
) -> None:
    result = runner.invoke(app, ["lineage", ref.format(run=recorded["run_id"])])

    assert result.exit_code == 2, result.output
    shown = " ".join(result.stderr.split())  # the console folds long lines
    assert shown.startswith("error:")
    assert message in shown
    assert "Hint:" in shown
