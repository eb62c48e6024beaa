"""Training-serving skew: planted skews of each kind (stale, missing, expired, computed
differently) are found and classified; a log served from a fresh snapshot has none.

The prediction logs are written as serving writes them: features looked up online
(``get_online``, the serving path), one row per request with the entity keys, the features
under their names and ``feature_status``, appended through ``PredictionLog``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from keel.errors import InputError, UsageError
from keel.features import Definitions, load_definitions, materialize, skew_of
from keel.features._online import OnlineStore
from keel.monitor import PREDICTION_COLUMNS, PredictionLog, skew
from keel.tracking import open_project
from tests.features.conftest import DAY, T0

SINCE = "2023-12-01"


def serve(
    model: str,
    requests: Sequence[tuple[dict[str, Any], dt.datetime]],
    *,
    service: str = "loans",
    definitions: Definitions | None = None,
    version: int = 1,
    store: OnlineStore | None = None,
) -> pl.DataFrame:
    """Look each request's features up online at its time and log them with a prediction,
    the way ``keel serve`` logs a model version that names a feature service."""
    from keel.features import get_online

    defs = definitions or load_definitions()
    plan = defs.plan(service)
    rows: list[dict[str, Any]] = []
    for fields, at in requests:
        found = get_online(fields, service, definitions=defs, now=at, store=store)
        status = {
            out: {"found": "ok"}.get(
                found.status[0][part.view.name], found.status[0][part.view.name]
            )
            for part in plan.views
            for _, out in part.columns
        } | {item.name: "derived" for item in plan.derived}
        rows.append(
            {
                "request_id": uuid.uuid4().hex,
                "row": 0,
                "time": at.replace(tzinfo=dt.UTC),
                "model": model,
                "version": version,
                "role": "champion",
                "latency_ms": 1.0,
                "valid": True,
                "violations": None,
                "prediction": 0,
                "score": 0.5,
                "confidence": 0.5,
                **found.rows[0],
                "feature_status": json.dumps(status),
            }
        )
    typed = dict(found.dtypes)
    frame = pl.DataFrame(
        rows,
        schema_overrides={
            "time": pl.Datetime("us", "UTC"),
            "violations": pl.String,
            **{n: _polars(t) for n, t in typed.items()},
        },
    )
    log = PredictionLog(open_project().artifacts, model)
    hours = frame.with_columns(pl.col("time").dt.truncate("1h").alias("_hour"))
    for hour in hours.partition_by("_hour", maintain_order=True, include_key=False):
        log.append(hour)  # serving flushes every few seconds: a file holds minutes of rows
    return frame


def _polars(dtype: Any) -> Any:
    from keel.contracts import polars_type

    return polars_type(dtype)


def write_credit(root: Path, rows: Sequence[tuple[int, dt.datetime, float | None, int]]) -> None:
    """The credit view's source: (applicant, event time = created time, score, loans)."""
    pl.DataFrame(
        {
            "applicant_id": [r[0] for r in rows],
            "event_time": [r[1] for r in rows],
            "created_at": [r[1] for r in rows],
            "credit_score": [r[2] for r in rows],
            "open_loans": [r[3] for r in rows],
        },
        schema_overrides={"credit_score": pl.Float64},
    ).write_parquet(root / "data" / "credit.parquet")


Row = tuple[int, dt.datetime, float | None, int]
BEFORE: list[Row] = [(1, T0, 600.0, 1), (2, T0, None, 0), (3, T0, 500.0, 3)]
LATER: list[Row] = [
    (1, T0 + 2 * DAY, 700.0, 2),
    (3, T0 + 3 * DAY, 520.0, 3),
    (5, T0 + 2 * DAY, 550.0, 0),
]


@pytest.fixture
def planted(project: Path) -> Path:
    """Served from a snapshot taken on day 1; then newer rows arrived (applicants 1 and 3)
    and a new applicant (5), and requests kept being served from the old snapshot."""
    write_credit(project, BEFORE)
    materialize(as_of=T0 + DAY)
    write_credit(project, BEFORE + LATER)  # the offline store has them; the online not
    half = dt.timedelta(hours=12)
    serve(
        "churn",
        [
            ({"applicant_id": 1}, T0 + 2 * DAY + half),  # day-0 row served, day-2 is out: stale
            ({"applicant_id": 5}, T0 + 2 * DAY + half),  # not in the snapshot: missing
            ({"applicant_id": 3}, T0 + 3 * DAY + half),  # day-0 row past its TTL: expired
            ({"applicant_id": 2}, T0 + DAY + half),  # nothing newer: the same
        ],
    )
    return project


