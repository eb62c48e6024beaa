"""Reference profile records: one per model or dataset version, replaced on a new put, only
for versions that exist, kept by gc; and the migration that adds them keeps every row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext

from keel.errors import UsageError
from keel.store import MetadataStore
from keel.store._metadata_schema import (
    dataset_versions,
    datasets,
    model_versions,
    registered_models,
    runs,
)
from keel.store._migrations import VERSION_TABLE, _script

D1, D2, D3 = "1" * 64, "2" * 64, "3" * 64


def _model(store: MetadataStore, name: str = "churn") -> int:
    return store.models.add_version(
        name, manifest=D1, listing=D2, adapter="sklearn", actor="ana"
    ).version


def test_put_get_replace_and_list(store_url: str) -> None:
    with MetadataStore(store_url) as store:
        version = _model(store)
        store.add_dataset_version("train", D3, stored=True, rows=10)
        refs = store.references
        assert refs.get("model", "churn", version) is None
        first = refs.put("model", "churn", version, digest=D1, rows=10, columns=["a", "b"],
                         actor="ana", source="train.parquet")  # fmt: skip
        assert refs.get("model", "churn", version) == first
        replaced = refs.put("model", "churn", version, digest=D2, rows=20, columns=["a"],
                            actor="bo")  # fmt: skip
        found = refs.get("model", "churn", version)
        assert found is not None
        assert (found.digest, found.rows, found.columns, found.created_by, found.source) == (
            D2, 20, ("a",), "bo", None,
        )  # fmt: skip
        assert found.created_at == replaced.created_at
        refs.put("dataset", "train", 1, digest=D3, rows=10, columns=["a", "b"], actor="ana")
        assert [(r.subject, r.name) for r in refs.records()] == [
            ("dataset", "train"),
            ("model", "churn"),
        ]
        assert [r.subject for r in refs.records("model")] == ["model"]
        assert [r.name for r in refs.records(name="train")] == ["train"]
        assert {D2, D3} <= store.referenced_digests()  # gc keeps them
        assert refs.delete("model", "churn", version)
        assert not refs.delete("model", "churn", version)
        assert refs.get("model", "churn", version) is None


def test_only_existing_versions_get_a_reference(sqlite_url: str) -> None:
    with MetadataStore(sqlite_url) as store:
        _model(store)
        with pytest.raises(UsageError, match="model 'churn' has no version 2"):
            store.references.put("model", "churn", 2, digest=D1, rows=1, columns=[], actor="a")
        with pytest.raises(UsageError, match="dataset 'train' has no version 1"):
            store.references.put("dataset", "train", 1, digest=D1, rows=1, columns=[], actor="a")
        with pytest.raises(UsageError, match="not a content digest"):
            store.references.put("model", "churn", 1, digest="x", rows=1, columns=[], actor="a")
        with pytest.raises(UsageError, match="not a reference subject"):
            store.references.get("run", "churn", 1)  # type: ignore[arg-type]


def _upgrade_to(url: str, target: str) -> None:
    """Migrate an empty database to ``target`` only, as an older Keel would have left it."""
    script = _script()

    def steps(revision: Any, context: MigrationContext) -> Iterable[Any]:
        return script._upgrade_revs(target, revision)

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn, EnvironmentContext(Config(), script, fn=steps) as env:
            env.configure(connection=conn, version_table=VERSION_TABLE)
            env.run_migrations()
    finally:
        engine.dispose()


def test_upgrading_a_store_at_revision_0004_keeps_every_row(store_url: str) -> None:
    if store_url.startswith("sqlite:///"):
        Path(store_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    _upgrade_to(store_url, "0004")
    now = datetime.now(UTC)
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        assert not sa.inspect(conn).has_table("reference_profiles")
        conn.execute(
            runs.insert().values(id="a" * 32, name="train", status="finished", started_at=now)
        )
        conn.execute(datasets.insert().values(id=1, name="train", created_at=now))
        conn.execute(
            dataset_versions.insert().values(
                dataset_id=1, version=1, digest=D3, rows=5, stored=True, run_id="a" * 32,
                created_at=now,
            )
        )  # fmt: skip
        conn.execute(registered_models.insert().values(id=1, name="churn", created_at=now))
        conn.execute(
            model_versions.insert().values(
                model_id=1, version=1, manifest=D1, listing=D2, adapter="sklearn",
                run_id="a" * 32, created_at=now, created_by="ana",
            )
        )  # fmt: skip
    engine.dispose()
    with MetadataStore(store_url) as store:  # opening migrates 0004 -> head
        assert store.get_run("a" * 32).name == "train"
        assert store.get_dataset_version("train", 1).rows == 5
        assert store.models.get_version("churn", 1).run_id == "a" * 32
        assert store.referenced_digests() == {D1, D2}
        store.references.put("model", "churn", 1, digest=D3, rows=5, columns=["x"], actor="ana")
        assert store.references.get("model", "churn", 1) is not None
