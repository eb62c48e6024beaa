"""Step spans (console, OTLP, none) and JSON log lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from keel.config import Config, load_config
from keel.errors import ConfigError, MissingDependencyError
from keel.telemetry import _telemetry
from keel.telemetry._telemetry import Telemetry

HEX32 = re.compile(r"[0-9a-f]{32}")


def make_config(tmp_path: Path, **changes: Any) -> Config:
    config = load_config(tmp_path, env={})
    return dataclasses.replace(config, project_name="loans", **changes)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_console_spans_carry_names_and_attributes(tmp_path: Path) -> None:
    out = io.StringIO()
    telemetry = Telemetry(make_config(tmp_path, telemetry_exporter="console"), stream=out)
    trace_ids = []
    for step in ("load", "train"):
        with telemetry.step_span("churn", step, run_id="r1", attributes={"rows": 3}) as span:
            span.set_attribute("keel.cached", False)
            trace_ids.append(span.trace_id)
    telemetry.shutdown()

    spans = json_lines(out)  # one JSON object per line, like the JSON logs
    assert [s["name"] for s in spans] == ["churn.load", "churn.train"]
    assert spans[1]["attributes"] == {
        "rows": 3,
        "keel.pipeline": "churn",
        "keel.step": "train",
        "keel.run_id": "r1",
        "keel.cached": False,
    }
    assert spans[0]["resource"]["attributes"]["service.name"] == "keel"
    assert spans[0]["resource"]["attributes"]["keel.project"] == "loans"
    assert spans[0]["status"]["status_code"] == "UNSET"
    for span_json, trace_id in zip(spans, trace_ids, strict=True):
        assert trace_id is not None
        assert HEX32.fullmatch(trace_id)
        assert span_json["context"]["trace_id"] == f"0x{trace_id}"


def test_an_exception_marks_the_span_failed_and_propagates(tmp_path: Path) -> None:
    out = io.StringIO()
    telemetry = Telemetry(make_config(tmp_path, telemetry_exporter="console"), stream=out)
    with (
        pytest.raises(ValueError, match="bad rows"),
        telemetry.step_span("churn", "clean", run_id="r1"),
    ):
        raise ValueError("bad rows")
    telemetry.shutdown()

    (span,) = json_lines(out)
    assert span["status"] == {"status_code": "ERROR", "description": "ValueError: bad rows"}
    (event,) = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "bad rows"


def test_threads_share_one_telemetry_without_mixing_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    config = make_config(tmp_path, telemetry_exporter="console", log_format="json")
    telemetry = Telemetry(config, stream=out)

    def run(i: int) -> str | None:
        with telemetry.step_span("p", f"s{i}", run_id="r") as span:
            telemetry.log("step_finished", step=f"s{i}", status="ok")
            return span.trace_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        trace_ids = list(pool.map(run, range(40)))
    telemetry.shutdown()

    lines = json_lines(out)  # every line parses: no two writes interleaved
    assert len(lines) == 80
    assert sorted(line["name"] for line in lines if "name" in line) == sorted(
        f"p.s{i}" for i in range(40)
    )
    assert all(t is not None and HEX32.fullmatch(t) for t in trace_ids)


def test_none_records_nothing_and_costs_little(tmp_path: Path) -> None:
    out = io.StringIO()
    telemetry = Telemetry(make_config(tmp_path), stream=out)
    with telemetry.step_span("churn", "load", run_id="r1", attributes={"rows": 3}) as span:
        span.set_attribute("keel.cached", True)
        span.record_error(ValueError("ignored"))
        assert span.trace_id is None
    with pytest.raises(KeyError), telemetry.step_span("churn", "load", run_id="r1"):
        raise KeyError("x")
    telemetry.shutdown()
    assert out.getvalue() == ""

    n = 10_000
    start = time.perf_counter()
    for _ in range(n):
        with telemetry.step_span("churn", "load", run_id="r1"):
            pass
    assert (time.perf_counter() - start) / n < 50e-6  # the promise: under 0.05 ms a span


def test_none_never_imports_opentelemetry() -> None:
    code = textwrap.dedent(
        """
        import io, sys
        from pathlib import Path
        import keel.telemetry._telemetry as t
        from keel.config import load_config
        telemetry = t.Telemetry(load_config(Path.cwd(), env={}), stream=io.StringIO())
        with telemetry.step_span("p", "s", run_id="r") as span:
            span.set_attribute("k", 1)
        telemetry.log("done")
        telemetry.shutdown()
        print('opentelemetry' in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_json_logs_write_one_object_per_line(tmp_path: Path) -> None:
    out = io.StringIO()
    telemetry = Telemetry(make_config(tmp_path, log_format="json"), stream=out)
    telemetry.log("step_started", step="load", attempt=1)
    telemetry.log("step_finished", step="load", status="failed", seconds=float("nan"))
    telemetry.log("run_failed", error=ValueError("bad rows"), at=dt.date(2024, 5, 1))

    started, failed, crashed = json_lines(out)
    assert started["event"] == "step_started"
    assert started["level"] == "info"
    assert (started["step"], started["attempt"]) == ("load", 1)
    when = dt.datetime.fromisoformat(started["time"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - when) < dt.timedelta(minutes=1)
    assert failed["level"] == "error"
    assert failed["seconds"] == "nan"  # JSON has no NaN literal
    assert crashed["level"] == "error"
    assert crashed["error"] == "ValueError: bad rows"
    assert crashed["at"] == "2024-05-01"


def test_log_format_argument_overrides_the_config(tmp_path: Path) -> None:
    out = io.StringIO()
    config = make_config(tmp_path, log_format="json")
    Telemetry(config, log_format="text", stream=out).log("step_started", step="load")
    assert out.getvalue() == ""  # text: the CLI draws its own progress

    Telemetry(make_config(tmp_path), log_format="json", stream=out).log("run_started")
    assert json_lines(out)[0]["event"] == "run_started"


def test_otlp_to_an_unreachable_collector_neither_raises_nor_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TIMEOUT", raising=False)
    monkeypatch.setattr(_telemetry, "OTLP_TIMEOUT", 1.0)  # the exporter's own default is 10 s
    config = make_config(
        tmp_path, telemetry_exporter="otlp", telemetry_endpoint="http://127.0.0.1:9/v1/traces"
    )
    out = io.StringIO()
    telemetry = Telemetry(config, stream=out)

    start = time.perf_counter()
    with telemetry.step_span("churn", "load", run_id="r1") as span:
        assert span.trace_id is not None
        assert HEX32.fullmatch(span.trace_id)
    assert time.perf_counter() - start < 0.5  # spans are sent in the background

    start = time.perf_counter()
    telemetry.shutdown()
    assert time.perf_counter() - start < 3.0  # retries stop at the timeout
    assert out.getvalue() == ""

    with telemetry.step_span("churn", "train", run_id="r1") as span:  # after shutdown: no-op
        assert span.trace_id is None


@pytest.mark.parametrize("exporter", ["console", "otlp"])
def test_missing_opentelemetry_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exporter: str
) -> None:
    for module in (
        "opentelemetry",
        "opentelemetry.sdk",
        "opentelemetry.sdk.resources",
        "opentelemetry.sdk.trace",
        "opentelemetry.sdk.trace.export",
    ):
        monkeypatch.setitem(sys.modules, module, None)  # None makes the import fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'mlkeel\[otel\]'") as info:
        Telemetry(make_config(tmp_path, telemetry_exporter=exporter))
    assert info.value.extra == "otel"
    assert info.value.package == "opentelemetry-sdk"
    assert f"telemetry.exporter = {exporter!r}" in str(info.value)


def test_unknown_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'console'"):
        Telemetry(make_config(tmp_path, telemetry_exporter="consol"))
    with pytest.raises(ConfigError, match=r"logging\.format"):
        Telemetry(make_config(tmp_path), log_format="yaml")