def test_each_planted_skew_is_found_with_its_reason(planted: Path) -> None:
    report = skew("churn", since=SINCE, service="loans")
    assert report.rows == 4
    score = report.feature("credit_score")
    assert score.view == "credit"
    assert (score.differ, score.share) == (3, 0.75)
    assert dict(score.reasons) == {
        "stale": 1,
        "missing": 1,
        "expired": 1,
        "computed differently": 0,
    }
    by_reason = {e["reason"]: e for e in score.examples}
    assert by_reason["stale"]["keys"] == {"applicant_id": 1}
    assert (by_reason["stale"]["served"], by_reason["stale"]["offline"]) == (600.0, 700.0)
    assert (by_reason["missing"]["served"], by_reason["missing"]["offline"]) == (None, 550.0)
    assert (by_reason["expired"]["served"], by_reason["expired"]["offline"]) == (None, 520.0)
    # open_loans of applicant 3 is 3 in both rows, but the served value expired: null
    loans = report.feature("open_loans")
    assert dict(loans.reasons) == {
        "stale": 1,
        "missing": 1,
        "expired": 1,
        "computed differently": 0,
    }
    # bureau was never behind: no skew
    assert report.feature("delinquencies").differ == 0
    # a derived feature computed from stale / missing / expired inputs takes their reason
    risky = report.feature("risky")
    assert risky.view is None
    assert dict(risky.reasons) == {
        "stale": 1,
        "missing": 1,
        "expired": 1,
        "computed differently": 0,
    }
    assert report.skewed == ("credit_score", "open_loans", "risky")
    assert not report.passed


def test_a_log_served_from_a_fresh_snapshot_has_no_skew(project: Path) -> None:
    write_credit(project, BEFORE + LATER)
    at = T0 + 4 * DAY
    materialize(as_of=at)
    people = [1, 2, 3, 4, 5]
    serve("churn", [({"applicant_id": p}, at + dt.timedelta(minutes=p)) for p in people])
    report = skew("churn", since=SINCE, service="loans")
    assert report.rows == 5
    assert [f.feature for f in report.features] == [
        "credit_score",
        "open_loans",
        "delinquencies",
        "risky",
    ]
    assert all(f.differ == 0 and f.share == 0.0 for f in report.features)
    assert report.passed
    assert report.skewed == ()


def test_a_changed_derived_feature_is_computed_differently(project: Path) -> None:
    at = T0 + DAY
    materialize(as_of=at)
    old = (
        (project / "features.py")
        .read_text()
        .replace("return open_loans > 1 or (delinquencies or 0) > 0", "return open_loans > 2")
    )
    (project / "features_v1.py").write_text(old)
    served_with = load_definitions("features_v1.py")
    # applicant 1 (1 loan, no delinquency): False either way; 2 (0 loans, 2 delinquencies):
    # False then, True now; 3 (3 loans): True either way
    serve("churn", [({"applicant_id": p}, at) for p in (1, 2, 3)], definitions=served_with)
    report = skew("churn", since=SINCE, service="loans")
    risky = report.feature("risky")
    assert (risky.differ, risky.reasons["computed differently"]) == (1, 1)
    (example,) = risky.examples
    assert example["keys"] == {"applicant_id": 2}
    assert (example["served"], example["offline"]) == (False, True)
    assert all(report.feature(f).differ == 0 for f in ("credit_score", "open_loans"))


def test_numbers_within_the_tolerance_are_equal_and_nulls_equal_nulls(project: Path) -> None:
    materialize(as_of=T0 + DAY)
    served = serve("churn", [({"applicant_id": p}, T0 + DAY) for p in (1, 2)])
    # applicant 2's credit score is null in both; nudge applicant 1's by a rounding error
    nudged = served.with_columns(pl.col("credit_score") * (1 + 1e-12))
    assert skew_of(nudged, "loans").feature("credit_score").differ == 0
    off = served.with_columns(pl.col("credit_score") + 0.5)
    found = skew_of(off, "loans").feature("credit_score")
    assert (found.differ, found.reasons["computed differently"]) == (1, 1)
    assert skew_of(off, "loans", tolerance=0.01).feature("credit_score").differ == 0


