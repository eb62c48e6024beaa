"""Online equals offline: on random feature rows (ties, late rows, nulls, expired values), the
values materialized as of T and read at a later time R equal the training set's at R for the
entities whose rows were all known at T; read at T itself, they equal it for every entity."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel
from keel.features import Definitions, get_online, materialize, training_set
from keel.features._online import SqliteStore
from tests.features.test_engine_property import BASE, CreatedRows, _rows, applicant, feature_row

_count = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drawn=st.lists(feature_row, max_size=25),
    ttl_hours=st.one_of(st.none(), st.integers(1, 10)),
    as_of_hours=st.integers(0, 14),
    later_hours=st.integers(0, 6),
)
def test_online_equals_the_training_set(
    tmp_path: Path,
    drawn: list[dict[str, Any]],
    ttl_hours: int | None,
    as_of_hours: int,
    later_hours: int,
) -> None:
    number = next(_count)
    rows = _rows(drawn, has_created=True)
    schema = {
        "applicant_id": pl.Int64,
        "event_time": pl.Datetime("us"),
        "created": pl.Datetime("us"),
        "value": pl.Float64,
        "n": pl.Int64,
    }
    path = tmp_path / f"rows-{number}.parquet"
    pl.DataFrame(rows, schema=schema).write_parquet(path)
    view = keel.FeatureView(
        "credit",
        entity=applicant,
        source=str(path),
        schema=CreatedRows,
        event_time="event_time",
        created_time="created",
        ttl=None if ttl_hours is None else dt.timedelta(hours=ttl_hours),
    )
    defs = Definitions.of([view], root=tmp_path)
    store = SqliteStore(tmp_path / f"online-{number}.db")
    as_of = BASE + dt.timedelta(hours=as_of_hours)
    people = [0, 1, 2, 3, 4]
    materialize(as_of=as_of, definitions=defs, store=store)
    for now in (as_of, as_of + dt.timedelta(hours=later_hours)):
        online = get_online(
            [{"applicant_id": p} for p in people], [view], definitions=defs, now=now, store=store
        )
        offline = training_set(
            pl.DataFrame({"applicant_id": people, "timestamp": [now] * len(people)}), [view]
        ).frame
        # between T and R, rows with event times in (T, R] are not in the snapshot: compare the
        # entities without such rows (the snapshot is of T; that is what staleness means)
        newer = {
            r["applicant_id"]
            for r in rows
            if r["event_time"] is not None and as_of < r["event_time"] <= now
        }
        for index, person in enumerate(people):
            if person in newer:
                continue
            got = online.rows[index]
            want = offline.row(index, named=True)
            assert (got["value"], got["n"]) == (want["value"], want["n"]), (person, now)
        store_status = {s["credit"] for s in online.status}
        assert store_status <= {"found", "expired", "missing"}
    store.close()
