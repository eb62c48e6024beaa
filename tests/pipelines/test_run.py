"""Running pipelines: contracts at step boundaries, failures and resuming, metrics,
``keel reproduce``, and what the CLI prints (progress, JSON, spans, structured logs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import keel
from keel.config import init_project
from keel.errors import StepFailedError
from keel.pipelines import run_pipeline
from keel.tracking import Project, open_project


class Orders(keel.Schema):
    id: int = keel.Field(unique=True)
    amount: float = keel.Field(ge=0)


class Totals(keel.Schema):
    id: int
    total: float


@keel.step
def orders(amounts: list[float]) -> keel.Frame[Orders]:
    return pl.DataFrame({"id": list(range(len(amounts))), "amount": amounts})  # type: ignore[return-value]


@keel.step
def totals(data: keel.Frame[Orders], fee: float = 0.0) -> keel.Frame[Totals]:
    frame = data.to_polars()
    return Totals.validate(frame.select("id", total=pl.col("amount") + fee))


@keel.step
def report(data: keel.Frame[Totals]) -> dict[str, float]:
    frame = data.to_polars()
    return {"sum": float(frame["total"].sum()), "rows": float(frame.height)}


@keel.pipeline
def sales(amounts: list[float] | None = None, fee: float = 1.0) -> None:
    report(totals(orders(amounts or [1.0, 2.0]), fee=fee))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path)
    return open_project(tmp_path)


def test_a_run_is_a_tracked_run_with_step_records_and_metrics(project: Project) -> None:
    result = run_pipeline(sales, {"fee": 0.5}, project=project)
    assert result.executed == ["orders", "totals", "report"]
    assert result.value("report") == {"sum": 4.0, "rows": 2.0}
    run = project.metadata.get_run(result.run_id)
    assert run.status == "finished"
    assert run.params == {"amounts": None, "fee": 0.5}
    assert run.metrics == {"report.sum": 4.0, "report.rows": 2.0}
    assert run.tags["keel.pipeline"] == "sales"
    records = project.metadata.pipelines.for_run(result.run_id)
    assert [r.step for r in records] == ["orders", "totals", "report"]
    assert records[1].inputs[0].detail["producer"] == "orders"


def test_data_breaking_an_output_contract_stops_the_run_with_the_report(
    project: Project,
) -> None:
    with pytest.raises(StepFailedError) as caught:
        run_pipeline(sales, {"amounts": [1.0, -5.0]}, project=project)
    message = str(caught.value)
    assert "step 'orders' of pipeline 'sales' broke a contract" in message
    assert "output 'out'" in message
    assert "amount" in message
    run = project.metadata.list_runs(limit=1)[0]
    assert run.status == "failed"
    assert "StepFailedError" in (run.error or "")
    (record,) = project.metadata.pipelines.for_run(run.id)
    assert record.status == "failed"


def test_contract_modes_full_schema_and_off(project: Project) -> None:
    bad = {"amounts": [1.0, -5.0]}
    for mode in ("schema", "off"):  # a value rule is not checked
        result = run_pipeline(sales, bad, contracts=mode, project=project)
        assert result.value("report")["rows"] == 2.0

    @keel.step(contracts="schema")
    def renamed(amounts: list[float]) -> keel.Frame[Orders]:
        return pl.DataFrame({"id": [1], "amt": amounts[:1]})  # type: ignore[return-value]

    @keel.pipeline(contracts="off")
    def broken() -> None:
        report(totals(renamed([1.0])))

    with pytest.raises(StepFailedError, match="amount"):  # the step's own mode wins
        run_pipeline(broken, project=project)


def test_the_project_sets_the_default_contract_mode(tmp_path: Path) -> None:
    init_project(tmp_path)
    config = tmp_path / "keel.toml"
    config.write_text(config.read_text().replace('contracts = "full"', 'contracts = "off"'))
    result = run_pipeline(sales, {"amounts": [1.0, -5.0]}, project=open_project(tmp_path))
    assert result.value("report")["rows"] == 2.0


def test_a_failed_step_keeps_finished_steps_and_the_next_run_resumes(
    project: Project, tmp_path: Path
) -> None:
    flag = tmp_path / "broken"
    flag.write_text("yes")

    @keel.step
    def fragile(data: keel.Frame[Totals], marker: Path) -> dict[str, float]:
        if marker.exists():
            raise RuntimeError("the disk is full")
        return {"rows": float(data.to_polars().height)}

    @keel.pipeline
    def flow(marker: Path = flag) -> None:
        fragile(totals(orders([1.0, 2.0])), marker=marker)

    with pytest.raises(StepFailedError) as caught:
        run_pipeline(flow, project=project)
    assert "step 'fragile' of pipeline 'flow' raised an error" in str(caught.value)
    assert "RuntimeError: the disk is full" in str(caught.value)
    failed = project.metadata.get_run(caught.value.run_id)
    assert failed.status == "failed"
    assert "RuntimeError: the disk is full" in (failed.error or "")
    flag.unlink()
    resumed = run_pipeline(flow, project=project)
    assert resumed.cached == ["orders", "totals"]
    assert resumed.executed == ["fragile"]


def test_independent_branches_stop_at_the_first_failure(project: Project) -> None:
    calls: list[str] = []

    @keel.step
    def boom(amounts: list[float]) -> int:
        raise ValueError("no")

    @keel.step
    def after(n: int) -> int:
        calls.append("after")
        return n

    @keel.pipeline
    def flow() -> None:
        after(boom([1.0]))

    with pytest.raises(StepFailedError):
        run_pipeline(flow, project=project)
    assert calls == []  # nothing downstream of a failure runs


def _pipeline_file(root: Path, body: str = "") -> None:
    (root / "flow.py").write_text(
        "import random\n"
        "import keel\n\n"
        "@keel.step\n"
        "def numbers(n: int) -> list[float]:\n"
        "    return [float(i) for i in range(n)]\n\n"
        "@keel.step\n"
        "def stats(values: list[float]) -> dict[str, float]:\n"
        f"    return {{'mean': sum(values) / len(values){body}}}\n\n"
        "@keel.pipeline\n"
        "def flow(n: int = 4) -> None:\n"
        "    stats(numbers(n))\n"
    )


def _keel(root: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "keel", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        check=False,
    )


def test_keel_run_json_shape_and_bad_parameters(tmp_path: Path) -> None:
    init_project(tmp_path)
    _pipeline_file(tmp_path)
    done = _keel(tmp_path, "run", "flow.py:flow", "-p", "n=3", "--format", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"run_id", "pipeline", "params", "steps"}
    assert result["params"] == {"n": 3}
    step = result["steps"][1]
    assert set(step) == {
        "step", "status", "duration", "attempts", "key", "explanation", "error", "outputs",
    }  # fmt: skip
    assert step["status"] == "finished"
    assert step["outputs"][0]["kind"] == "json"
    assert "numbers" in done.stderr  # progress goes to stderr, JSON alone on stdout
    wrong = _keel(tmp_path, "run", "flow.py:flow", "-p", "n=three")
    assert wrong.returncode == 2
    assert "'three' is not a valid int" in wrong.stderr
    unknown = _keel(tmp_path, "run", "flow.py:flow", "-p", "nn=3")
    assert unknown.returncode == 2
    assert "Did you mean 'n'?" in unknown.stderr
    malformed = _keel(tmp_path, "run", "flow.py:flow", "-p", "n")
    assert malformed.returncode == 2
    assert "is not key=value" in malformed.stderr


def test_a_failing_step_exits_1(tmp_path: Path) -> None:
    init_project(tmp_path)
    _pipeline_file(tmp_path, body=" / 0")
    done = _keel(tmp_path, "run", "flow.py:flow")
    assert done.returncode == 1
    assert "ZeroDivisionError" in done.stderr


def test_reproduce_confirms_a_deterministic_run(tmp_path: Path) -> None:
    init_project(tmp_path)
    _pipeline_file(tmp_path)
    first = json.loads(_keel(tmp_path, "run", "flow.py:flow", "-f", "json").stdout)
    done = _keel(tmp_path, "reproduce", first["run_id"][:10], "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["reproduced"] is True
    assert report["original_run"] == first["run_id"]
    assert report["differences"] == []
    assert {(o["step"], o["status"]) for o in report["outputs"]} == {
        ("numbers", "identical"),
        ("stats", "identical"),
    }
    rerun = open_project(tmp_path).metadata.get_run(report["rerun"])
    assert rerun.tags["keel.reproduces"] == first["run_id"]


def test_reproduce_fails_when_outputs_differ_and_honours_a_tolerance(tmp_path: Path) -> None:
    init_project(tmp_path)
    _pipeline_file(tmp_path, body=" + random.random() * 1e-9")
    first = json.loads(_keel(tmp_path, "run", "flow.py:flow", "-f", "json").stdout)
    strict = _keel(tmp_path, "reproduce", first["run_id"], "--format", "json")
    assert strict.returncode == 1
    report = json.loads(strict.stdout)
    assert report["reproduced"] is False
    stats = next(o for o in report["outputs"] if o["step"] == "stats")
    assert stats["status"] == "differs"
    loose = _keel(tmp_path, "reproduce", first["run_id"], "--tolerance", "1e-6")
    assert loose.returncode == 0, loose.stdout + loose.stderr
    assert "within-tolerance" in loose.stdout


def test_reproduce_names_a_code_change(tmp_path: Path) -> None:
    init_project(tmp_path)
    _pipeline_file(tmp_path)
    first = json.loads(_keel(tmp_path, "run", "flow.py:flow", "-f", "json").stdout)
    _pipeline_file(tmp_path, body=" + 1")
    done = _keel(tmp_path, "reproduce", first["run_id"], "--format", "json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert "code" in report["differences"]


def test_reproduce_restores_the_recorded_dataset_version(tmp_path: Path) -> None:
    init_project(tmp_path)
    (tmp_path / "values.txt").write_text("1 2 3\n")
    (tmp_path / "flow.py").write_text(
        "from pathlib import Path\nimport keel\n\n"
        "@keel.step\n"
        "def total(source: Path) -> float:\n"
        "    return sum(float(x) for x in source.read_text().split())\n\n"
        "@keel.pipeline\n"
        "def flow(source: Path = Path('values.txt')) -> None:\n"
        "    total(source)\n"
    )
    assert _keel(tmp_path, "data", "add", "values.txt", "--name", "values").returncode == 0
    first = json.loads(_keel(tmp_path, "run", "flow.py:flow", "-f", "json").stdout)
    run = open_project(tmp_path).metadata.get_run(first["run_id"])
    assert (run.fingerprint or {})["data"][0]["name"] == "values"  # joint versioning
    (tmp_path / "values.txt").write_text("10 20 30\n")
    done = _keel(tmp_path, "reproduce", first["run_id"], "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["reproduced"] is True
    assert any("restored values/1" in note for note in report["notes"])


def test_reproduce_refuses_runs_not_made_by_keel_run(project: Project) -> None:
    result = run_pipeline(sales, project=project)
    done = _keel(project.config.root, "reproduce", result.run_id)
    assert done.returncode == 2
    assert "was not started by keel run" in done.stderr


def test_spans_and_structured_logs_on_request(tmp_path: Path) -> None:
    init_project(tmp_path)
    _pipeline_file(tmp_path)
    done = _keel(
        tmp_path,
        "run",
        "flow.py:flow",
        "--log-format",
        "json",
        env={"KEEL_TELEMETRY_EXPORTER": "console"},
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    spans = [line for line in lines if "context" in line]
    logs = [line for line in lines if "event" in line]
    assert sorted(s["name"] for s in spans) == ["flow.numbers", "flow.stats"]
    assert all(s["attributes"]["keel.status"] == "finished" for s in spans)
    ends = [entry for entry in logs if entry["event"] == "step.end"]
    assert [e["step"] for e in ends] == ["numbers", "stats"]
    assert all(len(e["trace_id"]) == 32 for e in ends)
    assert logs[0]["event"] == "pipeline.start"
