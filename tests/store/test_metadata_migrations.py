"""Migrations: applied on open, idempotent, matching the tables, refusing newer databases."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from keel.errors import StoreVersionError, UsageError
from keel.store._metadata import MetadataStore
from keel.store._metadata_schema import metadata
from keel.store._migrations import HEAD, VERSION_TABLE, head_revision


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    finally:
        engine.dispose()


def test_opening_applies_every_migration_and_records_the_head(store_url: str) -> None:
    MetadataStore(store_url).close()
    assert _revision(store_url) == head_revision()
    MetadataStore(store_url).close()  # already at head: nothing to do, nothing breaks
    assert _revision(store_url) == head_revision()


def test_the_head_constant_names_the_newest_revision_script() -> None:
    # opening a current store compares with HEAD without importing Alembic: a new
    # revision script must move HEAD too, or stores would never be upgraded to it
    assert head_revision() == HEAD


def test_the_migrations_build_exactly_the_tables_the_queries_use(store_url: str) -> None:
    with MetadataStore(store_url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": False, "version_table": VERSION_TABLE}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_a_database_from_a_newer_keel_is_refused_untouched(store_url: str) -> None:
    MetadataStore(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(StoreVersionError, match="created by a newer Keel") as info:
        MetadataStore(store_url)
    assert isinstance(info.value, UsageError)
    assert "pip install -U mlkeel" in str(info.value)
    assert "***" in str(info.value) or "password" not in store_url
    assert _revision(store_url) == "9999_from_the_future"


def _open(url: str) -> None:
    MetadataStore(url).close()


def test_several_processes_opening_a_fresh_store_at_once_all_succeed(store_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(_open, [store_url] * 4)
    assert _revision(store_url) == head_revision()


def _migrate(url: str, target: str) -> None:
    """Move the store to revision ``target`` (a downgrade here) through Keel's own engine:
    SQLite connections with foreign keys on, as in every store Keel opens."""
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    from keel.store._metadata_engine import create_engine, parse_url
    from keel.store._migrations import _script

    script = _script()
    _, write = create_engine(parse_url(url))
    try:
        with (
            write.begin() as conn,
            EnvironmentContext(
                Config(), script, fn=lambda rev, _: script._downgrade_revs(target, rev)
            ) as environment,
        ):
            environment.configure(connection=conn, version_table=VERSION_TABLE)
            environment.run_migrations()
    finally:
        write.dispose()


def test_upgrading_to_killed_runs_keeps_every_run_and_what_refers_to_it(store_url: str) -> None:
    with MetadataStore(store_url) as store:
        parent = store.create_run("parent", params={"lr": 0.1}, tags={"team": "a"})
        child = store.create_run("child", parent_id=parent)
        store.log_metrics(parent, [("auc", 0.9)])
        store.add_artifact(parent, "model", "a" * 64, 3)
        store.finish_run(child, "failed", "boom")
    _migrate(store_url, "0005")  # as a store written by the previous Keel
    assert _revision(store_url) == "0005"
    engine = sa.create_engine(store_url)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # the old constraint
        conn.execute(sa.text("UPDATE runs SET status = 'killed' WHERE id = :id"), {"id": child})
    engine.dispose()

    with MetadataStore(store_url) as store:  # upgrades: the constraint admits 'killed'
        assert _revision(store_url) == HEAD
        found = store.get_run(parent)
        assert (found.params, found.tags, found.metrics) == (
            {"lr": 0.1},
            {"team": "a"},
            {"auc": 0.9},
        )
        assert [a.name for a in store.list_artifacts(parent)] == ["model"]
        assert store.get_run(child).parent_id == parent
        assert (found.host, found.pid) == (None, None)  # not recorded before: never marked
        store.finish_run(child, "killed", "gone")
        assert store.get_run(child).status == "killed"
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE runs SET status = 'lost' WHERE id = :id"), {"id": child})


def test_upgrading_to_feature_services_keeps_every_model_version(store_url: str) -> None:
    with MetadataStore(store_url) as store:
        store.models.add_version(
            "churn", manifest="a" * 64, listing="b" * 64, adapter="sklearn", actor="ana",
            metrics={"auc": 0.9},
        )  # fmt: skip
    _migrate(store_url, "0006")  # as a store written by the previous Keel
    assert _revision(store_url) == "0006"
    with MetadataStore(store_url) as store:  # upgrades: versions gain a feature service
        assert _revision(store_url) == HEAD
        old = store.models.get_version("churn", 1)
        assert (old.manifest, old.metrics, old.feature_service) == ("a" * 64, {"auc": 0.9}, None)
        assert store.models.feature_snapshot("churn", 1) is None
        snapshot = {"service": "scoring", "features": [{"name": "x", "type": "float"}]}
        new = store.models.add_version(
            "churn", manifest="c" * 64, listing="d" * 64, adapter="sklearn", actor="ana",
            feature_service="scoring", feature_snapshot=snapshot,
        )  # fmt: skip
        assert new.feature_service == "scoring"
        assert store.models.feature_snapshot("churn", 2) == snapshot
        with pytest.raises(UsageError, match="no version 3"):
            store.models.feature_snapshot("churn", 3)
