"""Who may read ``keel ui``: loopback without a token; beyond it, only requests carrying the
token (header, or the cookie a browser gets by opening ``?token=`` once)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from keel.errors import UsageError
from keel.ui import check_bind, create_app
from tests.ui._project import Built
from tests.ui.conftest import keel_cli

TOKEN = "s3cret-token-of-some-length"


@pytest.fixture(scope="module")
def gated(built: Built) -> TestClient:
    return TestClient(create_app(built.root, token=TOKEN), follow_redirects=False)


def test_without_the_token_nothing_is_served(gated: TestClient) -> None:
    for path in ("/", "/api/runs", "/static/app.js", "/openapi.json"):
        assert gated.get(path).status_code == 401
    assert gated.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert gated.get("/api/runs", params={"token": "wrong"}).status_code == 401


def test_scripts_send_it_in_a_header(gated: TestClient) -> None:
    assert gated.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert gated.get("/api/kpis", headers={"X-Keel-Token": TOKEN}).status_code == 200


def test_a_browser_opens_it_once_and_keeps_it_in_a_cookie(built: Built) -> None:
    browser = TestClient(create_app(built.root, token=TOKEN), follow_redirects=False)
    first = browser.get("/runs", params={"token": TOKEN, "order_by": "name"})
    assert first.status_code == 303
    assert first.headers["location"] == "/runs?order_by=name"  # the token leaves the address
    assert "HttpOnly" in first.headers["set-cookie"]
    assert browser.get("/runs", params={"order_by": "name"}).status_code == 200  # the cookie


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(UsageError, match="beyond this machine") as caught:
        check_bind(host, None)
    assert "--token" in (caught.value.hint or "")
    check_bind(host, TOKEN)  # with one it may


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_none(host: str) -> None:
    check_bind(host, None)


def test_the_cli_refuses_a_public_bind_without_a_token(built: Built) -> None:
    done = keel_cli(built.root, "ui", "--host", "0.0.0.0")
    assert done.returncode == 2
    assert done.stderr.startswith("error: keel ui would serve")
    assert "Hint:" in done.stderr
    assert "KEEL_UI_TOKEN" in done.stderr
