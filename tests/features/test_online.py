"""The online store: materialize writes the point-in-time snapshot, get_online reads it, with
the TTL enforced at read time; the same on the embedded SQLite store and on a real Redis."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import keel
from keel.config import load_config
from keel.errors import InputError, UsageError
from keel.features import (
    Definitions,
    OnlineStore,
    OnlineStoreUnavailableError,
    get_online,
    materialize,
    training_set,
)
from keel.features._online import RedisStore, SqliteStore, open_online_store
from tests.features.conftest import DAY, T0

REDIS = os.environ.get("KEEL_TEST_REDIS", "redis://127.0.0.1:6379/0")  # make redis starts one


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, project: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        found: OnlineStore = SqliteStore(project / ".keel" / "online.db")
    else:  # the real server: unreachable is a failure (never a skip)
        prefix = f"keel-test:{uuid.uuid4().hex}"
        found = RedisStore(REDIS, prefix=prefix)
    yield found
    found.close()
    if request.param == "redis":  # leave the shared server as it was
        import redis

        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def test_online_values_equal_the_training_set_at_the_materialization_time(
    project: Path, store: OnlineStore
) -> None:
    # every entity, at several as-of times: before, between and after the rows, so that
    # found, expired and missing values all occur
    for as_of in (T0, T0 + 2 * DAY, T0 + 4 * DAY, T0 + 5 * DAY + dt.timedelta(hours=1)):
        materialize(as_of=as_of, store=store)
        people = [1, 2, 3, 4]
        online = get_online([{"applicant_id": p} for p in people], "loans", now=as_of, store=store)
        offline = training_set(
            pl.DataFrame({"applicant_id": people, "timestamp": [as_of] * len(people)}), "loans"
        ).frame.drop("timestamp")
        assert online.to_frame().to_dicts() == offline.to_dicts(), as_of


def test_a_value_past_its_ttl_at_read_time_is_null_and_expired(
    project: Path, store: OnlineStore
) -> None:
    (credit, _) = materialize(as_of=T0 + 4 * DAY, store=store)
    assert credit.as_of == (T0 + 4 * DAY).replace(tzinfo=dt.UTC)  # the record says how old
    fresh = get_online({"applicant_id": 1}, "loans", now=T0 + 6 * DAY, store=store)
    assert fresh.rows[0]["open_loans"] == 2
    assert fresh.status[0] == {"credit": "found", "bureau": "found"}
    # credit's TTL is 3 days: on day 8 the day-4 value must not be served, however recent
    # the materialization (Feast serves it: its issue 6821)
    stale = get_online({"applicant_id": 1}, "loans", now=T0 + 8 * DAY, store=store)
    assert stale.rows[0]["open_loans"] is None
    assert stale.rows[0]["credit_score"] is None
    assert stale.rows[0]["risky"] is None  # derived from an expired value: null too
    assert stale.status[0] == {"credit": "expired", "bureau": "found"}
    assert stale.rows[0]["delinquencies"] == 0  # bureau's 10 days still hold


def test_an_unknown_entity_is_missing(project: Path, store: OnlineStore) -> None:
    materialize(as_of=T0 + DAY, store=store)
    found = get_online([{"applicant_id": 99}], ["credit:open_loans"], now=T0 + DAY, store=store)
    assert found.rows == ({"applicant_id": 99, "open_loans": None},)
    assert found.status == ({"credit": "missing"},)


def test_rematerializing_replaces_the_snapshot(project: Path, store: OnlineStore) -> None:
    materialize(["credit"], as_of=T0 + DAY, store=store)
    before = get_online({"applicant_id": 1}, ["open_loans"], now=T0 + DAY, store=store)
    materialize(["credit"], as_of=T0 + 4 * DAY, store=store)
    after = get_online({"applicant_id": 1}, ["open_loans"], now=T0 + 4 * DAY, store=store)
    assert (before.rows[0]["open_loans"], after.rows[0]["open_loans"]) == (1, 2)
    assert store.materialization("credit").as_of.day == 5  # type: ignore[union-attr]


def test_a_failed_materialization_leaves_the_previous_snapshot_readable(
    project: Path, store: OnlineStore
) -> None:
    (first, _) = materialize(as_of=T0 + DAY, store=store)

    def broken() -> Iterator[tuple[str, str]]:
        yield ("[1]", "[0,1.0,5]")
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError):
        store.write(first, broken())
    found = get_online({"applicant_id": 1}, ["open_loans"], now=T0 + DAY, store=store)
    assert found.rows[0]["open_loans"] == 1
    assert store.materialization("credit") == first


def test_derived_features_take_request_fields(project: Path) -> None:
    (project / "features.py").write_text(
        (project / "features.py").read_text()
        + "\n\n@derived\ndef loans_per_year(open_loans: int, years: float) -> float:\n"
        "    return open_loans / years\n"
    )
    materialize(as_of=T0 + DAY)
    found = get_online(
        {"applicant_id": 1, "years": 2.0}, ["open_loans", "loans_per_year"], now=T0 + DAY
    )
    assert found.rows[0]["loans_per_year"] == 0.5
    with pytest.raises(UsageError, match="needs 'years'") as caught:
        get_online({"applicant_id": 1}, ["open_loans", "loans_per_year"], now=T0 + DAY)
    assert "request field" in (caught.value.hint or "")


def test_bad_requests_are_refused_with_a_hint(project: Path) -> None:
    with pytest.raises(UsageError, match="not been materialized") as caught:
        get_online({"applicant_id": 1}, "loans")
    assert "keel features materialize" in (caught.value.hint or "")
    materialize(as_of=T0)
    with pytest.raises(UsageError, match="unknown feature 'open_loan'") as unknown:
        get_online({"applicant_id": 1}, ["open_loan"])
    assert "open_loans" in (unknown.value.hint or "")
    with pytest.raises(InputError, match="'applicant_id' is '1', not an integer"):
        get_online({"applicant_id": "1"}, ["open_loans"])
    with pytest.raises(InputError, match="has no 'applicant_id'"):
        get_online({"id": 1}, ["open_loans"])


def test_an_unreachable_redis_is_a_clear_error(project: Path) -> None:
    toml = project / "keel.toml"
    toml.write_text(toml.read_text().replace('# online = ""', 'online = "redis://127.0.0.1:1/0"'))
    assert load_config().features_online == "redis://127.0.0.1:1/0"
    with pytest.raises(OnlineStoreUnavailableError, match="cannot be reached") as caught:
        materialize(as_of=T0)
    assert "Start the Redis server" in (caught.value.hint or "")


def test_keel_toml_chooses_the_store(project: Path) -> None:
    config = load_config()
    assert isinstance(open_online_store(config), SqliteStore)
    toml = project / "keel.toml"
    toml.write_text(toml.read_text().replace('# online = ""', f'online = "{REDIS}"'))
    chosen = open_online_store(load_config())
    assert isinstance(chosen, RedisStore)
    chosen.close()
    toml.write_text(toml.read_text().replace(REDIS, "mysql://x"))
    with pytest.raises(UsageError, match="not an online store"):
        open_online_store(load_config())


def test_a_view_changed_since_its_materialization_is_refused(project: Path) -> None:
    materialize(["credit"], as_of=T0 + DAY)
    definitions = project / "features.py"
    definitions.write_text(
        definitions.read_text().replace(
            "    open_loans: int\n", "    open_loans: int\n    age: int\n"
        )
    )
    with pytest.raises(
        UsageError, match="now has features credit_score, open_loans, age"
    ) as caught:
        get_online({"applicant_id": 1}, ["credit:open_loans"], now=T0 + DAY)
    assert "materialize credit" in (caught.value.hint or "")


class Visit(keel.Schema):
    shop: str
    seen: dt.datetime
    last_visit: dt.datetime | None
    first_day: dt.date
    amount: decimal.Decimal | None
    label: str | None


def test_text_keys_and_temporal_and_decimal_values_read_back_as_offline(
    tmp_path: Path, store: OnlineStore
) -> None:
    zone = dt.UTC
    start = dt.datetime(2024, 1, 1, tzinfo=zone)
    shops = ["plain", 'quo"te \\ é ü', "tab\tnew\nline", "日本"]
    pl.DataFrame(
        {
            "shop": shops,
            "seen": [start] * 4,
            "last_visit": [start - DAY, None, start, start],
            "first_day": [dt.date(2023, 5, 1)] * 4,
            "amount": [decimal.Decimal("1.50"), None, decimal.Decimal("-3.25"), None],
            "label": ["a", None, "ç", '"'],
        },
        schema_overrides={"amount": pl.Decimal(10, 2)},
    ).write_parquet(tmp_path / "visits.parquet")
    shop = keel.Entity("shop", keys={"shop": str})
    visits = keel.FeatureView(
        "visits",
        entity=shop,
        source=str(tmp_path / "visits.parquet"),
        schema=Visit,
        event_time="seen",
        ttl="30d",
    )
    defs = Definitions.of([visits], root=tmp_path)
    now = start + DAY
    materialize(as_of=now, definitions=defs, store=store)
    wanted = [*shops, "absent"]
    online = get_online(
        [{"shop": s} for s in wanted], [visits], definitions=defs, now=now, store=store
    )
    offline = training_set(
        pl.DataFrame({"shop": wanted, "timestamp": [now] * len(wanted)}), [visits]
    ).frame.drop("timestamp")
    assert online.to_frame().to_dicts() == offline.to_dicts()
    assert online.rows[1]["shop"] == shops[1]
    assert online.status[-1] == {"visits": "missing"}
