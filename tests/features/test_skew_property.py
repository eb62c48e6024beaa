"""Skew held to first principles on random data: rows served from the online store, from a
snapshot taken at a random earlier instant (or at the request time), read with the TTL at
the request time. Whatever the data (ties, nulls, late rows, expired values, entities never
seen), every served value that differs from the training set's value at the request time is
counted, and each difference is explained by the lag: stale, missing or expired, never
"computed differently". Served exactly as the training set gives, nothing differs."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import keel
from keel.features import Definitions, get_online, materialize, skew_of, training_set
from keel.features._online import SqliteStore
from tests.features.test_engine_property import BASE, CreatedRows, _rows, applicant

_count = itertools.count()
feature_row = st.fixed_dictionaries(  # dense: a few applicants, many rows each
    {
        "applicant_id": st.one_of(st.none(), st.integers(0, 2)) | st.integers(0, 2),
        "event_time": st.one_of(st.none(), st.integers(0, 10)) | st.integers(0, 10),
        "created_after": st.one_of(st.none(), st.integers(0, 3)),
        "value": st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)) | st.just(1.0),
        "n": st.just(0),
    }
)
request = st.fixed_dictionaries(
    {
        "applicant_id": st.integers(0, 3),  # 3: never seen
        "hour": st.integers(2, 12),
        "lag": st.sampled_from([0, 1, 2, 3, 5, 8]),  # hours the snapshot is behind
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drawn=st.lists(feature_row, min_size=6, max_size=25),
    requests=st.lists(request, min_size=2, max_size=8),
    ttl_hours=st.one_of(st.none(), st.integers(1, 10)),
)
@example(  # one applicant of each kind: stale (no TTL), missing, expired (TTL 2 hours)
    drawn=[
        {"applicant_id": 0, "event_time": 2, "created_after": None, "value": 1.0, "n": 0},
        {"applicant_id": 0, "event_time": 6, "created_after": 1, "value": 2.0, "n": 0},
        {"applicant_id": 1, "event_time": 5, "created_after": None, "value": 3.0, "n": 0},
    ],
    requests=[
        {"applicant_id": 0, "hour": 7, "lag": 3},  # snapshot at 4: the hour-2 row
        {"applicant_id": 1, "hour": 6, "lag": 3},  # snapshot at 3: no row yet
        {"applicant_id": 0, "hour": 6, "lag": 2},  # the hour-2 row read at 6
    ],
    ttl_hours=None,
)
@example(
    drawn=[
        {"applicant_id": 0, "event_time": 2, "created_after": None, "value": 1.0, "n": 0},
        {"applicant_id": 0, "event_time": 6, "created_after": None, "value": 2.0, "n": 0},
    ],
    requests=[{"applicant_id": 0, "hour": 6, "lag": 2}, {"applicant_id": 0, "hour": 7, "lag": 2}],
    ttl_hours=2,  # read at 6 and 7, the hour-2 row is past its TTL: expired, not stale
)
def test_every_difference_is_counted_and_explained_by_the_lag(
    tmp_path: Path,
    drawn: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    ttl_hours: int | None,
) -> None:
    number = next(_count)
    path = tmp_path / f"rows-{number}.parquet"
    schema = {
        "applicant_id": pl.Int64,
        "event_time": pl.Datetime("us"),
        "created": pl.Datetime("us"),
        "value": pl.Float64,
        "n": pl.Int64,
    }
    pl.DataFrame(_rows(drawn, True), schema=schema).write_parquet(path)
    view = keel.FeatureView(
        "credit",
        entity=applicant,
        source=str(path),
        schema=CreatedRows,
        event_time="event_time",
        created_time="created",
        ttl=None if ttl_hours is None else dt.timedelta(hours=ttl_hours),
    )
    service = keel.FeatureService("scores", features=[view["value"], view["n"]])
    defs = Definitions.of([view, service], root=tmp_path)
    store = SqliteStore(tmp_path / f"online-{number}.db")
    rows = []
    try:
        for item in requests:  # each request read from its own snapshot, as of `lag` before
            at = BASE + dt.timedelta(hours=item["hour"])
            materialize([view], at - dt.timedelta(hours=item["lag"]), definitions=defs, store=store)
            found = get_online(
                {"applicant_id": item["applicant_id"]},
                service,
                definitions=defs,
                now=at,
                store=store,
            )
            state = {"found": "ok"}.get(found.status[0]["credit"], found.status[0]["credit"])
            rows.append(
                {
                    **found.rows[0],
                    "time": at.replace(tzinfo=dt.UTC),
                    "feature_status": json.dumps(dict.fromkeys(("value", "n"), state)),
                }
            )
    finally:
        store.close()
    served = pl.DataFrame(
        rows,
        schema={
            "applicant_id": pl.Int64,
            "value": pl.Float64,
            "n": pl.Int64,
            "time": pl.Datetime("us", "UTC"),
            "feature_status": pl.String,
        },
    )
    entities = served.select("applicant_id", pl.col("time").dt.replace_time_zone(None))
    truth = training_set(entities, service, definitions=defs, timestamp="time").frame
    report = skew_of(served, service, definitions=defs)
    for name in ("value", "n"):
        differ = sum(
            s != o for s, o in zip(served[name].to_list(), truth[name].to_list(), strict=True)
        )
        found = report.feature(name)
        assert found.differ == differ, name
        assert found.reasons["computed differently"] == 0, (name, found.examples)
    # served exactly as the training set gives: no difference at all
    exact = served.with_columns(truth.get_column("value"), truth.get_column("n"))
    assert all(f.differ == 0 for f in skew_of(exact, service, definitions=defs).features)
