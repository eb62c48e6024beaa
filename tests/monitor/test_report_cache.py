"""``report(..., cache=ReportCache())``: the same report as without the cache, and a window
whose log files did not change is neither profiled nor tested again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel.config import init_project
from keel.monitor import MonitorReport, PredictionLog, ReportCache, report
from keel.tracking import Project, open_project
from tests.monitor._served import fit, traffic, training, write


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path, name="cache")
    return open_project(tmp_path)


def _drift(result: MonitorReport) -> list[tuple[object, ...]]:
    """What the cache keeps, per window: rows, drift of every column, data quality
    (performance is computed afresh either way, its float sums in no fixed order)."""
    return [(w.rows, [r.to_dict() for r in w.drift or []], w.quality) for w in result.windows]


def test_a_cached_report_equals_the_uncached_one_and_reuses_unchanged_windows(
    project: Project,
) -> None:
    model = fit()
    reference, _ = training()
    write(
        project,
        *(traffic(model, hour=h, rows=300, seed=h, shift=1.0 if h == 2 else 0.0) for h in range(3)),
    )
    cache = ReportCache()
    options: dict[str, Any] = {"window": "1h", "reference": reference, "project": project}
    plain = report("churn", **options)
    first = report("churn", cache=cache, **options)
    assert _drift(first) == _drift(plain)
    assert [w.summary["drifted"] for w in first.windows if w.summary] == [False, False, True]
    assert cache.misses == 6  # 3 window profiles and 3 drift tests
    again = report("churn", cache=cache, **options)
    assert cache.misses == 6, "an unchanged log is profiled and tested again"
    assert _drift(again) == _drift(plain)

    write(project, traffic(model, hour=3, rows=300, seed=3, shift=1.0))  # a new hour arrives
    grown = report("churn", cache=cache, **options)
    assert cache.misses == 6 + 2, "only the new window is profiled and tested"
    assert _drift(grown) == _drift(report("churn", **options))
    assert len(grown.windows) == 4
    assert grown.windows[-1].summary["drifted"] is True


def test_a_window_whose_files_changed_is_measured_again(project: Project) -> None:
    model = fit()
    reference, _ = training()
    write(project, traffic(model, hour=0, rows=300, seed=0))
    cache = ReportCache()
    options: dict[str, Any] = {"window": "1d", "reference": reference, "project": project}
    before = report("churn", cache=cache, **options)
    assert before.windows[0].summary["drifted"] is False
    # more traffic in the same day, shifted: the day's files differ, so its drift is new
    PredictionLog(project.artifacts, "churn").append(
        traffic(model, hour=5, rows=3000, seed=5, shift=2.0)
    )
    after = report("churn", cache=cache, **options)
    assert after.windows[0].rows == 3300
    assert after.windows[0].summary["drifted"] is True
    assert _drift(after) == _drift(report("churn", **options))