def test_the_threshold_decides_the_verdict(planted: Path) -> None:
    # 3 of 4 values differ (75 %): over 0.5, not over 0.8
    assert not skew("churn", since=SINCE, service="loans", max_share=0.5).passed
    assert skew("churn", since=SINCE, service="loans", max_share=0.8).passed
    toml = planted / "keel.toml"
    toml.write_text(
        toml.read_text().replace(
            'definitions = "features.py"', 'definitions = "features.py"\nskew_max_share = 0.9'
        )
    )
    assert skew("churn", since=SINCE, service="loans").max_share == 0.9
    with pytest.raises(UsageError, match="not a share between 0 and 1"):
        skew("churn", since=SINCE, service="loans", max_share=5)


def test_the_json_shape(planted: Path) -> None:
    data = skew("churn", since=SINCE, service="loans").to_dict()
    assert list(data) == [
        "model",
        "services",
        "versions",
        "since",
        "until",
        "rows",
        "max_share",
        "tolerance",
        "passed",
        "skewed",
        "features",
    ]
    assert (data["model"], data["services"], data["versions"]) == ("churn", ["loans"], [1])
    assert data["since"] == "2023-12-01T00:00:00+00:00"
    feature = data["features"][0]
    assert list(feature) == [
        "feature",
        "view",
        "rows",
        "differ",
        "share",
        "exceeds",
        "reasons",
        "examples",
    ]
    assert list(feature["reasons"]) == ["stale", "missing", "expired", "computed differently"]
    example = feature["examples"][0]
    assert list(example) == ["keys", "time", "served", "offline", "reason"]
    assert example["time"] == "2024-01-03T12:00:00+00:00"
    json.dumps(data, allow_nan=False)  # plain JSON


# --------------------------------------------------------------------------- bad input
def test_an_unknown_model_is_named_with_the_closest(planted: Path) -> None:
    with pytest.raises(UsageError, match="no model 'chrun'") as found:
        skew("chrun", since=SINCE, service="loans")
    assert "Did you mean 'churn'?" in str(found.value.hint)


def test_an_empty_window_says_when_the_last_prediction_was(planted: Path) -> None:
    with pytest.raises(UsageError, match="has no predictions since 2025-01-01") as found:
        skew("churn", since="2025-01-01", service="loans")
    assert "latest logged prediction is at 2024-01-04 12:00" in str(found.value.hint)


def test_a_log_without_feature_columns_is_refused(project: Path) -> None:
    frame = pl.DataFrame(
        {
            "request_id": ["a"],
            "row": [0],
            "time": [dt.datetime(2024, 1, 2, tzinfo=dt.UTC)],
            "model": ["plain"],
            "version": [1],
            "role": ["champion"],
            "latency_ms": [1.0],
            "valid": [True],
            "violations": [None],
            "prediction": [1],
            "score": [0.5],
            "confidence": [0.5],
            "x1": [0.3],
        },
        schema_overrides={"violations": pl.String},
    )
    assert set(PREDICTION_COLUMNS) < set(frame.columns)
    PredictionLog(open_project().artifacts, "plain").append(frame)
    with pytest.raises(UsageError, match="holds no feature columns"):
        skew("plain", since=SINCE)  # the version names no service, nothing was logged
    with pytest.raises(UsageError, match="hold none of the feature columns"):
        skew("plain", since=SINCE, service="loans")


def test_rows_missing_some_features_or_a_request_field_are_refused(planted: Path) -> None:
    rows = PredictionLog(open_project().artifacts, "churn").scan().collect()
    with pytest.raises(UsageError, match="lack feature column"):
        skew_of(rows.drop("open_loans"), "loans")
    with pytest.raises(InputError, match="no 'time' column"):
        skew_of(rows.drop("time"), "loans")
    with pytest.raises(InputError, match=r"no entity key column\(s\) applicant_id"):
        skew_of(rows.drop("applicant_id"), "loans")
    with pytest.raises(InputError, match="feature_status"):
        skew_of(rows.with_columns(feature_status=pl.lit("not json")), "loans")


def test_a_value_served_past_its_ttl_is_expired(project: Path) -> None:
    # a snapshot read without the TTL (a store that does not enforce it): applicant 2's day-0
    # credit row served on day 5, when its 3-day TTL had passed and the offline join is null
    materialize(as_of=T0 + DAY)
    served = serve("churn", [({"applicant_id": 2}, T0 + DAY)])
    late = served.with_columns(time=pl.lit(T0 + 5 * DAY).dt.replace_time_zone("UTC"))
    found = skew_of(late, "loans").feature("open_loans")
    assert (found.differ, found.reasons["expired"]) == (1, 1)
    assert (found.examples[0]["served"], found.examples[0]["offline"]) == (0, None)
