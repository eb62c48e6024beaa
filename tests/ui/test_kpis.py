"""KPI objectives in ``keel.toml`` ``[kpis]`` (typos located at their line), the verdicts
(green, amber within the margin, red beyond, n/a with nothing to measure), and ``keel kpis``
exiting 1 only when a KPI is red."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from keel.config import init_project, load_config
from keel.errors import ConfigError, ConfigFileError
from keel.tracking import open_project
from keel.ui import evaluate_kpis
from tests.ui._project import Built
from tests.ui.conftest import cli_json, keel_cli


def _toml(root: Path, kpis: str) -> None:
    init_project(root)
    path = root / "keel.toml"
    path.write_text(path.read_text().replace("[kpis]\n", "[kpis]\n" + kpis, 1))


def test_objectives_have_defaults_and_read_from_keel_toml(tmp_path: Path) -> None:
    _toml(tmp_path, 'serving_p99_ms = 250\ndata_freshness = "2d"\n')
    objectives = dict(load_config(tmp_path).kpis)
    assert objectives["serving_p99_ms"] == 250.0
    assert objectives["data_freshness"] == "2d"
    assert objectives["contract_pass_rate"] == 0.95  # the default
    env = {"KEEL_KPIS_CONTRACT_PASS_RATE": "0.5"}
    assert dict(load_config(tmp_path, env).kpis)["contract_pass_rate"] == 0.5
    with pytest.raises(ConfigError, match="KEEL_KPIS_DATA_FRESHNESS 'later' is not a duration"):
        load_config(tmp_path, {"KEEL_KPIS_DATA_FRESHNESS": "later"})


def test_mistakes_in_kpis_point_at_their_line(tmp_path: Path) -> None:
    _toml(tmp_path, 'contract_pass_rte = 0.9\ndata_freshness = "soon"\ncache_hit_rate = "x"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_config(tmp_path)
    problems = {p.key: p for p in caught.value.problems}
    assert set(problems) == {"kpis.contract_pass_rte", "kpis.data_freshness", "kpis.cache_hit_rate"}
    assert "contract_pass_rate" in str(caught.value)  # did you mean
    lines = (tmp_path / "keel.toml").read_text().splitlines()
    assert "data_freshness" in lines[problems["kpis.data_freshness"].line - 1]
    assert "not a duration" in problems["kpis.data_freshness"].message


def test_an_empty_project_has_nothing_to_measure_and_passes(tmp_path: Path) -> None:
    init_project(tmp_path)
    report = cli_json(tmp_path, "kpis")  # exit 0
    assert report["status"] == "n/a"
    assert {k["status"] for k in report["kpis"]} == {"n/a"}
    assert all(k["reason"] for k in report["kpis"])


def test_amber_within_the_margin_red_beyond(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    project = open_project(built.root)

    def verdict(rate: str) -> str:
        monkeypatch.setenv("KEEL_KPIS_RUN_FAILURE_RATE", rate)
        found = evaluate_kpis(open_project(built.root))
        return next(k.status for k in found if k.key == "run_failure_rate")

    assert project.config.kpis  # read from the project
    # one run in six failed: 16.7%
    assert verdict("0.2") == "green"
    assert verdict("0.15") == "amber"  # 16.7% is within 20% above 15%
    assert verdict("0.1") == "red"


def test_the_table_says_which_kpi_is_red_and_exits_1(built: Built) -> None:
    done = keel_cli(built.root, "kpis")
    assert done.returncode == 1
    assert "KPIs: red" in done.stdout
    assert "contract pass rate" in done.stdout


def test_drift_alerts_are_the_latest_window_of_keel_monitor_check(built: Built) -> None:
    report = cli_json(built.root, "kpis", code=1)
    drift = _kpi(report, "drifted_columns", "model risk")
    window = _health(report, "risk")["latest_window"]
    checked = cli_json(built.root, "monitor", "check", "risk", "--window", window["window"], code=1)
    alerted = sorted(a["column"] for a in checked["alerts"] if a["kind"] == "drift")
    assert "x1" in alerted  # the last hour's x1 is shifted
    assert sorted(d["column"] for d in window["drifted"]) == alerted
    assert window["start"] == checked["checked"]["start"]
    assert window["rows"] == checked["checked"]["rows"]
    assert (drift["value"], drift["status"]) == (len(alerted), "red")
    assert drift["link"] == "monitoring/risk"
    assert "drifted: " + ", ".join(d["column"] for d in window["drifted"]) in drift["reason"]
    assert window["performance"]["kind"] == "estimated"  # labels only for the first hour


def test_the_champions_evaluation_and_latest_gate_are_shown(built: Built) -> None:
    report = cli_json(built.root, "kpis", code=1)
    risk = _health(report, "risk")
    version = cli_json(built.root, "models", "show", "risk/2")[0]
    assert (risk["version"], risk["champion"]) == (version["version"], True)
    stored = open_project(built.root).metadata.models.events("risk")
    evaluated = [e for e in stored if e.kind == "evaluation" and e.version == 2][-1]
    auc = evaluated.detail["evaluation"]["metrics"]["auc"]
    evaluation = risk["evaluation"]
    assert evaluation["metric"] == "auc"
    assert (evaluation["value"], evaluation["low"], evaluation["high"]) == (
        auc["value"], auc["low"], auc["high"],
    )  # fmt: skip
    assert evaluation["low"] < evaluation["value"] < evaluation["high"]
    history = cli_json(built.root, "models", "history", "risk")
    last_gate = [e for e in history if e["kind"] == "gate"][-1]
    assert risk["gate"]["id"] == last_gate["id"]
    assert risk["gate"]["passed"] is last_gate["detail"]["passed"] is True
    own = [e for e in history if e["kind"] == "gate" and e["version"] == 2][-1]
    assert risk["version_gate"]["id"] == own["id"]  # the champion's own gate
    gate = _kpi(report, "gate_pass_rate", "model risk")
    assert "latest: version 2 passed against champion (version 1)" in gate["reason"]


def test_step_durations_are_the_median_and_p90_of_executed_runs(built: Built) -> None:
    report = cli_json(built.root, "kpis", code=1)
    steps = {s["step"]: s for s in report["health"]["steps"]}
    assert set(steps) == {"numbers", "total"}
    records = open_project(built.root).metadata.pipelines.recent(200)
    for name, shown in steps.items():
        executed = [r.duration for r in records if r.step == name and r.status != "cached"]
        assert (shown["runs"], shown["cached"], shown["executed"]) == (2, 1, 1)
        assert shown["median_s"] == shown["p90_s"] == pytest.approx(executed[0])
    slowest = _kpi(report, "step_p90", "pipelines")
    assert slowest["status"] == "green"  # milliseconds against an hour
    assert slowest["value"] == pytest.approx(max(s["p90_s"] for s in steps.values()))


def test_serving_p50_p99_and_error_rate_from_the_prediction_log(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    from keel.monitor import PredictionLog
    from tests.ui._project import LOG_START, SERVED_HOURS

    log = PredictionLog(open_project(built.root).artifacts, "risk").scan().collect()
    p50 = float(log["latency_ms"].quantile(0.5))  # type: ignore[arg-type]
    now = LOG_START + timedelta(hours=SERVED_HOURS)  # the day the log covers

    def kpis(**objectives: float) -> dict[str, Any]:
        for key, value in objectives.items():
            monkeypatch.setenv(f"KEEL_KPIS_{key.upper()}", str(value))
        found = evaluate_kpis(open_project(built.root), now=now)
        return {k.key: k for k in found if k.subject == "model risk"}

    shown = kpis(serving_p50_ms=p50 * 1.01)
    assert shown["serving_p50_ms"].value == pytest.approx(p50)
    assert shown["serving_p50_ms"].status == "green"
    assert f"({log.height:,} records)" in shown["serving_p50_ms"].title
    assert kpis(serving_p50_ms=p50 / 1.1)["serving_p50_ms"].status == "amber"
    assert kpis(serving_p50_ms=p50 / 2)["serving_p50_ms"].status == "red"
    p99 = float(log["latency_ms"].quantile(0.99))  # type: ignore[arg-type]
    assert shown["serving_p99_ms"].value == pytest.approx(p99)
    error = shown["serving_invalid_rate"]
    assert (error.value, error.status) == (0.0, "green")  # every record met the contract
    assert "not HTTP errors" in error.reason
    assert pl.Series(log["valid"]).all()


def test_the_overview_page_equals_keel_kpis(built: Built) -> None:
    from fastapi.testclient import TestClient

    from keel.ui import create_app

    client = TestClient(create_app(built.root))
    page = client.get("/api/overview").json()
    report = cli_json(built.root, "kpis", code=1)
    assert page["health"] == report["health"]
    assert _steady(page) == _steady(report)
    html = client.get("/").text
    assert f'data-drifted="{_drifted(report)}"' in html
    assert "/monitoring/risk?window=" in html  # a drift alert leads to the monitoring page
    assert "/models/risk/2" in html  # and the champion to its version


def _drifted(report: dict[str, Any]) -> int:
    return len(_health(report, "risk")["latest_window"]["drifted"])


def _steady(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [k for k in report["kpis"] if k["key"] != "data_freshness"]


def _kpi(report: dict[str, Any], key: str, subject: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        k for k in report["kpis"] if (k["key"], k["subject"]) == (key, subject)
    )
    return found


def _health(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in report["health"]["models"] if m["name"] == name)
    return found


def test_a_served_model_that_cannot_be_monitored_is_n_a_with_why(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    import polars as pl

    from keel.monitor import PredictionLog

    init_project(tmp_path)
    start, n = datetime(2026, 12, 1, tzinfo=UTC), 50
    PredictionLog(open_project(tmp_path).artifacts, "ghost").append(
        pl.DataFrame(
            {"request_id": [str(i) for i in range(n)], "row": [0] * n}
            | {"time": [start + timedelta(seconds=i) for i in range(n)], "model": ["ghost"] * n}
            | {"version": [1] * n, "role": ["champion"] * n, "latency_ms": [1.0] * n}
            | {"valid": [True] * n, "violations": [None] * n, "prediction": [1] * n}
            | {"score": [0.7] * n, "confidence": [0.7] * n, "x": [float(i) for i in range(n)]},
            schema_overrides={"time": pl.Datetime("us", "UTC"), "violations": pl.String},
        )
    )
    report = cli_json(tmp_path, "kpis")  # n/a is not red: exit 0
    drift = _kpi(report, "drifted_columns", "model ghost")
    assert (drift["status"], drift["value"]) == ("n/a", None)
    assert drift["reason"] == "not measured: no model 'ghost' in the registry."
    window = _health(report, "ghost")["latest_window"]
    assert window["hint"]  # what to do about it
