"""OpenLineage run events for pipeline runs and their step runs, sent as things happen.

The pipeline run is the parent job: ``START`` when it begins, ``COMPLETE`` or ``FAIL`` when
it ends. Each step run is a child job ``PIPELINE.STEP`` whose events carry the ``parent``
run facet naming the pipeline run: ``START`` when the step is handed to its executor (so a
lineage server sees it running, and a step that is killed has sent its ``START``), then
``COMPLETE`` or ``FAIL`` when it ends, or ``ABORT`` when the pipeline stops under it. A
cache hit sends ``START`` and ``COMPLETE`` at once, its ``keel`` facet saying ``cached``.

Events follow the OpenLineage 2-0-2 run event schema; every facet's ``_schemaURL`` names
the facet schema version it conforms to (the versions openlineage-python 1.54 emits; Keel's
own facets name the schema files shipped beside this module). Events are kept in the
metadata store and, when ``[lineage] url`` is set, POSTed there too; an unreachable
endpoint is reported once as a warning and never fails the pipeline.
"""

from __future__ import annotations

import json
import traceback
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from keel._version import __version__
from keel.errors import KeelError
from keel.store import LineageEvent, PipelineStore, StepIO, StepRunRecord

__all__ = [
    "PRODUCER",
    "SCHEMA_URL",
    "LineageEmitter",
    "ParentRun",
    "pipeline_event",
    "post_events",
    "step_end_event",
    "step_start_event",
]

EventType = Literal["START", "COMPLETE", "FAIL", "ABORT"]

PRODUCER = f"https://github.com/keel-mlops/keel/tree/v{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
# the newest published version of each standard facet (spec/facets/*.json in the
# OpenLineage repository): a consumer that fetches a _schemaURL finds that schema
FACETS = {
    "ParentRunFacet": "1-2-0",
    "ErrorMessageRunFacet": "1-0-1",
    "ProcessingEngineRunFacet": "1-1-1",
    "JobTypeJobFacet": "2-0-4",
    "DatasetVersionDatasetFacet": "1-0-1",
    "SchemaDatasetFacet": "1-2-0",
}
# Keel's own facets: their JSON schemas ship in keel/pipelines/openlineage/
KEEL_FACET_URL = (
    f"https://raw.githubusercontent.com/keel-mlops/keel/v{__version__}"
    "/src/keel/pipelines/openlineage/{0}.json#/$defs/{0}"
)


def _facet(facet: str, **fields: Any) -> dict[str, Any]:
    version = FACETS.get(facet)
    if version is None:
        url = KEEL_FACET_URL.format(facet)
    else:
        url = f"https://openlineage.io/spec/facets/{version}/{facet}.json#/$defs/{facet}"
    return {"_producer": PRODUCER, "_schemaURL": url, **fields}


@dataclass(frozen=True)
class ParentRun:
    """The pipeline run a step run belongs to: its run id and its job (the pipeline)."""

    run_id: str
    namespace: str
    pipeline: str

    @property
    def run_uuid(self) -> str:
        return str(uuid.UUID(self.run_id))


def pipeline_event(
    parent: ParentRun, kind: EventType, when: datetime, *, error: BaseException | None = None
) -> LineageEvent:
    """An event of the pipeline run itself, the parent job of its steps."""
    run_facets: dict[str, Any] = {"processing_engine": _engine()}
    if error is not None:
        if isinstance(error, KeelError):
            message = error.message  # the hint stays in the stack trace
        else:
            message = ": ".join(filter(None, (type(error).__name__, str(error))))
        trace = "".join(traceback.format_exception(error))
        run_facets["errorMessage"] = _error(trace, message)
    payload = _payload(
        kind,
        when,
        run={"runId": parent.run_uuid, "facets": run_facets},
        job={"namespace": parent.namespace, "name": parent.pipeline, "facets": _job_type("JOB")},
        inputs=[],
        outputs=[],
    )
    return LineageEvent(parent.run_id, kind, when, parent.pipeline, payload)


def step_start_event(
    parent: ParentRun,
    step_run_id: str,
    *,
    step: str,
    key: str,
    inputs: Sequence[StepIO],
    when: datetime,
) -> LineageEvent:
    """A step run's ``START``: its inputs are known, its outputs are not yet."""
    facets = _step_facets(parent, {"status": "running", "cacheKey": key, "attempts": 0})
    return _step_event(
        parent, step_run_id, "START", step=step, when=when, facets=facets, inputs=inputs
    )


