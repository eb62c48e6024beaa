"""Who may read the UI: anyone on loopback; with a token, only requests that carry it.

A request carries the token in one of (checked in constant time, :func:`hmac.compare_digest`):

- the header ``Authorization: Bearer TOKEN`` (scripts, the JSON API);
- the header ``X-Keel-Token: TOKEN``;
- the cookie ``keel_ui_token`` (browsers: set by opening any page once with ``?token=TOKEN``,
  which answers with a redirect to the same page without the token in its address).
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from keel.errors import UsageError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COOKIE", "TokenGate", "check_bind"]

COOKIE = "keel_ui_token"


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if token is not None and not token.strip():
        raise UsageError("the UI token is empty.", hint="Pass --token with a long random value.")
    if token is None and not is_loopback(host):
        raise UsageError(
            f"keel ui would serve the project's runs, models and data on {host}, "
            "beyond this machine, to anyone who can reach it.",
            hint="Pass --token (or set KEEL_UI_TOKEN) to a long random value, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, "
            "or bind to 127.0.0.1.",
        )


def is_loopback(host: str) -> bool:
    """``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name resolves to who knows what: not loopback


class TokenGate:
    """ASGI middleware: requests without the token get 401 (``/static`` included)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _valid(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        given = dict(query).get("token")
        if self._valid(given):  # a browser's first visit: keep it in a cookie, drop it from the URL
            kept = urlencode([(k, v) for k, v in query if k != "token"])
            await _redirect(send, scope["path"] + ("?" + kept if kept else ""), given or "")
            return
        bearer = headers.get("authorization", "")
        offered = [
            bearer[7:] if bearer.lower().startswith("bearer ") else None,
            headers.get("x-keel-token"),
            _cookie(headers.get("cookie", "")),
        ]
        if any(self._valid(o) for o in offered):
            await self.app(scope, receive, send)
            return
        await _refuse(send)


def _cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed cookie header carries no token
        return None
    morsel = jar.get(COOKIE)
    return None if morsel is None else morsel.value


async def _redirect(send: Send, location: str, token: str) -> None:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send) -> None:
    body = (
        b"401: this Keel UI needs its token. Open it once with ?token=TOKEN, or send "
        b"'Authorization: Bearer TOKEN'.\n"
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
