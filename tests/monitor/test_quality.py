"""Data quality per window: contract violations, nulls, NaN and infinities, out-of-range
values and unseen categories, counted exactly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from keel.config import init_project
from keel.monitor import PredictionLog, Thresholds, check, report
from keel.tracking import Project, open_project
from tests.monitor._served import T0, TIME

REFERENCE = pl.DataFrame(
    {"amount": [float(v) for v in range(10, 101)], "state": ["CA", "NY", "TX"] * 30 + ["CA"]}
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path)
    return open_project(tmp_path)


def _log(
    project: Project,
    *,
    hour: int,
    amount: list[float | None],
    state: list[str | None],
    valid: list[bool],
    violations: list[str | None],
) -> None:
    n = len(amount)
    PredictionLog(project.artifacts, "loans").append(
        pl.DataFrame(
            {
                "request_id": [f"r{hour}-{i}" for i in range(n)],
                "row": [0] * n,
                "time": [T0 + timedelta(hours=hour, minutes=i) for i in range(n)],
                "model": ["loans"] * n,
                "version": [1] * n,
                "role": ["champion"] * n,
                "latency_ms": [2.0] * n,
                "valid": valid,
                "violations": violations,
                "prediction": [1.5] * n,
                "score": [None] * n,
                "confidence": [None] * n,
                "amount": amount,
                "state": state,
            },
            schema_overrides={
                "time": TIME,
                "score": pl.Float64,
                "confidence": pl.Float64,
                "violations": pl.String,
            },
        )
    )


def test_rates_are_exact_on_a_constructed_log(project: Project) -> None:
    nan, inf = float("nan"), float("inf")
    _log(
        project,
        hour=0,
        #       null  NaN  +inf below above  in range x5
        amount=[None, nan, inf, 1.0, 500.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        state=["CA", "NY", None, "ZZ", "ZZ", "QQ", "TX", "CA", "NY", "TX"],
        valid=[True] * 8 + [False, False],
        violations=[None] * 8 + ["amount: must be >= 10", "amount: must be >= 10"],
    )
    _log(
        project,
        hour=1,
        amount=[50.0] * 4,
        state=["CA"] * 4,
        valid=[True] * 4,
        violations=[None] * 4,
    )
    result = report("loans", reference=REFERENCE, project=project)
    first, second = (w.quality for w in result.windows)
    assert first["rows"] == 10
    assert first["invalid"] == 2
    assert first["violation_rate"] == pytest.approx(0.2)
    assert first["top_violations"] == [{"violation": "amount: must be >= 10", "count": 2}]
    amount, state = first["columns"]
    assert amount["column"] == "amount"
    assert (amount["nulls"], amount["nan"], amount["infinite"]) == (2, 1, 1)  # NaN is missing
    assert amount["null_rate"] == pytest.approx(2 / 10)
    assert (amount["below"], amount["above"]) == (1, 2)  # +inf is above the range
    assert amount["out_of_range_rate"] == pytest.approx(3 / 8)  # of the 8 present values
    assert amount["unseen"] is None
    assert state["null_rate"] == pytest.approx(1 / 10)
    assert state["unseen"] == 3  # ZZ twice, QQ once: levels the reference never had
    assert state["unseen_rate"] == pytest.approx(3 / 9)
    assert state["out_of_range_rate"] is None
    assert second["violation_rate"] == 0.0
    assert second["columns"][0]["out_of_range_rate"] == 0.0
    assert second["columns"][1]["unseen_rate"] == 0.0


def test_quality_thresholds_raise_alerts_on_the_latest_window(project: Project) -> None:
    _log(
        project,
        hour=0,
        amount=[None, 500.0, 20.0, 30.0],
        state=["ZZ", "CA", "NY", "TX"],
        valid=[False, True, True, True],
        violations=["amount: null", None, None, None],
    )
    result = report("loans", reference=REFERENCE, project=project)
    limits = Thresholds(
        drift=False,
        max_violation_rate=0.2,
        max_null_rate=0.2,
        max_out_of_range_rate=0.5,
        max_unseen_rate=0.0,
    )
    found = {(a.kind, a.column): a for a in check(result, limits)}
    assert set(found) == {
        ("violation_rate", None),
        ("null_rate", "amount"),
        ("unseen_rate", "state"),
    }
    assert found["violation_rate", None].value == pytest.approx(0.25)
    assert found["unseen_rate", "state"].value == pytest.approx(0.25)
    assert "unseen-category rate 25.00%" in found["unseen_rate", "state"].message
    assert check(result, Thresholds(drift=False, max_null_rate=0.3)) == []
