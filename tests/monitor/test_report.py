"""keel.monitor.report: a served model's prediction log, window by window."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.config import init_project
from keel.errors import UsageError
from keel.monitor import (
    MonitorReport,
    PredictionLog,
    Thresholds,
    check,
    report,
    store_model_reference,
)
from keel.monitor._report_html import monitor_report_html
from keel.monitor._windows import parse_time, parse_window, plan_windows
from keel.tracking import Project, open_project
from tests.monitor._served import T0, fit, register, traffic, training, write


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path)
    return open_project(tmp_path)


@pytest.fixture
def served(project: Project) -> Project:
    """Six hours of traffic; x1 shifts by 1.5 standard deviations from hour 4 on."""
    model = fit()
    register(project, model)
    write(
        project,
        *[traffic(model, hour=h, rows=300, seed=h, shift=1.5 if h >= 4 else 0.0) for h in range(6)],
    )
    return project


def test_drift_shows_in_the_window_it_was_injected_and_not_before(served: Project) -> None:
    result = report("churn", reference=training()[0], project=served)
    assert [w.start for w in result.windows] == [T0 + timedelta(hours=h) for h in range(6)]
    drifted = [[r.column for r in w.drift or [] if r.drifted] for w in result.windows]
    assert drifted == [[], [], [], [], ["x1"], ["x1"]]
    assert [a.column for a in result.alerts] == ["x1"]  # the default check: drift, latest window
    data = result.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON
    assert set(data) >= {"model", "since", "until", "window", "reference", "windows", "slices"}
    first = data["windows"][0]
    assert set(first) == {
        "start",
        "end",
        "rows",
        "drifted",
        "share",
        "columns",
        "quality",
        "performance",
        "estimated_performance",
    }
    assert first["rows"] == 300
    assert first["drifted"] is False
    assert {c["column"] for c in first["columns"]} == {"x1", "x2", "state"}
    assert data["reference"] == {"source": "data", "rows": 2000, "columns": ["x1", "x2", "state"]}


def test_windows_without_traffic_are_empty_windows(project: Project) -> None:
    model = fit()
    register(project, model)
    write(project, traffic(model, hour=0, rows=200, seed=0), traffic(model, hour=5, rows=1, seed=3))
    result = report("churn", reference=training()[0], project=project)
    assert [w.rows for w in result.windows] == [200, 0, 0, 0, 0, 1]
    empty = result.to_dict()["windows"][1]
    assert empty["drifted"] is None
    assert empty["columns"] == []
    assert empty["performance"] is None
    assert empty["estimated_performance"] is None
    assert empty["quality"]["violation_rate"] is None
    single = result.windows[5]  # a single-row window: scored, too small to call drifted
    assert single.drift is not None
    assert not any(r.drifted for r in single.drift)
    assert result.latest is single


def test_since_until_and_daily_windows_align_to_utc_midnight(served: Project) -> None:
    result = report(
        "churn",
        since="2026-11-19T22:00",
        until=T0 + timedelta(days=1),
        window="1d",
        reference=training()[0],
        project=served,
    )
    assert [(w.start, w.end, w.rows) for w in result.windows] == [
        (T0 - timedelta(days=1), T0, 0),
        (T0, T0 + timedelta(days=1), 1800),
    ]
    assert result.since == datetime(2026, 11, 19, 22, tzinfo=UTC)
    hourly = report(
        "churn",
        since="2026-11-20T02:30",
        until="2026-11-20T04:00",
        reference=training()[0],
        project=served,
    )
    assert [w.rows for w in hourly.windows] == [
        pytest.approx(150, abs=30),
        300,
    ]  # the first window holds only the rows after --since


def test_the_stored_reference_is_the_default(served: Project) -> None:
    with pytest.raises(UsageError, match="keel monitor reference set churn/1"):
        report("churn", project=served)
    store_model_reference("churn/1", training()[0], project=served)
    result = report("churn", project=served)
    assert result.reference["source"] == "model:churn/1"
    assert result.to_dict()["windows"][4]["drifted"] is True


def test_an_input_of_the_model_reference_the_log_lacks_is_named(project: Project) -> None:
    model = fit()
    register(project, model)
    write(project, *(traffic(model, hour=h, rows=200, seed=h).drop("x2") for h in range(2)))
    store_model_reference("churn/1", training()[0], project=project)
    with pytest.raises(UsageError, match=r"lacks input column\(s\) x2 that the reference"):
        report("churn", project=project)
    with pytest.raises(UsageError, match=r"lacks input column\(s\) x2"):
        report("churn", reference="model:churn/1", project=project)


def test_an_empty_log_is_a_clear_error(project: Project, served: Project) -> None:
    with pytest.raises(UsageError, match="unknown model 'other'"):  # neither registered nor logged
        report("other", reference=training()[0], project=project)
    with pytest.raises(UsageError, match="no predictions since 2027-01-01"):
        report("churn", since="2027-01-01", reference=training()[0], project=served)


def test_bad_selections_are_usage_errors(served: Project) -> None:
    ref = training()[0]
    with pytest.raises(UsageError, match="window '7x' is not a duration"):
        report("churn", window="7x", reference=ref, project=served)
    with pytest.raises(UsageError, match="divide a day"):
        report("churn", window="7h", reference=ref, project=served)
    with pytest.raises(UsageError, match="neither a date nor a span"):
        report("churn", since="yesterday", reference=ref, project=served)
    with pytest.raises(UsageError, match="shares no column"):
        report("churn", reference=pl.DataFrame({"other": [1.0, 2.0]}), project=served)
    with pytest.raises(UsageError, match="slice by 'stat'"):
        report("churn", slice_by="stat", reference=ref, project=served)


def test_windows_and_spans_read_the_one_duration_grammar(served: Project) -> None:
    now = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    assert parse_window("15m") == timedelta(minutes=15)
    assert parse_window("1w") == timedelta(weeks=1)
    assert parse_window("1.5h") == timedelta(minutes=90)  # 16 windows a day
    with pytest.raises(UsageError, match="shorter than a minute"):
        parse_window("250ms")
    for text, span in [("15m", timedelta(minutes=15)), ("1w", timedelta(weeks=1))]:
        assert parse_time(text, now=now) == now - span
    assert parse_time("250ms", now=now) == now - timedelta(milliseconds=250)
    with pytest.raises(UsageError, match="neither a date nor a span"):
        parse_time("30", now=now)  # a bare number is no span: it could be read as a date
    result = report("churn", window="60m", reference=training()[0], project=served)
    assert result.window == "1h"  # the canonical text, whichever way it was written


def test_time_parsing_and_window_plans() -> None:
    now = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    assert parse_time("24h", now=now) == now - timedelta(hours=24)
    assert parse_time("2026-11-01", now=now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T12:00+01:00") == datetime(2026, 11, 1, 11, tzinfo=UTC)
    assert parse_window("15m") == timedelta(minutes=15)
    windows = plan_windows(now, now + timedelta(minutes=40), timedelta(minutes=15))
    assert [w.start.minute for w in windows] == [30, 45, 0]
    with pytest.raises(UsageError, match="windows"):
        plan_windows(now - timedelta(days=400), now, timedelta(minutes=1))


@settings(max_examples=200, deadline=None)
@given(
    first=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3)),
    width=st.sampled_from([timedelta(minutes=m) for m in (1, 5, 15, 60, 360, 1440, 2880)]),
)
def test_windows_are_aligned_contiguous_and_cover_the_range(
    first: datetime, length: timedelta, width: timedelta
) -> None:
    last = first + length
    windows = plan_windows(first, last, width)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert all((w.start - epoch) % width == timedelta(0) for w in windows)
    assert all(w.end - w.start == width for w in windows)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert windows[0].start <= first < windows[0].end
    assert windows[-1].start < last <= windows[-1].end
    assert [w.index for w in windows] == list(range(windows[0].index, windows[-1].index + 1))


def test_check_thresholds_on_the_latest_window(served: Project) -> None:
    result = report("churn", reference=training()[0], project=served)
    assert check(result, Thresholds(drift=False)) == []
    alerts = check(result, Thresholds(drift=False, min={"accuracy": 0.99}, min_rows=301))
    assert [(a.kind, a.metric) for a in alerts] == [("rows", None), ("metric", "accuracy")]
    metric = alerts[1]
    assert metric.estimated is True  # no labels: the estimate is checked, and says so
    assert "estimated accuracy" in metric.message
    assert metric.window_start == (T0 + timedelta(hours=5)).isoformat()
    assert check(result.to_dict(), Thresholds(drift=False, min={"accuracy": 0.5})) == []


def test_thresholds_from_yaml(tmp_path: Path) -> None:
    file = tmp_path / "monitor.yaml"
    file.write_text("drift: false\nmax_null_rate: 0.05\nmin: {accuracy: 0.8}\n")
    limits = Thresholds.load(file)
    assert (limits.drift, limits.max_null_rate, dict(limits.min)) == (
        False,
        0.05,
        {"accuracy": 0.8},
    )
    assert limits.override(max_null_rate=0.1, min={"f1": 0.5}).min == {"accuracy": 0.8, "f1": 0.5}
    file.write_text("max_nul_rate: 0.05\n")
    with pytest.raises(UsageError, match="unknown key"):
        Thresholds.load(file)
    with pytest.raises(UsageError, match="unknown metric 'acc'"):
        Thresholds(min={"acc": 0.5})
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        Thresholds(max_null_rate=5)


def test_the_html_report_is_self_contained(served: Project) -> None:
    result = report("churn", reference=training()[0], slice_by="state", project=served)
    assert isinstance(result, MonitorReport)
    page = monitor_report_html(result)
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    for heading in (
        "Drift per column over time",
        "Distributions: reference",
        "Data quality over time",
        "Performance per window",
        "Per slice of state",
    ):
        assert heading in page
    assert "(estimated)" in page
    assert page.count("<svg") >= 6


def test_the_log_can_hold_nan_infinities_and_new_categories(served: Project) -> None:
    model = fit()
    odd = traffic(model, hour=6, rows=50, seed=9).with_columns(
        pl.Series("x2", [float("nan"), float("inf"), float("-inf"), *[0.1] * 47]),
        pl.Series("state", ["ZZ", "QQ", *["CA"] * 48]),
    )
    PredictionLog(served.artifacts, "churn").append(odd)
    result = report("churn", reference=training()[0], project=served)
    last = result.to_dict()["windows"][-1]
    x2 = next(c for c in last["quality"]["columns"] if c["column"] == "x2")
    assert (x2["nan"], x2["infinite"], x2["nulls"]) == (1, 2, 1)
    state = next(c for c in last["columns"] if c["column"] == "state")
    assert state["new_categories"] is True


def test_prediction_drift_is_measured_against_the_models_answers_on_its_reference(
    served: Project,
) -> None:
    """The stored reference holds the model's answers on its training data, so a window
    whose predictions moved is flagged on ``prediction`` and ``score`` too."""
    stored = store_model_reference("churn/1", training()[0], project=served)
    assert {"prediction", "score"} <= set(stored.columns)
    assert stored.columns["prediction"].bins is not None
    assert stored.columns["prediction"].bins.kind == "categorical"  # classes, not numbers

    windows = report("churn", project=served).to_dict()["windows"]
    flagged = [
        {c["column"] for c in w["columns"] if c["drifted"]} & {"prediction", "score"}
        for w in windows
    ]
    assert flagged[:4] == [set()] * 4  # x1 had not moved yet: neither had the predictions
    assert flagged[4] == flagged[5] == {"prediction", "score"}
