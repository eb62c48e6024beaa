"""The routes of the serving app; the prediction routes are also returned as plain ASGI
callables that the middleware calls directly (see :mod:`keel.serve._middleware`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from keel._version import __version__
from keel.serve._batching import Occupancy
from keel.serve._formats import mlflow_records, predict_records, v2_outputs, v2_records
from keel.serve._http import (
    RequestError,
    json_response,
    parsed,
    problem_response,
    read_body,
)
from keel.serve._metrics import CONTENT_TYPE
from keel.serve._openapi import route_docs

if TYPE_CHECKING:
    from keel.serve._app import KeelServer
    from keel.serve._served import ServedModel

__all__ = ["add_routes"]


def add_routes(app: FastAPI, server: KeelServer) -> dict[str, Any]:
    """Add the routes to ``app``; return the prediction routes as ASGI apps by path, which
    the middleware calls directly (see :mod:`keel.serve._middleware`)."""
    name = server.name
    docs = route_docs(server.champion)

    @app.post("/predict", openapi_extra=docs["predict"], tags=["predict"])
    async def predict(request: Request) -> Response:
        """Predict one record (a JSON object) or many (an array of objects)."""
        request.scope["state"]["route"] = "/predict"
        body = await read_body(request, server.max_body_bytes)
        records = parsed(lambda: predict_records(body))
        answer = await server.answer(request, records, "/predict")
        prediction = answer.prediction
        out: dict[str, Any] = {
            "request_id": request.scope["state"]["request_id"],
            "model": name,
            "version": prediction.version,
            "predictions": prediction.predictions,
        }
        if prediction.probabilities is not None:
            out["probabilities"] = prediction.probabilities
        return json_response(out)

    @app.post("/invocations", openapi_extra=docs["invocations"], tags=["predict"])
    async def invocations(request: Request) -> Response:
        """MLflow's scoring protocol, as ``mlflow models serve`` answers it."""
        request.scope["state"]["route"] = "/invocations"
        body = await read_body(request, server.max_body_bytes, csv=True)
        columns = server.champion.columns
        records = body if isinstance(body, list) else parsed(lambda: mlflow_records(body, columns))
        answer = await server.answer(request, records, "/invocations")
        return json_response({"predictions": answer.prediction.predictions})

    @app.post("/v2/models/{model_name}/infer", openapi_extra=docs["infer"], tags=["v2"])
    async def infer(model_name: str, request: Request) -> Response:
        """Open Inference Protocol v2 inference."""
        request.scope["state"]["route"] = "/v2/models/{name}/infer"
        _known(model_name, name)
        body = await read_body(request, server.max_body_bytes)
        columns = server.champion.columns
        records, request_id = parsed(lambda: v2_records(body, columns))
        answer = await server.answer(request, records, "/v2/models/{name}/infer")
        prediction = answer.prediction
        out: dict[str, Any] = {
            "model_name": name,
            "model_version": str(prediction.version),
            "id": request_id
            if isinstance(request_id, str)
            else request.scope["state"]["request_id"],
            "outputs": v2_outputs(prediction.predictions, prediction.probabilities),
        }
        return json_response(out)

    @app.post("/feedback", openapi_extra=docs["feedback"], tags=["feedback"])
    async def feedback(request: Request) -> Response:
        """Ground truth for an earlier request: its id and a label (or one per record)."""
        request.scope["state"]["route"] = "/feedback"
        server.feedback_gate.authorize(request)  # before the body: no token, no work
        body = await read_body(request, server.max_body_bytes)
        request_id, count = await server.feedback(body)
        return json_response({"request_id": request_id, "accepted": count}, 202)

    _v2_routes(app, server)
    _operation_routes(app, server, docs)
    occupancy = server.occupancy
    return {
        "/predict": _direct(predict, occupancy),
        "/invocations": _direct(invocations, occupancy),
        "/feedback": _direct(feedback, None),
    }


