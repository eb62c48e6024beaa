"""OpenLineage events that real consumers accept, sent when things happen.

Every event Keel emits is validated against the official OpenLineage JSON schemas (the
run event, and each facet against the schema its ``_schemaURL`` names: kept under
``data/openlineage/``, see its README for the source) and parsed into the event classes of
the ``openlineage-python`` client, whose serialization must give back the same event.
A local HTTP receiver sees a running step's ``START`` before the step completes.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.config import init_project
from keel.errors import StepFailedError
from keel.pipelines import PipelineResult, load_pipeline, run_pipeline
from keel.tracking import Project, open_project

jsonschema = pytest.importorskip("jsonschema")  # a dev dependency: fails under CI=true
referencing = pytest.importorskip("referencing")
pytest.importorskip("openlineage.client")

from openlineage.client import event_v2  # noqa: E402
from openlineage.client.generated import (  # noqa: E402
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.generated.base import DatasetFacet, RunFacet  # noqa: E402
from openlineage.client.serde import Serde  # noqa: E402
from referencing.jsonschema import DRAFT202012  # noqa: E402

DATA = Path(__file__).parent / "data" / "openlineage"
KEEL_SCHEMAS = Path(keel.__file__).parent / "pipelines" / "openlineage"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
# where Keel's own facet schemas are published: this repository at the release's tag
KEEL_URL = f"https://raw.githubusercontent.com/keel-mlops/keel/v{keel.__version__}/"

FLOW = '''\
"""Pipelines whose lineage the tests read."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import polars as pl

import keel


class Raw(keel.Schema):
    id: keel.Column[int]
    score: keel.Column[float]


@keel.step
def ingest(source: Path) -> keel.Frame[Raw]:
    return Raw.validate(pl.read_csv(source))


@keel.step
def total(raw: keel.Frame[Raw]) -> dict[str, float]:
    return {"total": float(raw.to_polars()["score"].sum())}


@keel.pipeline
def scores(source: Path = Path("scores.csv")) -> None:
    total(ingest(source))


@keel.step
def reject(raw: keel.Frame[Raw]) -> dict[str, float]:
    raise ValueError("no score may be negative")


@keel.pipeline
def broken(source: Path = Path("scores.csv")) -> None:
    reject(ingest(source))


