"""HTTP plumbing of the serving app: errors as JSON, and reading a request's body with
the content type and size limits enforced."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from keel.serve._formats import ShapeError, csv_records

__all__ = [
    "RequestError",
    "bearer_token",
    "json_response",
    "parsed",
    "problem_response",
    "read_body",
    "same_token",
    "server_error",
    "shape_error",
]


class RequestError(Exception):
    """An error answered as ``{"error": message, "code": code, ...}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def shape_error(message: str, field: str | None) -> RequestError:
    return RequestError(
        422, "invalid_input", message, errors=[{"row": None, "field": field, "error": message}]
    )


def bearer_token(request: Request) -> str | None:
    """The token of the request's ``Authorization: Bearer TOKEN`` header; None without one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def same_token(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time (no timing leak)."""
    return hmac.compare_digest(given.encode(), expected.encode())


async def problem_response(request: Request, exc: RequestError) -> Response:
    body: dict[str, Any] = {
        "error": exc.message,
        "code": exc.code,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    body.update({k: v for k, v in exc.extra.items() if v is not None})
    headers = {"www-authenticate": "Bearer"} if exc.status == 401 else None
    return Response(
        orjson.dumps(body), status_code=exc.status, media_type="application/json", headers=headers
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """The answer to an exception that escaped a handler (the middleware logs it)."""
    body = {
        "error": f"the server failed: {type(exc).__name__}",
        "code": "server_error",
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    return Response(orjson.dumps(body), status_code=500, media_type="application/json")


class _JsonResponse(Response):
    """An orjson body with its two headers, built directly (a ``Response`` works out its
    headers from arguments every time: it runs for every prediction)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]


def json_response(data: Any, status: int = 200) -> Response:
    if status < 200 or status in (204, 304):  # answers without a content-length
        return Response(orjson.dumps(data), status_code=status, media_type="application/json")
    return _JsonResponse(orjson.dumps(data), status)


async def read_body(request: Request, limit: int, *, csv: bool = False) -> Any:
    """The request's JSON (or CSV text), with the content type and size limits enforced.

    Reads the ASGI headers and messages directly: this runs for every prediction.
    """
    kind = b""
    declared = b""
    for key, value in request.scope["headers"]:
        if key == b"content-type":
            kind = value
        elif key == b"content-length":
            declared = value
    media = kind.split(b";", 1)[0].strip().lower().decode("latin-1")
    is_csv = csv and media == "text/csv"
    if media != "application/json" and not media.endswith("+json") and not is_csv:
        allowed = "application/json" + (" or text/csv" if csv else "")
        raise RequestError(
            415, "unsupported_media_type", f"the body must be {allowed}, got {media or 'none'}"
        )
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = await _read(request, limit)
    if is_csv:
        try:
            return csv_records(raw.decode("utf-8"))
        except (UnicodeDecodeError, ShapeError) as exc:
            text = f"the body is not CSV with a header: {exc}"
            raise RequestError(400, "malformed_body", text) from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


async def _read(request: Request, limit: int) -> bytes:
    """The body's bytes, refused with 413 as soon as they pass ``limit``."""
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RequestError(400, "disconnected", "the client went away mid-request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> RequestError:
    return RequestError(413, "body_too_large", f"the body is larger than {limit} bytes")


def parsed(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except ShapeError as exc:
        raise shape_error(exc.message, exc.field) from None
