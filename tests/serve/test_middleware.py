"""The middleware's timeout: a 504 when it expires, never when someone else cancels."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from keel.serve._metrics import Metrics
from keel.serve._middleware import ServeMiddleware

SCOPE = {"type": "http", "method": "GET", "path": "/slow", "headers": []}


async def _slow(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(10)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def test_an_expired_request_is_answered_504_and_its_task_goes_on() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    middleware = ServeMiddleware(_slow, metrics=Metrics(), model="m", timeout=0.05)

    async def main() -> int:
        await middleware(dict(SCOPE), _receive, send)
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)  # not cancelled any more
        return task.cancelling()

    assert asyncio.run(main()) == 0
    assert sent[0]["status"] == 504
    assert orjson.loads(sent[1]["body"])["code"] == "timeout"


def test_a_request_cancelled_by_someone_else_is_not_a_timeout() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    middleware = ServeMiddleware(_slow, metrics=Metrics(), model="m", timeout=5)

    async def main() -> None:
        task = asyncio.ensure_future(middleware(dict(SCOPE), _receive, send))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sent == []


@pytest.mark.parametrize("status", [200, 202, 503])
def test_a_json_response_has_the_headers_starlette_gives_it(status: int) -> None:
    from fastapi.responses import Response

    from keel.serve._http import json_response

    data = {"predictions": [1, 0], "note": "é"}
    ours = json_response(data, status)
    theirs = Response(orjson.dumps(data), status_code=status, media_type="application/json")
    assert ours.raw_headers == theirs.raw_headers
    assert ours.body == theirs.body
    assert ours.status_code == status