@keel.step
def watched(receiver: str) -> dict[str, list[str]]:
    """Ask the lineage server what it knows of this step while the step runs, then sleep."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(receiver, timeout=5) as answer:
            received = json.load(answer)
        mine = [e["eventType"] for e in received if e["job"]["name"] == "watch.watched"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # still running: the server must not have the end yet
    with urllib.request.urlopen(receiver, timeout=5) as answer:
        received = json.load(answer)
    return {
        "step": [e["eventType"] for e in received if e["job"]["name"] == "watch.watched"],
        "pipeline": [e["eventType"] for e in received if e["job"]["name"] == "watch"],
    }


@keel.pipeline
def watch(receiver: str = "") -> None:
    watched(receiver)


@keel.step(timeout=0.5)
def stuck(raw: keel.Frame[Raw]) -> dict[str, float]:
    time.sleep(30)
    return {}


@keel.step
def interrupted(raw: keel.Frame[Raw]) -> dict[str, float]:
    raise KeyboardInterrupt  # Ctrl-C while the step runs


@keel.pipeline
def stopped(source: Path = Path("scores.csv")) -> None:
    interrupted(ingest(source))


@keel.pipeline
def hangs(source: Path = Path("scores.csv")) -> None:
    stuck(ingest(source))
'''


# -- the official schemas ---------------------------------------------------------------------
def _registry() -> Any:
    resources = []
    for path in [DATA / "OpenLineage.json", *sorted((DATA / "facets").glob("*.json"))]:
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], referencing.Resource.from_contents(contents)))
    for path in sorted(KEEL_SCHEMAS.glob("*.json")):  # Keel's facets, by their published URL
        contents = json.loads(path.read_text())
        url = KEEL_URL + "src/keel/pipelines/openlineage/" + path.name
        resources.append((url, DRAFT202012.create_resource(contents)))
    return referencing.Registry().with_resources(resources)


REGISTRY = _registry()


def validate(payload: Mapping[str, Any]) -> None:
    """Valid as a RunEvent, and every facet valid against the schema its _schemaURL names."""
    _check(payload, payload["schemaURL"])  # the schema the event names, found and met
    assert payload["schemaURL"] == RUN_EVENT
    facets = [
        *payload["run"]["facets"].items(),
        *payload["job"]["facets"].items(),
        *(f for d in (*payload["inputs"], *payload["outputs"]) for f in d["facets"].items()),
    ]
    assert facets
    for name, facet in facets:
        url = facet["_schemaURL"]
        base = url.partition("#")[0]
        assert base in {str(uri) for uri in REGISTRY}, f"facet {name}: no schema at {url}"
        _check(facet, url)
        # the facet is also the one the schema defines under this key
        _check({name: facet}, base)


def _check(instance: Any, url: str) -> None:
    validator = jsonschema.Draft202012Validator(
        {"$ref": url},
        registry=REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


# -- the openlineage-python client --------------------------------------------------------------
def parse(payload: Mapping[str, Any]) -> event_v2.RunEvent:
    """The event as openlineage-python's own classes (its validators run on every field)."""
    run, job = payload["run"], payload["job"]
    return event_v2.RunEvent(
        eventType=event_v2.RunState(payload["eventType"]),
        eventTime=payload["eventTime"],
        producer=payload["producer"],
        run=event_v2.Run(
            runId=run["runId"], facets={k: _run_facet(k, v) for k, v in run["facets"].items()}
        ),
        job=event_v2.Job(
            namespace=job["namespace"],
            name=job["name"],
            facets={k: _job_facet(k, v) for k, v in job["facets"].items()},
        ),
        inputs=[event_v2.InputDataset(**_dataset(d)) for d in payload["inputs"]],
        outputs=[event_v2.OutputDataset(**_dataset(d)) for d in payload["outputs"]],
    )


def _fields(facet: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facet.items() if not k.startswith("_")}


def _run_facet(name: str, facet: Mapping[str, Any]) -> Any:
    fields, producer = _fields(facet), facet["_producer"]
    if name == "parent":
        return parent_run.ParentRunFacet(
            run=parent_run.Run(**fields["run"]),
            job=parent_run.Job(**fields["job"]),
            root=parent_run.Root(
                run=parent_run.RootRun(**fields["root"]["run"]),
                job=parent_run.RootJob(**fields["root"]["job"]),
            ),
            producer=producer,
        )
    standard = {
        "errorMessage": error_message_run.ErrorMessageRunFacet,
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    }
    if name in standard:
        return standard[name](**fields, producer=producer)
    assert name == "keel", name  # the one custom run facet
    return RunFacet(producer=producer).with_additional_properties(**fields)


def _job_facet(name: str, facet: Mapping[str, Any]) -> Any:
    assert name == "jobType", name
    return job_type_job.JobTypeJobFacet(**_fields(facet), producer=facet["_producer"])


def _dataset(dataset: Mapping[str, Any]) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    for name, facet in dataset["facets"].items():
        fields, producer = _fields(facet), facet["_producer"]
        if name == "version":
            facets[name] = dataset_version_dataset.DatasetVersionDatasetFacet(
                **fields, producer=producer
            )
        elif name == "schema":
            columns = [schema_dataset.SchemaDatasetFacetFields(**f) for f in fields["fields"]]
            facets[name] = schema_dataset.SchemaDatasetFacet(fields=columns, producer=producer)
        else:
            assert name == "keelDataset", name
            facets[name] = DatasetFacet(producer=producer).with_additional_properties(**fields)
    return {"namespace": dataset["namespace"], "name": dataset["name"], "facets": facets}


