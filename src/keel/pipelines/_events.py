"""OpenLineage run events for step runs: START, then COMPLETE or FAIL.

Events follow the OpenLineage 2-0-2 run event schema: the job is ``PIPELINE.STEP`` in the
project's namespace, the run id is the step run's id (as a UUID), the parent facet names
the pipeline run, and datasets carry a schema facet and their version (the content digest).
They are kept in the metadata store and, when ``[lineage] url`` is set, POSTed there too;
an unreachable endpoint is reported as a warning and never fails the pipeline.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from keel._version import __version__
from keel.store import LineageEvent, StepIO, StepRunRecord

__all__ = ["PRODUCER", "SCHEMA_URL", "post_events", "step_events"]

PRODUCER = f"https://github.com/keel-mlops/keel/tree/v{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
_FACET = "https://openlineage.io/spec/facets/1-1-1/{}.json"


def step_events(record: StepRunRecord, namespace: str) -> list[LineageEvent]:
    """The START and COMPLETE/FAIL events of one step run (a cache hit completes too)."""
    job = f"{record.pipeline}.{record.step}"
    end_type = "FAIL" if record.status == "failed" else "COMPLETE"
    return [
        _event(record, namespace, job, "START", record.started_at),
        _event(record, namespace, job, end_type, record.ended_at),
    ]


def _event(
    record: StepRunRecord, namespace: str, job: str, kind: str, when: datetime
) -> LineageEvent:
    run_facets: dict[str, Any] = {
        "parent": {
            "_producer": PRODUCER,
            "_schemaURL": _FACET.format("ParentRunFacet"),
            "run": {"runId": str(uuid.UUID(record.run_id))},
            "job": {"namespace": namespace, "name": record.pipeline},
        },
        "keel": {
            "_producer": PRODUCER,
            "_schemaURL": PRODUCER + "/docs/pipelines.md#lineage",
            "cacheKey": record.key,
            "status": record.status,
            "attempts": record.attempts,
        },
    }
    if kind == "FAIL" and record.error:
        run_facets["errorMessage"] = {
            "_producer": PRODUCER,
            "_schemaURL": _FACET.format("ErrorMessageRunFacet"),
            "message": record.error.strip().splitlines()[-1][:1000],
            "programmingLanguage": "python",
            "stackTrace": record.error[-10_000:],
        }
    payload: dict[str, Any] = {
        "eventType": kind,
        "eventTime": when.isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.UUID(record.id)), "facets": run_facets},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": [_dataset(item, namespace, record, "in") for item in record.inputs],
        "outputs": (
            [_dataset(item, namespace, record, "out") for item in record.outputs]
            if kind != "START"
            else []
        ),
    }
    return LineageEvent(record.id, kind, when, job, payload)


def _dataset(item: StepIO, namespace: str, record: StepRunRecord, direction: str) -> dict[str, Any]:
    detail: Mapping[str, Any] = item.detail
    if item.kind == "external":
        name = str(detail.get("path", item.name))
        ns = "file"
    elif direction == "out":
        name, ns = f"{record.pipeline}.{record.step}.{item.name}", namespace
    else:
        producer = detail.get("producer") or item.name
        name, ns = f"{record.pipeline}.{producer}.{detail.get('output', item.name)}", namespace
    facets: dict[str, Any] = {
        "version": {
            "_producer": PRODUCER,
            "_schemaURL": _FACET.format("DatasetVersionDatasetFacet"),
            "datasetVersion": item.digest,
        }
    }
    schema = detail.get("schema")
    if isinstance(schema, Mapping):
        facets["schema"] = {
            "_producer": PRODUCER,
            "_schemaURL": _FACET.format("SchemaDatasetFacet"),
            "fields": [{"name": k, "type": str(v)} for k, v in schema.items()],
        }
    if detail.get("dataset"):
        facets["keelDataset"] = {
            "_producer": PRODUCER,
            "_schemaURL": PRODUCER + "/docs/pipelines.md#lineage",
            "version": detail["dataset"],
        }
    return {"namespace": ns, "name": name, "facets": facets}


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
                f"OpenLineage endpoint {url} did not take the event ({exc}); the event is "
                "kept in the metadata store.",
                RuntimeWarning,
                stacklevel=2,
            )
            break
    return sent
