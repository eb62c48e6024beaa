"""Every engine gives exactly the brute-force reference join, on random data with ties,
late rows, nulls and expired values (the semantics of docs/features.md)."""

from __future__ import annotations

import datetime as dt
import itertools
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import keel
from keel.features import training_set
from tests.features.reference import reference_join

BASE = dt.datetime(2024, 3, 1)
ENGINES = ["polars", "duckdb", "dask"]
_count = itertools.count()


class Rows(keel.Schema):
    applicant_id: int | None
    event_time: dt.datetime | None
    value: float | None
    n: int


class CreatedRows(keel.Schema):
    applicant_id: int | None
    event_time: dt.datetime | None
    created: dt.datetime | None
    value: float | None
    n: int


applicant = keel.Entity("applicant", keys={"applicant_id": int})

hours = st.integers(min_value=0, max_value=8)  # few distinct times: many ties
feature_row = st.fixed_dictionaries(
    {
        "applicant_id": st.one_of(st.none(), st.integers(0, 3)) | st.integers(0, 3),
        "event_time": st.one_of(st.none(), hours) | hours,
        "created_after": st.one_of(st.none(), st.integers(0, 4)),
        "value": st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)),
        "n": st.just(0),
    }
)
entity_row = st.fixed_dictionaries(
    {"applicant_id": st.integers(0, 4), "timestamp": st.integers(0, 14)}
)


def _rows(drawn: list[dict[str, Any]], has_created: bool) -> list[dict[str, Any]]:
    """Rows with unique (key, event time, created time): the ambiguous case is refused and
    tested on its own."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in drawn:
        event = (
            None if item["event_time"] is None else BASE + dt.timedelta(hours=item["event_time"])
        )
        created = (
            None
            if not has_created or item["created_after"] is None or event is None
            else event + dt.timedelta(hours=item["created_after"])
        )
        row = {
            "applicant_id": item["applicant_id"],
            "event_time": event,
            "value": item["value"],
            "n": item["n"],
        }
        if has_created:
            row["created"] = created
        seen.setdefault((row["applicant_id"], event, created), row)
    found = list(seen.values())
    for number, row in enumerate(found):
        row["n"] = number  # every row tells apart: a wrong choice always shows
    return found


def _built(entities: pl.DataFrame, view: keel.FeatureView, engine: str, **options: Any) -> Any:
    """The training set as a Polars frame; the Dask engine gets a Dask DataFrame of up to 3
    partitions (chosen for it by ``auto``, as Keel picks engines by the data's library)."""
    if engine != "dask":
        return training_set(entities, [view], engine=engine, **options).frame  # type: ignore[arg-type]
    import dask.dataframe as dd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        data = dd.from_pandas(entities.to_pandas(), npartitions=min(3, entities.height))
    built = training_set(data, [view], **options)
    return pl.from_pandas(built.frame.compute())


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drawn=st.lists(feature_row, max_size=25),
    wanted=st.lists(entity_row, min_size=1, max_size=15),
    ttl_hours=st.one_of(st.none(), st.integers(1, 10)),
    has_created=st.booleans(),
    as_known_at=st.booleans(),
)
@example(  # a tie on event time, the earlier-created row first: created time decides
    drawn=[
        {"applicant_id": 1, "event_time": 0, "created_after": 1, "value": 1.0, "n": 0},
        {"applicant_id": 1, "event_time": 0, "created_after": 2, "value": 2.0, "n": 0},
    ],
    wanted=[{"applicant_id": 1, "timestamp": 5}, {"applicant_id": 1, "timestamp": 1}],
    ttl_hours=None,
    has_created=True,
    as_known_at=True,
)
@example(  # exactly at the TTL's edge (kept) and an hour past it (expired)
    drawn=[{"applicant_id": 2, "event_time": 3, "created_after": None, "value": 0.5, "n": 0}],
    wanted=[{"applicant_id": 2, "timestamp": 5}, {"applicant_id": 2, "timestamp": 6}],
    ttl_hours=2,
    has_created=False,
    as_known_at=False,
)
def test_engine_matches_the_reference_join(  # noqa: PLR0917  # hypothesis draws each
    tmp_path: Path,
    engine: str,
    drawn: list[dict[str, Any]],
    wanted: list[dict[str, Any]],
    ttl_hours: int | None,
    has_created: bool,
    as_known_at: bool,
) -> None:
    rows = _rows(drawn, has_created)
    schema = {
        "applicant_id": pl.Int64,
        "event_time": pl.Datetime("us"),
        **({"created": pl.Datetime("us")} if has_created else {}),
        "value": pl.Float64,
        "n": pl.Int64,
    }
    path = tmp_path / f"rows-{next(_count)}.parquet"
    pl.DataFrame(rows, schema=schema).write_parquet(path)
    view = keel.FeatureView(
        "credit",
        entity=applicant,
        source=str(path),
        schema=CreatedRows if has_created else Rows,
        event_time="event_time",
        created_time="created" if has_created else None,
        ttl=None if ttl_hours is None else dt.timedelta(hours=ttl_hours),
    )
    entities = [
        {"applicant_id": e["applicant_id"], "timestamp": BASE + dt.timedelta(hours=e["timestamp"])}
        for e in wanted
    ]
    got = _built(pl.DataFrame(entities), view, engine, as_known_at=as_known_at)
    expected = reference_join(
        entities,
        rows,
        key="applicant_id",
        timestamp="timestamp",
        features=["value", "n"],
        ttl=None if ttl_hours is None else dt.timedelta(hours=ttl_hours),
        as_known_at=as_known_at,
    )
    assert got.select("applicant_id", "timestamp").to_dicts() == entities  # input rows, in order
    assert got.select("value", "n").to_dicts() == expected