def _pruned(value: Any, custom: bool = False) -> Any:
    """Without empty lists and dicts (the client adds unset optional ones) and, in Keel's
    own facets, without ``_schemaURL`` (the client's generic facet class names its own)."""
    if isinstance(value, dict):
        return {
            k: _pruned(v, custom or k in ("keel", "keelDataset"))
            for k, v in value.items()
            if v not in ([], {}) and not (custom and k == "_schemaURL")
        }
    if isinstance(value, list):
        return [_pruned(v, custom) for v in value]
    return value


def accepted(payload: Mapping[str, Any]) -> None:
    """Valid against the schemas, and read by openlineage-python into the same event."""
    validate(payload)
    parsed = Serde.to_dict(parse(payload))
    assert _pruned(parsed) == _pruned(dict(payload))
    assert parsed["schemaURL"] == payload["schemaURL"]  # what the client itself sends
    for name, facet in payload["run"]["facets"].items():
        if name != "keel":  # a standard facet: the client's own _schemaURL, to the letter
            assert parsed["run"]["facets"][name]["_schemaURL"] == facet["_schemaURL"]


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "scores.csv").write_text("id,score\n1,2.0\n2,4.0\n3,8.0\n")
    return open_project(tmp_path)


class _Receiver(http.server.BaseHTTPRequestHandler):
    """An OpenLineage endpoint: POST takes an event, GET lists what it has taken."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(201)
        self.end_headers()

    def do_GET(self) -> None:
        body = json.dumps(self.received).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A lineage server on 127.0.0.1, set as the project's ``[lineage] url``."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage"
    monkeypatch.setenv("KEEL_LINEAGE_URL", url)
    try:
        yield url, received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run(project: Project, name: str, **kwargs: Any) -> PipelineResult:
    return run_pipeline(load_pipeline(f"flow.py:{name}"), project=open_project(), **kwargs)


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["job"]["name"], e["eventType"]) for e in events]


# -- tests --------------------------------------------------------------------------------------
def test_every_event_of_a_run_and_a_cached_rerun_is_accepted(
    project: Project, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = receiver
    first = run(project, "scores")
    second = run(project, "scores")  # every step a cache hit

    assert second.cached == ["ingest", "total"]
    run_events = [
        ("scores", "START"),
        ("scores.ingest", "START"),
        ("scores.ingest", "COMPLETE"),
        ("scores.total", "START"),
        ("scores.total", "COMPLETE"),
        ("scores", "COMPLETE"),
    ]
    assert kinds(received) == run_events * 2
    assert received == [e.payload for e in project.metadata.pipelines.events()]
    for payload in received:
        accepted(payload)
    for result, events in ((first, received[:6]), (second, received[6:])):
        pipeline_run = str(uuid.UUID(result.run_id))
        parent, *steps, end = events
        assert parent["run"]["runId"] == end["run"]["runId"] == pipeline_run
        assert "parent" not in parent["run"]["facets"]  # the pipeline run is the root
        assert parent["job"]["facets"]["jobType"]["jobType"] == "JOB"
        for event in steps:
            assert event["run"]["facets"]["parent"]["run"] == {"runId": pipeline_run}
            assert event["run"]["facets"]["parent"]["job"]["name"] == "scores"
            assert event["job"]["facets"]["jobType"]["jobType"] == "TASK"
        times = [datetime.fromisoformat(e["eventTime"]) for e in events]
        assert times == sorted(times)  # sent in the order they happened
    cached = [e["run"]["facets"]["keel"]["status"] for e in received[7:11]]
    assert cached == ["cached"] * 4  # a cache hit: START and COMPLETE, saying so
    assert received[7]["inputs"] == received[8]["inputs"]
    assert (
        received[8]["outputs"][0]["facets"]["version"]
        == (
            received[2]["outputs"][0]["facets"]["version"]  # the same bytes, not run again
        )
    )


def test_a_failing_step_emits_fail_and_so_does_its_pipeline(
    project: Project, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = receiver
    with pytest.raises(StepFailedError, match="no score may be negative"):
        run(project, "broken")

    assert kinds(received) == [
        ("broken", "START"),
        ("broken.ingest", "START"),
        ("broken.ingest", "COMPLETE"),
        ("broken.reject", "START"),
        ("broken.reject", "FAIL"),
        ("broken", "FAIL"),
    ]
    for payload in received:
        accepted(payload)
    step_error = received[4]["run"]["facets"]["errorMessage"]
    assert step_error["message"] == "ValueError: no score may be negative"
    assert "Traceback" in step_error["stackTrace"]
    pipeline_error = received[5]["run"]["facets"]["errorMessage"]
    assert "step 'reject' of pipeline 'broken' raised an error" in pipeline_error["message"]


def test_a_step_that_times_out_sent_its_start(
    project: Project, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = receiver
    with pytest.raises(StepFailedError, match="timed out"):
        run(project, "hangs")

    assert kinds(received)[3:] == [
        ("hangs.stuck", "START"),
        ("hangs.stuck", "FAIL"),
        ("hangs", "FAIL"),
    ]
    for payload in received:
        accepted(payload)


def test_a_step_cut_off_by_ctrl_c_is_aborted_and_its_pipeline_fails(
    project: Project, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = receiver
    with pytest.raises(KeyboardInterrupt):
        run(project, "stopped")

    assert kinds(received)[3:] == [
        ("stopped.interrupted", "START"),
        ("stopped.interrupted", "ABORT"),
        ("stopped", "FAIL"),
    ]
    for payload in received:
        accepted(payload)
    assert received[-2]["run"]["facets"]["keel"]["status"] == "aborted"
    assert received[-1]["run"]["facets"]["errorMessage"]["message"] == "KeyboardInterrupt"


@pytest.mark.parametrize("executor", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_a_running_step_is_seen_running_by_the_lineage_server(
    project: Project, receiver: tuple[str, list[dict[str, Any]]], executor: str
) -> None:
    url, received = receiver
    result = run(project, "watch", params={"receiver": url}, executor=executor)

    # what the server had while the step ran, as the step itself asked it
    assert result.value("watched") == {"step": ["START"], "pipeline": ["START"]}
    assert kinds(received) == [
        ("watch", "START"),
        ("watch.watched", "START"),
        ("watch.watched", "COMPLETE"),
        ("watch", "COMPLETE"),
    ]
    for payload in received:
        accepted(payload)
    start = datetime.fromisoformat(received[1]["eventTime"])
    end = datetime.fromisoformat(received[2]["eventTime"])
    assert (end - start).total_seconds() >= 0.3  # START was not back-dated at the end


def _broken(payload: dict[str, Any], change: str) -> dict[str, Any]:
    broken = json.loads(json.dumps(payload))
    facets = broken["run"]["facets"]
    if change == "old schemaURL":  # what Keel sent before: a pointer into nothing
        broken["schemaURL"] = (
            "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
        )
    elif change == "facet version that does not exist":
        facets["parent"]["_schemaURL"] = (
            "https://openlineage.io/spec/facets/1-1-1/ParentRunFacet.json"
        )
    elif change == "parent without its job":
        del facets["parent"]["job"]
    elif change == "run id not a UUID":
        broken["run"]["runId"] = "a1b2c3"
    elif change == "unknown event type":
        broken["eventType"] = "FINISHED"
    return broken


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("old schemaURL", "'/definitions/RunEvent' does not exist"),
        ("facet version that does not exist", "no schema at"),
        ("parent without its job", "'job' is a required property"),
        ("run id not a UUID", "'a1b2c3' is not a 'uuid'"),
        ("unknown event type", "'FINISHED' is not one of"),
    ],
)
def test_the_checks_refuse_a_broken_event(
    project: Project, receiver: tuple[str, list[dict[str, Any]]], change: str, why: str
) -> None:
    _, received = receiver
    run(project, "scores")
    step_start = received[1]
    accepted(step_start)

    with pytest.raises((AssertionError, referencing.exceptions.Unresolvable)) as refused:
        accepted(_broken(step_start, change))
    assert why in str(refused.value)
