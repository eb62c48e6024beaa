"""keel monitor report / check over a served model's prediction log: JSON, HTML, exit codes
and the webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project
from keel.tracking import open_project
from tests.monitor._served import fit, register, traffic, training, write

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose model served 3 hours; x1 shifted in the last one."""
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = open_project(tmp_path)
    model = fit()
    register(project, model)
    frames = [
        traffic(model, hour=h, rows=200, seed=h, shift=2.0 if h == 2 else 0.0) for h in range(3)
    ]
    frames[1] = frames[1].with_columns(valid=frames[1]["x1"] > 1.5)  # ~7% broke the contract
    write(project, *frames)
    training()[0].write_parquet(tmp_path / "train.parquet")
    return tmp_path


def _json(*args: str, code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, ["monitor", *args, "--format", "json"])
    assert result.exit_code == code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_report_prints_json_and_writes_html(served: Path) -> None:
    data = _json("report", "churn", "--reference", "train.parquet", "--html", "report.html")
    assert data["model"] == "churn"
    assert [w["rows"] for w in data["windows"]] == [200, 200, 200]
    assert [w["drifted"] for w in data["windows"]] == [False, False, True]
    assert data["windows"][0]["estimated_performance"]["estimated"] is True
    page = (served / "report.html").read_text()
    assert "<svg" in page
    assert "churn" in page
    table = runner.invoke(app, ["monitor", "report", "churn", "--reference", "train.parquet"])
    assert table.exit_code == 0, table.output
    assert "(estimated)" in table.stdout
    assert "x1" in table.stdout


def test_check_exit_codes(served: Path) -> None:
    ref = ("--reference", "train.parquet")
    drifted = _json("check", "churn", *ref, code=1)
    assert [a["kind"] for a in drifted["alerts"]] == ["drift"]
    assert drifted["ok"] is False
    ok = _json("check", "churn", *ref, "--no-drift", "--max-violation-rate", "0.05")
    assert ok["ok"] is True
    assert ok["alerts"] == []
    earlier = _json(
        "check",
        "churn",
        *ref,
        "--until",
        "2026-11-20T02:00",
        "--max-violation-rate",
        "0.01",
        code=1,
    )
    assert [a["kind"] for a in earlier["alerts"]] == ["violation_rate"]
    assert earlier["checked"]["start"] == "2026-11-20T01:00:00+00:00"
    (served / "monitor.yaml").write_text("drift: false\nmin: {accuracy: 0.99}\n")
    file = _json("check", "churn", *ref, "--thresholds", "monitor.yaml", code=1)
    assert [(a["metric"], a["estimated"]) for a in file["alerts"]] == [("accuracy", True)]
    assert file["thresholds"]["min"] == {"accuracy": 0.99}
    overridden = _json(
        "check", "churn", *ref, "--thresholds", "monitor.yaml", "--min", "accuracy=0.5"
    )
    assert overridden["ok"] is True


def test_unusable_input_exits_2(served: Path) -> None:
    unknown = runner.invoke(app, ["monitor", "report", "nobody", "--reference", "train.parquet"])
    assert unknown.exit_code == 2
    assert "unknown model 'nobody'" in unknown.stderr  # not "has no predictions": a typo
    no_ref = runner.invoke(app, ["monitor", "check", "churn"])
    assert no_ref.exit_code == 2
    assert "keel monitor reference set churn/1" in " ".join(no_ref.stderr.split())
    bad = runner.invoke(app, ["monitor", "check", "churn", "--min", "accuracy"])
    assert bad.exit_code == 2
    assert "METRIC=VALUE" in bad.stderr
    window = runner.invoke(app, ["monitor", "report", "churn", "--window", "2x"])
    assert window.exit_code == 2


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append(
            {"type": self.headers["Content-Type"], "body": json.loads(self.rfile.read(length))}
        )
        self.send_response(500 if self.path == "/broken" else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts"
    finally:
        server.shutdown()
        server.server_close()


def test_check_posts_the_alerts_to_a_webhook(served: Path, hook: str) -> None:
    ref = ("--reference", "train.parquet")
    printed = _json("check", "churn", *ref, "--webhook", hook, code=1)
    (posted,) = _Hook.received
    assert posted["type"] == "application/json"
    assert posted["body"] == printed
    body = posted["body"]
    assert body["model"] == "churn"
    assert body["text"].startswith("keel: model churn: 1 alert(s): column x1 drifted")
    (alert,) = body["alerts"]
    assert set(alert) == {
        "kind",
        "message",
        "column",
        "metric",
        "value",
        "threshold",
        "estimated",
        "window",
    }
    assert alert["window"] == {
        "start": "2026-11-20T02:00:00+00:00",
        "end": "2026-11-20T03:00:00+00:00",
    }
    _json("check", "churn", *ref, "--no-drift", "--webhook", hook)  # nothing to say: no POST
    assert len(_Hook.received) == 1


def test_an_unreachable_webhook_exits_2_after_printing_the_alerts(served: Path) -> None:
    result = runner.invoke(
        app,
        [
            "monitor",
            "check",
            "churn",
            "--reference",
            "train.parquet",
            "--format",
            "json",
            "--webhook",
            "http://127.0.0.1:9/alerts",
        ],
    )
    assert result.exit_code == 2
    assert json.loads(result.stdout)["alerts"][0]["kind"] == "drift"
    assert "cannot POST the alert" in result.stderr


def test_a_webhook_answering_an_error_exits_2(served: Path, hook: str) -> None:
    broken = hook.replace("/alerts", "/broken")
    result = runner.invoke(
        app, ["monitor", "check", "churn", "--reference", "train.parquet", "--webhook", broken]
    )
    assert result.exit_code == 2
    assert len(_Hook.received) == 1  # it was sent, and refused
    assert "answered 500" in result.stderr
    assert "drift" in result.stdout


def test_an_input_the_log_lacks_is_named_not_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model version's reference covers its input contract (x1, x2); a log without x2
    (written under another contract) cannot have x2's drift measured: exit 2 naming it,
    not a report that passes over x2 as if it had not drifted."""
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    project = open_project(tmp_path)
    model = fit()
    register(project, model)
    write(project, *(traffic(model, hour=h, rows=200, seed=h).drop("x2") for h in range(2)))
    training()[0].write_parquet(tmp_path / "train.parquet")
    stored = runner.invoke(app, ["monitor", "reference", "set", "churn/1", "train.parquet"])
    assert stored.exit_code == 0, stored.output
    for command in ("report", "check"):
        result = runner.invoke(app, ["monitor", command, "churn"])
        assert result.exit_code == 2, result.output
        said = " ".join(result.stderr.split())
        assert "lacks input column(s) x2 that the reference (model:churn/1)" in said
        assert "--reference DATA" in said
