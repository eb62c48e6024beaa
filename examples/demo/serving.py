"""The demo's serving and monitoring part (``make demo``, steps 11-14).

Serve the champion from the registry, send it traffic (a drifted segment and bad requests
among it, ground truth for every request), roll out a retrained challenger as a canary
that the guardrails stop on their own, and monitor the prediction log.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from rich.console import Console
from rich.rule import Rule

console = Console()
FEEDBACK_TOKEN = secrets.token_hex(16)  # a rollout on feedback does not start without one

DEPLOY_SPEC = """\
# How loans-default is served and how a new version reaches production (reviewed in git).
champion: champion
challenger:
  alias: challenger
  mode: canary
  key: {header: X-Applicant}   # sticky: an applicant always sees the same model
  steps:
    - setWeight: 50
    - analysis: {}
  analysis:
    interval: 1s
    minRequests: 40
    guardrails:
      errorRate: {maxIncrease: 0.01}
      predictionDrift: {max: 0.3}
      metric: {name: accuracy, alpha: 0.05, minSamples: 40}
  promotion: auto
predictionLog: {flushInterval: 1s}
reload: {interval: 1s}
"""


def serve_and_monitor(
    out: Path,
    keel: Callable[..., str],
    features: Callable[[pl.DataFrame], pl.DataFrame],
    clean: pl.DataFrame,
    drifted: pl.DataFrame,
) -> None:
    """Steps 11-14 of the demo, in the project at ``out``."""
    console.print(Rule("11. Serve the champion; production traffic arrives"))
    (out / "deploy").mkdir(exist_ok=True)
    (out / "deploy" / "loans-default.yaml").write_text(DEPLOY_SPEC)
    keel("deploy", "check", "loans-default")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", "loans-default", "--port", str(port)],
        cwd=out,
        env={**os.environ, "KEEL_FEEDBACK_TOKEN": FEEDBACK_TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=open(out / "serve.log", "w"),  # noqa: SIM115  # closed with the process
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            _wait_ready(http, server)
            console.print(f"[bold]keel serve loans-default[/] on port {port} (log: serve.log)")
            today = features(clean)
            answers = _send(http, today)
            console.print(f"{len(answers)} applicants scored; every answer is logged")
            _bad_requests(http, today)
            _forged_feedback(http, answers[0]["request_id"])

            console.print(Rule("12. A drifted segment: next month's applicants"))
            drift_start = datetime.now(UTC)
            _send(http, features(drifted), offset=10_000)

            console.print(Rule("13. A retrained challenger goes out as a canary (50% of traffic)"))
            _register_challenger(out, today)
            keel("models", "alias", "loans-default", "challenger", "3")
            _send_until_decided(http, out, keel, today)
            keel("models", "history", "loans-default")
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: the prediction log is flushed
        server.wait(timeout=60)

    console.print(Rule("14. Monitoring the served model from its prediction log"))
    keel("predictions", "export", "loans-default", "-o", "predictions.parquet")
    keel(
        "monitor", "report", "loans-default", "--window", "1m", "--slice", "state_ca",
        "--html", "monitor-report.html",
    )  # fmt: skip
    keel(
        "monitor", "check", "loans-default", "--since", drift_start.isoformat(),
        "--window", "1h", expect=1,
    )  # fmt: skip
    console.print(f"[bold]Monitoring report:[/] {out / 'monitor-report.html'}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


READY_WITHIN = 180  # seconds: a loaded 2-core machine once needed more than 60 to start


def _wait_ready(http: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"keel serve exited with {server.returncode}; see serve.log")
        try:
            if http.get("/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"keel serve did not become ready in {READY_WITHIN} s; see serve.log")


def _send(http: httpx.Client, frame: pl.DataFrame, *, offset: int = 0) -> list[dict[str, Any]]:
    """One request per applicant, then the ground truth for it (POST /feedback)."""
    inputs = frame.drop("loan_id", "defaulted").to_dicts()
    answers = []
    for i, (record, label) in enumerate(zip(inputs, frame["defaulted"], strict=True)):
        answer = http.post("/predict", json=record, headers={"X-Applicant": str(offset + i)})
        answer.raise_for_status()
        body = answer.json()
        truth = {"request_id": body["request_id"], "label": label}
        http.post("/feedback", json=truth, headers=_AUTH).raise_for_status()
        answers.append(body)
    return answers


def _bad_requests(http: httpx.Client, frame: pl.DataFrame) -> None:
    """Clients make mistakes: each gets a clear error, and nothing reaches the model."""
    record = frame.drop("loan_id", "defaulted").to_dicts()[0]
    too_young = http.post("/predict", json={**record, "age": 7})
    console.print(f"age 7 -> {too_young.status_code} {json.dumps(too_young.json()['errors'])}")
    missing = http.post("/predict", json={k: v for k, v in record.items() if k != "q50"})
    console.print(f"no q50 -> {missing.status_code} {json.dumps(missing.json()['errors'])}")
    json_type = {"content-type": "application/json"}
    broken = http.post("/predict", content=b"{not json", headers=json_type)
    console.print(f"malformed JSON -> {broken.status_code} {broken.json()['error']}")


_AUTH = {"Authorization": f"Bearer {FEEDBACK_TOKEN}"}


def _forged_feedback(http: httpx.Client, request_id: str) -> None:
    """Labels steer a rollout, so only the holder of the feedback token may send them."""
    forged = http.post("/feedback", json={"request_id": request_id, "label": 0})
    console.print(f"feedback without the token -> {forged.status_code} {forged.json()['error']}")
    unknown = http.post("/feedback", json={"request_id": "made-up", "label": 0}, headers=_AUTH)
    console.print(f"feedback for a request never answered -> {unknown.status_code}")
    again = http.post("/feedback", json={"request_id": request_id, "label": 0}, headers=_AUTH)
    console.print(f"a second feedback for a request -> {again.status_code}")


def _register_challenger(out: Path, today: pl.DataFrame) -> None:
    """Retrain on today's features; the retraining job has a bug: it flipped the labels."""
    from sklearn.linear_model import LogisticRegression

    import keel as kl
    from keel.tracking import open_project

    project = open_project(out)
    champion = kl.load("loans-default@champion", project=project)
    columns = list(champion.columns or ())
    flipped = 1 - today["defaulted"].to_numpy()
    model = LogisticRegression(max_iter=1000).fit(today.select(columns).to_numpy(), flipped)
    contract = champion.input_contract
    version = kl.register(
        model, "loans-default", contract=contract, description="retrained", project=project
    )
    console.print(f"registered loans-default version {version.version} (retrained)")


def _send_until_decided(
    http: httpx.Client, out: Path, keel: Callable[..., str], today: pl.DataFrame
) -> None:
    """Keep the traffic coming until the controller has promoted or rolled back."""
    from keel.tracking import open_project

    models = open_project(out).metadata.models
    for round_ in range(20):
        _send(http, today.sample(100, seed=round_), offset=20_000 + 100 * round_)
        time.sleep(1.5)  # an analysis interval
        if "challenger" not in models.aliases("loans-default"):
            break
    keel("deploy", "status", "loans-default")
    events = models.events("loans-default")
    start = max(i for i, e in enumerate(events) if e.kind == "alias" and e.alias == "challenger")
    decided = [e for e in events[start:] if e.kind in ("promote", "rollback")]
    last = decided[-1] if decided else None
    if last is None:
        raise SystemExit("the canary was neither promoted nor rolled back")
    version = last.previous_version if last.kind == "rollback" else last.version
    console.print(f"[bold]automatic decision:[/] {last.kind} of version {version}: {last.reason}")