def _v2_routes(app: FastAPI, server: KeelServer) -> None:
    """The Open Inference Protocol v2 health and metadata routes."""
    name = server.name

    @app.get("/v2", tags=["v2"])
    async def server_metadata(request: Request) -> Response:
        """Open Inference Protocol v2 server metadata."""
        request.scope["state"]["route"] = "/v2"
        return json_response({"name": "keel", "version": __version__, "extensions": []})

    @app.get("/v2/health/live", tags=["v2"])
    async def live(request: Request) -> Response:
        """Liveness: the process answers."""
        request.scope["state"]["route"] = "/v2/health/live"
        return json_response({"live": True})

    @app.get("/v2/health/ready", tags=["v2"])
    async def ready(request: Request) -> Response:
        """Readiness: a model is loaded and the server is not shutting down."""
        request.scope["state"]["route"] = "/v2/health/ready"
        return json_response({"ready": server.ready}, 200 if server.ready else 503)

    @app.get("/v2/models/{model_name}", tags=["v2"])
    async def model_metadata(model_name: str, request: Request) -> Response:
        """Open Inference Protocol v2 model metadata."""
        request.scope["state"]["route"] = "/v2/models/{name}"
        _known(model_name, name)
        served = server.champion
        request.scope["state"]["version"] = served.version
        return json_response(_metadata(served, server))

    @app.get("/v2/models/{model_name}/ready", tags=["v2"])
    async def model_ready(model_name: str, request: Request) -> Response:
        """Open Inference Protocol v2 model readiness."""
        request.scope["state"]["route"] = "/v2/models/{name}/ready"
        _known(model_name, name)
        return json_response({"name": name, "ready": server.ready}, 200 if server.ready else 503)


def _operation_routes(app: FastAPI, server: KeelServer, docs: dict[str, Any]) -> None:
    """Metrics and the admin routes."""

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        request.scope["state"]["route"] = "/metrics"
        return Response(server.metrics.exposition(), media_type=CONTENT_TYPE)

    async def admin(request: Request, action: str) -> Response:
        request.scope["state"]["route"] = f"/admin/{action}"
        server.authorize(request)
        reason = f"admin {action} over HTTP"
        if request.headers.get("content-length", "0") not in ("", "0"):
            body = await read_body(request, server.max_body_bytes)
            if isinstance(body, dict) and isinstance(body.get("reason"), str):
                reason = body["reason"][:500]
        return json_response(await server.admin(action, reason))

    @app.post("/admin/promote", openapi_extra=docs["admin"], tags=["admin"])
    async def promote(request: Request) -> Response:
        """Promote the challenger to champion (bearer token)."""
        return await admin(request, "promote")

    @app.post("/admin/rollback", openapi_extra=docs["admin"], tags=["admin"])
    async def rollback(request: Request) -> Response:
        """Roll back: remove the challenger, or the champion to its previous version."""
        return await admin(request, "rollback")


def _direct(handler: Callable[[Request], Any], occupancy: Occupancy | None) -> Any:
    """``handler`` as an ASGI app that answers RequestError itself and counts itself in
    ``occupancy`` (so the batcher knows when no request in flight can join a batch)."""

    async def call(scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        if occupancy is not None:
            occupancy.enter()
        try:
            response = await handler(request)
        except RequestError as exc:
            response = await problem_response(request, exc)
        finally:
            if occupancy is not None:
                occupancy.leave()
        await response(scope, receive, send)

    return call


def _known(asked: str, name: str) -> None:
    if asked != name:
        raise RequestError(404, "model_not_found", f"this server serves {name!r}, not {asked!r}")


def _metadata(served: ServedModel, server: KeelServer) -> dict[str, Any]:
    contract = served.model.input_contract
    inputs = []
    for column in contract.columns if contract is not None else ():
        inputs.append(
            {
                "name": column.name,
                "datatype": _V2_DTYPES.get(column.dtype.value, "BYTES"),
                "shape": [-1],
            }
        )
    outputs = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
    if served.classifier:
        width = len(served.classes or [])
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    versions = sorted({str(s.version) for s in server.models.values()})
    return {
        "name": served.name,
        "versions": versions,
        "platform": f"keel-{served.model.manifest.adapter}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"classes": served.classes, "task": served.model.manifest.task},
    }


_V2_DTYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "decimal": "FP64"}
