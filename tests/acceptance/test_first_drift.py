"""Journey 4, the README's monitoring commands: compare, report, check with a webhook."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import polars as pl
import pytest
from pytest_bdd import given, scenarios, then, when

import keel
from keel.registry import set_alias
from keel.tracking import open_project
from tests.acceptance import _churn
from tests.acceptance._readme import command
from tests.acceptance._readme import shell as readme_shell
from tests.acceptance.conftest import Served, Shell, free_port, start_server, stop

scenarios("first_drift.feature")

README_HOOK = "https://hooks.example.com/keel"


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook receiver: its URL and the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/keel", received
    server.shutdown()
    server.server_close()


@given(
    "churn version 1 is the champion, registered with its training customers (train.csv) "
    "as reference"
)
def champion(shell: Shell) -> None:
    train = _churn.customers(3000, seed=0)
    train.write_csv(shell.cwd / "train.csv")
    project = open_project(shell.cwd)
    features = train.select(_churn.FEATURES)
    model = _churn.fit(train)
    version = keel.register(
        model, "churn", contract=_churn.Customer, reference=features, project=project
    )
    set_alias("churn", "champion", version.version, project=project)


@given("today.csv holds customers whose rates are 0.3 higher, with whether they churned")
def today(shell: Shell) -> None:
    _churn.customers(600, seed=2, rate_shift=0.3).write_csv(shell.cwd / "today.csv")


@given("a webhook receiver listens on a local port")
def hook(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    assert receiver[1] == []


@when("the README's keel serve answers today's customers, then stops")
def serve_today(shell: Shell, servers: list[Served]) -> None:
    if datetime.now(UTC).minute == 59:  # all of today's traffic in one hourly window
        time.sleep(61 - datetime.now(UTC).second)
    port = free_port()
    line = command("first-model", "keel serve").replace("8080", str(port))
    served = start_server(shell, line, port)
    servers.append(served)
    records = pl.read_csv(shell.cwd / "today.csv").select(_churn.FEATURES).to_dicts()
    for start in range(0, len(records), 100):
        body = json.dumps(records[start : start + 100]).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    stop(served)  # the prediction log is flushed on the way out


@when("I run the README's first-drift commands, the webhook being the local receiver")
def run_commands(shell: Shell, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    for line in readme_shell("first-drift"):
        if line.startswith(("keel monitor compare ", "keel monitor check ")):
            shell.run(f"{line.replace(README_HOOK, receiver[0])} --format json")
        else:
            shell.run(line)


def _result(shell: Shell, starts: str) -> Any:
    (done,) = [r for r in shell.results if r.args[-1].startswith(starts)]
    return done


@then("the compare exits with 1, naming rate as drifted and age as not")
def compared(shell: Shell) -> None:
    done = _result(shell, "keel monitor compare ")
    assert done.returncode == 1, shell.transcript()
    drifted = {c["column"]: c["drifted"] for c in json.loads(done.stdout)["columns"]}
    assert drifted["rate"] is True, drifted
    assert drifted["age"] is False, drifted


@then("the report wrote report.html")
def report_html(shell: Shell) -> None:
    assert _result(shell, "keel monitor report ").returncode == 0, shell.transcript()
    assert "rate" in (shell.cwd / "report.html").read_text()


@then("the check exits with 1 and the receiver got the same alerts, naming rate, not age or income")
def checked(shell: Shell, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    done = _result(shell, "keel monitor check ")
    assert done.returncode == 1, shell.transcript()
    printed = json.loads(done.stdout)
    assert receiver[1] == [printed]  # exactly what was printed, POSTed once
    assert printed["checked"]["rows"] == 600  # every one of today's customers was logged
    drifted = {a["column"] for a in printed["alerts"] if a["kind"] == "drift"}
    assert "rate" in drifted, printed["alerts"]
    assert not drifted & {"age", "income"}, printed["alerts"]
