"""The routes of the serving app; the prediction routes are also returned as plain ASGI
callables that the middleware calls directly (see :mod:`keel.serve._middleware`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from keel._version import __version__
from keel.serve._batching import Occupancy
from keel.serve._formats import mlflow_records, predict_records, v2_outputs, v2_records
from keel.serve._http import (
    RequestError,
    is_json,
    json_response,
    parsed,
    problem_response,
    read_body,
    read_bytes,
    unsupported_media,
)
from keel.serve._metrics import CONTENT_TYPE
from keel.serve._oip import (
    EXTENSIONS,
    HEADER_LENGTH,
    decompress,
    encode_outputs,
    input_metadata,
    read_infer_body,
    requested_outputs,
)
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
        body = await read_body(request, server.max_body_bytes, csv=True, strict=True)
        columns = server.champion.request_columns
        records = body if isinstance(body, list) else parsed(lambda: mlflow_records(body, columns))
        answer = await server.answer(request, records, "/invocations")
        return json_response({"predictions": answer.prediction.predictions})

    @app.post("/v2/models/{model_name}/infer", openapi_extra=docs["infer"], tags=["v2"])
    async def infer(model_name: str, request: Request) -> Response:
        """Open Inference Protocol v2 inference (the champion, or as the rollout routes)."""
        return await _infer(server, request, model_name, None)

    @app.post(
        "/v2/models/{model_name}/versions/{model_version}/infer",
        openapi_extra=docs["infer"],
        tags=["v2"],
    )
    async def infer_version(model_name: str, model_version: str, request: Request) -> Response:
        """Open Inference Protocol v2 inference by the served version named."""
        return await _infer(server, request, model_name, model_version)

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
        return json_response({"name": "keel", "version": __version__, "extensions": EXTENSIONS})

    @app.get("/v2/health/live", tags=["v2"])
    async def live(request: Request) -> Response:
        """Liveness: the process answers."""
        request.scope["state"]["route"] = "/v2/health/live"
        return json_response({"live": True})

    @app.get("/v2/health/ready", tags=["v2"])
    async def ready(request: Request) -> Response:
        """Readiness: a model is loaded and the server is not shutting down."""
        request.scope["state"]["route"] = "/v2/health/ready"
        return _readiness({}, await server.readiness())

    @app.get("/v2/models/{model_name}", tags=["v2"])
    async def model_metadata(model_name: str, request: Request) -> Response:
        """Open Inference Protocol v2 model metadata (the champion's)."""
        request.scope["state"]["route"] = "/v2/models/{name}"
        _known(model_name, name)
        served = server.champion
        request.scope["state"]["version"] = served.version
        return json_response(_metadata(served, server))

    @app.get("/v2/models/{model_name}/versions/{model_version}", tags=["v2"])
    async def version_metadata(model_name: str, model_version: str, request: Request) -> Response:
        """Open Inference Protocol v2 metadata of a served version."""
        request.scope["state"]["route"] = "/v2/models/{name}/versions/{version}"
        _, served = _served_version(server, model_name, model_version)
        request.scope["state"]["version"] = served.version
        return json_response(_metadata(served, server))

    @app.get("/v2/models/{model_name}/ready", tags=["v2"])
    async def model_ready(model_name: str, request: Request) -> Response:
        """Open Inference Protocol v2 model readiness."""
        request.scope["state"]["route"] = "/v2/models/{name}/ready"
        _known(model_name, name)
        return _readiness({"name": name}, await server.readiness())

    @app.get("/v2/models/{model_name}/versions/{model_version}/ready", tags=["v2"])
    async def version_ready(model_name: str, model_version: str, request: Request) -> Response:
        """Open Inference Protocol v2 readiness of a served version."""
        request.scope["state"]["route"] = "/v2/models/{name}/versions/{version}/ready"
        _, served = _served_version(server, model_name, model_version)
        return _readiness({"name": name, "version": str(served.version)}, await server.readiness())


async def _infer(
    server: KeelServer, request: Request, model_name: str, version: str | None
) -> Response:
    """An Open Inference Protocol v2 inference request, JSON or with binary tensors."""
    route = "/v2/models/{name}/infer"
    if version is not None:
        route = "/v2/models/{name}/versions/{version}/infer"
    request.scope["state"]["route"] = route
    role = None
    if version is None:
        _known(model_name, server.name)
        served = server.champion
    else:
        role, served = _served_version(server, model_name, version)
    header_length = None
    media = ""
    encoding = ""
    for key, value in request.scope["headers"]:
        if key == HEADER_LENGTH:
            header_length = value.decode("latin-1")
        elif key == b"content-type":
            media = value.split(b";", 1)[0].strip().lower().decode("latin-1")
        elif key == b"content-encoding":
            encoding = value.strip().lower().decode("latin-1")
    binary = header_length is not None and media == "application/octet-stream"
    if media == "application/octet-stream" and not binary:
        raise RequestError(
            415,
            "unsupported_media_type",
            "an application/octet-stream body needs the Inference-Header-Content-Length "
            "header (the length of its JSON part: binary tensor data extension)",
        )
    if not (is_json(media) or binary):
        raise unsupported_media(media)
    raw = await read_bytes(request, server.max_body_bytes)
    if encoding not in ("", "identity"):
        raw = decompress(raw, encoding, server.max_body_bytes)
    body = read_infer_body(raw, header_length)
    requested = requested_outputs(body, served.outputs)  # before predicting: a 400 costs nothing
    records, request_id = parsed(lambda: v2_records(body, served.request_columns))
    answer = await server.answer(request, records, route, role=role)
    prediction = answer.prediction
    tensors = v2_outputs(prediction.predictions, prediction.probabilities, answer.served.datatypes)
    outputs, data = encode_outputs(tensors, requested)
    out: dict[str, Any] = {
        "model_name": server.name,
        "model_version": str(prediction.version),
        "id": request_id if isinstance(request_id, str) else request.scope["state"]["request_id"],
        "outputs": outputs,
    }
    if not data:
        return json_response(out)
    head = orjson.dumps(out)
    return Response(
        head + data,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH.decode(): str(len(head))},
    )