def step_end_event(
    parent: ParentRun, record: StepRunRecord, kind: EventType | None = None
) -> LineageEvent:
    """A step run's ``COMPLETE`` (a cache hit too) or ``FAIL`` (or ``kind``: ``START``
    of a cache hit, ``ABORT``), with its outputs."""
    kind = kind or ("FAIL" if record.status == "failed" else "COMPLETE")
    status = "aborted" if kind == "ABORT" else record.status
    facets = _step_facets(
        parent, {"status": status, "cacheKey": record.key, "attempts": record.attempts}
    )
    if kind == "FAIL" and record.error:
        facets["errorMessage"] = _error(record.error)
    when = record.started_at if kind == "START" else record.ended_at
    outputs = record.outputs if kind in ("COMPLETE", "FAIL") else ()
    return _step_event(
        parent,
        record.id,
        kind,
        step=record.step,
        when=when,
        facets=facets,
        inputs=record.inputs,
        outputs=outputs,
    )


def _step_event(
    parent: ParentRun,
    step_run_id: str,
    kind: EventType,
    *,
    step: str,
    when: datetime,
    facets: dict[str, Any],
    inputs: Sequence[StepIO],
    outputs: Sequence[StepIO] = (),
) -> LineageEvent:
    job = f"{parent.pipeline}.{step}"
    payload = _payload(
        kind,
        when,
        run={"runId": str(uuid.UUID(step_run_id)), "facets": facets},
        job={"namespace": parent.namespace, "name": job, "facets": _job_type("TASK")},
        inputs=[_dataset(item, parent, step, "in") for item in inputs],
        outputs=[_dataset(item, parent, step, "out") for item in outputs],
    )
    return LineageEvent(step_run_id, kind, when, job, payload)


def _payload(
    kind: EventType,
    when: datetime,
    *,
    run: dict[str, Any],
    job: dict[str, Any],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": when.isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": run,
        "job": job,
        "inputs": inputs,
        "outputs": outputs,
    }


def _step_facets(parent: ParentRun, keel: dict[str, Any]) -> dict[str, Any]:
    ids = {
        "run": {"runId": parent.run_uuid},
        "job": {"namespace": parent.namespace, "name": parent.pipeline},
    }
    return {
        "parent": _facet("ParentRunFacet", **ids, root=ids),  # a pipeline run is the root
        "processing_engine": _engine(),
        "keel": _facet("KeelRunFacet", **keel),
    }


def _engine() -> dict[str, Any]:
    return _facet("ProcessingEngineRunFacet", name="keel", version=__version__)


def _job_type(kind: str) -> dict[str, Any]:
    return {
        "jobType": _facet(
            "JobTypeJobFacet", processingType="BATCH", integration="KEEL", jobType=kind
        )
    }


def _error(error: str, message: str | None = None) -> dict[str, Any]:
    """``message`` (by default the traceback's last line) and the stack trace."""
    lines = error.strip().splitlines() or ["failed"]
    return _facet(
        "ErrorMessageRunFacet",
        message=(message or lines[-1])[:1000],
        programmingLanguage="python",
        stackTrace=error[-10_000:],
    )


def _dataset(item: StepIO, parent: ParentRun, step: str, direction: str) -> dict[str, Any]:
    detail: Mapping[str, Any] = item.detail
    if item.kind == "external":
        name = str(detail.get("path", item.name))
        ns = "file"
    elif direction == "out":
        name, ns = f"{parent.pipeline}.{step}.{item.name}", parent.namespace
    else:
        producer = detail.get("producer") or item.name
        name = f"{parent.pipeline}.{producer}.{detail.get('output', item.name)}"
        ns = parent.namespace
    facets: dict[str, Any] = {
        "version": _facet("DatasetVersionDatasetFacet", datasetVersion=item.digest)
    }
    schema = detail.get("schema")
    if isinstance(schema, Mapping):
        fields = [{"name": k, "type": str(v)} for k, v in schema.items()]
        facets["schema"] = _facet("SchemaDatasetFacet", fields=fields)
    if detail.get("dataset"):
        facets["keelDataset"] = _facet("KeelDatasetFacet", version=str(detail["dataset"]))
    return {"namespace": ns, "name": name, "facets": facets}


class LineageEmitter:
    """Keeps each event in the metadata store and POSTs it to ``url`` (when set).

    After the first event the endpoint does not take, the rest of the run's events are kept
    in the store only (one warning, not one per event).
    """

    def __init__(self, store: PipelineStore, url: str | None) -> None:
        self.store = store
        self.url = url or None

    def emit(self, *events: LineageEvent, records: Sequence[StepRunRecord] = ()) -> None:
        self.store.record(records, events)  # one transaction: a record and its end event
        if self.url is not None and post_events(self.url, events) < len(events):
            self.url = None


def post_events(url: str, events: Sequence[LineageEvent], *, timeout: float = 5.0) -> int:
    """POST each event's JSON to an OpenLineage endpoint; return how many were accepted."""
    sent = 0
    for event in events:
        body = json.dumps(event.payload).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                sent += 200 <= response.status < 300
        except (urllib.error.URLError, OSError) as exc:
            warnings.warn(
                f"OpenLineage endpoint {url} did not take the {event.event_type} event of "
                f"{event.job} ({exc}); it and the rest of this run's events are kept in the "
                "metadata store only.",
                RuntimeWarning,
                stacklevel=2,
            )
            break
    return sent
