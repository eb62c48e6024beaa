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
    "FORM",
    "RequestError",
    "bearer_token",
    "framework_error",
    "is_json",
    "json_response",
    "parse_json",
    "parsed",
    "problem_response",
    "read_body",
    "read_bytes",
    "same_token",
    "server_error",
    "shape_error",
    "unsupported_media",
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


_FRAMEWORK_CODES = {404: "not_found", 405: "method_not_allowed"}


async def framework_error(request: Request, exc: Exception) -> Response:
    """The framework's own refusals (no such route, a method the route does not take, a
    request its validation refuses) in Keel's error shape, which is also the Open Inference
    Protocol's (``{"error": ...}``), rather than the framework's ``{"detail": ...}``."""
    status = int(getattr(exc, "status_code", 422))
    detail = getattr(exc, "detail", None)
    if status == 404:
        text = f"no route {request.url.path}"
    elif status == 405:
        text = f"{request.url.path} does not take {request.method}"
    elif isinstance(detail, str):
        text = detail
    else:
        text = f"the request was refused: {exc}"[:500]
    code = _FRAMEWORK_CODES.get(status, "invalid_request")
    body = {
        "error": text,
        "code": code,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    headers = getattr(exc, "headers", None)  # a 405's Allow
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


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


FORM = "application/x-www-form-urlencoded"  # what curl -d sends when told no type


async def read_body(
    request: Request, limit: int, *, csv: bool = False, strict: bool = False
) -> Any:
    """The request's JSON (or CSV text), with the content type and size limits enforced.

    A body without a content type, or with curl's default form type, is read as JSON (the
    Open Inference Protocol's clients send none); ``strict`` (``/invocations``, as
    ``mlflow models serve``) requires a declared JSON (or CSV) type. Reads the ASGI headers
    and messages directly: this runs for every prediction.
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
    if not (is_csv or is_json(media, strict=strict)):
        raise unsupported_media(media, csv=csv, strict=strict)
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = await _read(request, limit)
    if is_csv:
        try:
            return csv_records(raw.decode("utf-8"))
        except (UnicodeDecodeError, ShapeError) as exc:
            text = f"the body is not CSV with a header: {exc}"
            raise RequestError(400, "malformed_body", text) from exc
    return parse_json(raw)


def is_json(media: str, *, strict: bool = False) -> bool:
    """Whether a body of media type ``media`` (lower case, no parameters) is read as JSON."""
    if media == "application/json" or media.endswith("+json"):
        return True
    return not strict and media in ("", FORM)


def unsupported_media(media: str, *, csv: bool = False, strict: bool = False) -> RequestError:
    allowed = "application/json" + (" or text/csv" if csv else "")
    if not strict:
        allowed += " (or no content type, read as JSON)"
    return RequestError(
        415, "unsupported_media_type", f"the body must be {allowed}, got {media or 'none'}"
    )


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


async def read_bytes(request: Request, limit: int) -> bytes:
    """The request's body as bytes, refused with 413 past ``limit`` (no content type check)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    return await _read(request, limit)


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