def _operation_routes(app: FastAPI, server: KeelServer, docs: dict[str, Any]) -> None:
    """Metrics and the admin routes."""

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        request.scope["state"]["route"] = "/metrics"
        return Response(server.metrics.exposition(), media_type=CONTENT_TYPE)

    async def ping(request: Request) -> Response:
        """Health as ``mlflow models serve`` answers it (200 while a model is served; 503
        once the server is shutting down), for MLflow's clients and SageMaker-style probes."""
        request.scope["state"]["route"] = request.url.path
        ready = await server.readiness() is None
        return Response(b"\n", status_code=200 if ready else 503, media_type=_MLFLOW_TYPE)

    app.get("/ping", tags=["operations"])(ping)
    app.get("/health", tags=["operations"])(ping)

    @app.get("/version", tags=["operations"])
    async def version(request: Request) -> Response:
        """The server's version as bare text, where ``mlflow models serve`` gives MLflow's."""
        request.scope["state"]["route"] = "/version"
        return Response(__version__.encode(), media_type=_MLFLOW_TYPE)

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


_MLFLOW_TYPE = "application/json"  # what mlflow's scoring server declares for these bodies


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


def _readiness(answer: dict[str, Any], problem: str | None) -> Response:
    """A readiness answer: 200, or 503 with ``reason`` saying why not."""
    if problem is None:
        return json_response({**answer, "ready": True})
    return json_response({**answer, "ready": False, "reason": problem}, 503)


def _known(asked: str, name: str) -> None:
    if asked != name:
        raise RequestError(404, "model_not_found", f"this server serves {name!r}, not {asked!r}")


def _served_version(server: KeelServer, model_name: str, version: str) -> tuple[str, ServedModel]:
    """The role and model of the served version ``version``; a 404 when none is."""
    _known(model_name, server.name)
    for role, served in server.models.items():
        if str(served.version) == version:
            return role, served
    raise RequestError(
        404,
        "version_not_found",
        f"version {version!r} of {server.name!r} is not served here; this server serves "
        f"version {', '.join(_versions(server))}",
    )


def _versions(server: KeelServer) -> list[str]:
    return [str(v) for v in sorted({s.version for s in server.models.values()})]


def _metadata(served: ServedModel, server: KeelServer) -> dict[str, Any]:
    outputs = []
    for output in served.outputs:
        width = served.widths.get(output)
        if output == "predict_proba" and width is None:
            width = len(served.classes or [])
        outputs.append(
            {
                "name": output,
                "datatype": served.datatypes.get(output, "FP64" if width else "BYTES"),
                "shape": [-1] if width is None else [-1, width],
            }
        )
    return {
        "name": served.name,
        "versions": _versions(server),
        "platform": f"keel-{served.model.manifest.adapter}",
        "inputs": input_metadata(served.model.input_contract)
        if served.features is None
        else served.features.input_metadata(),
        "outputs": outputs,
        "parameters": {"classes": served.classes, "task": served.model.manifest.task},
    }
