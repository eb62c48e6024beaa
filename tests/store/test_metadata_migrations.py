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
