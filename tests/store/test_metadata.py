"""The metadata store's API round-trips on SQLite and PostgreSQL, and fails clearly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keel.errors import ConfigError, StoreUnavailableError, UsageError
from keel.store._metadata import MetadataStore, Metric

DIGEST = "ab" * 32


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    with MetadataStore(store_url) as opened:
        yield opened


def test_a_run_round_trips_with_tags_params_and_latest_metrics(store: MetadataStore) -> None:
    run_id = store.create_run(
        "train", experiment="churn", tags={"team": "risk"}, fingerprint={"git": "abc123"}
    )
    store.log_params(run_id, {"lr": 0.1, "layers": [64, 32], "name": "mlp", "seed": None})
    store.log_metrics(
        run_id,
        [
            Metric("loss", 0.9, 0, 1.0),
            ("loss", 0.5, 1, 2.0),
            ("loss", 0.7, 1, 1.5),  # the same step logged earlier is not the latest
            ("accuracy", 0.8),
        ],
    )
    store.set_tags(run_id, {"team": "fraud", "stage": "dev"})
    store.finish_run(run_id)

    run = store.get_run(run_id)
    assert (run.name, run.status, run.experiment) == ("train", "finished", "churn")
    assert run.params == {"lr": 0.1, "layers": [64, 32], "name": "mlp", "seed": None}
    assert run.metrics == {"loss": 0.5, "accuracy": 0.8}
    assert run.tags == {"team": "fraud", "stage": "dev"}
    assert run.fingerprint == {"git": "abc123"}
    assert run.started_at.tzinfo is UTC
    assert run.ended_at is not None
    assert run.started_at <= run.ended_at <= datetime.now(UTC)
    assert run.error is None
    history = store.metric_history(run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.9, 0), (0.7, 1), (0.5, 1)]


def test_failed_runs_keep_their_traceback_and_nested_runs_their_parent(
    store: MetadataStore,
) -> None:
    parent = store.create_run("sweep")
    child = store.create_run("trial-1", parent_id=parent)
    store.finish_run(child, "failed", error="Traceback ...\nValueError: boom")
    child_run = store.get_run(child)
    assert (child_run.status, child_run.parent_id) == ("failed", parent)
    assert child_run.error == "Traceback ...\nValueError: boom"
    assert [r.id for r in store.list_runs(parent_id=parent)] == [child]
    assert [r.id for r in store.list_runs(status="running")] == [parent]
    with pytest.raises(UsageError, match="is not in the metadata store"):
        store.create_run("orphan", parent_id="0" * 32)


def test_list_runs_filters_orders_newest_first_and_limits(store: MetadataStore) -> None:
    ids = [store.create_run(f"r{i}", experiment="a" if i % 2 else "b") for i in range(5)]
    for run_id in ids:
        store.log_params(run_id, {"i": ids.index(run_id)})
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == ids[:2:-1][:2]
    in_a = store.list_runs(experiment="a")
    assert [r.id for r in in_a] == [ids[3], ids[1]]
    assert [r.params["i"] for r in in_a] == [3, 1]
    assert store.list_runs(experiment="nope") == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metrics_are_stored_and_shown_as_such(
    store: MetadataStore, value: float
) -> None:
    run_id = store.create_run()
    store.log_metrics(run_id, [("m", value, 0), ("m", 1.0, 1), ("last", value, 0)])
    shown = store.get_run(run_id).metrics["last"]
    stored = store.metric_history(run_id, "m")[0].value
    for got in (shown, stored):
        assert math.isnan(got) if math.isnan(value) else got == value
    assert store.get_run(run_id).metrics["m"] == 1.0


def test_non_json_params_are_refused_naming_key_and_type(store: MetadataStore) -> None:
    run_id = store.create_run()
    with pytest.raises(UsageError, match=r"param 'path'.*type PosixPath.*not JSON") as info:
        store.log_params(run_id, {"ok": 1, "path": Path("/tmp")})
    assert "Hint:" in str(info.value)
    assert store.get_run(run_id).params == {}  # nothing of a refused batch is written


def test_params_are_fixed_once_logged(store: MetadataStore) -> None:
    run_id = store.create_run()
    store.log_params(run_id, {"lr": 0.1})
    store.log_params(run_id, {"lr": 0.1, "epochs": 3})  # the same value again is fine
    with pytest.raises(UsageError, match=r"param 'lr' .* already 0\.1 and cannot become 0\.2"):
        store.log_params(run_id, {"lr": 0.2})
    assert store.get_run(run_id).params == {"lr": 0.1, "epochs": 3}


def test_bad_calls_say_what_is_wrong(store: MetadataStore) -> None:
    run_id = store.create_run()
    with pytest.raises(UsageError, match="'running'"):
        store.finish_run(run_id, "running")
    with pytest.raises(UsageError, match="metric 'acc' has a value of type str"):
        store.log_metrics(run_id, [("acc", "high", 0)])
    for call in (
        lambda: store.get_run("missing"),
        lambda: store.finish_run("missing"),
        lambda: store.log_params("missing", {"a": 1}),
        lambda: store.log_metrics("missing", [("a", 1.0)]),
        lambda: store.set_tags("missing", {"a": "b"}),
    ):
        with pytest.raises(UsageError, match="run 'missing' is not in the metadata store"):
            call()
    with pytest.raises(UsageError, match="not a content digest"):
        store.add_artifact(run_id, "model.pkl", "xyz", 3)


def test_artifacts_round_trip_and_relogging_a_name_replaces_it(store: MetadataStore) -> None:
    run_id = store.create_run()
    store.add_artifact(run_id, "model.pkl", DIGEST, 10)
    store.add_artifact(run_id, "data/train.parquet", "cd" * 32, 2_000_000_000_000)
    store.add_artifact(run_id, "model.pkl", "ef" * 32, 12)
    found = store.list_artifacts(run_id)
    assert [(a.name, a.digest, a.size) for a in found] == [
        ("data/train.parquet", "cd" * 32, 2_000_000_000_000),
        ("model.pkl", "ef" * 32, 12),
    ]
    assert all(a.created_at.tzinfo is UTC for a in found)


def test_dataset_versions_are_numbered_and_round_trip(store: MetadataStore) -> None:
    run_id = store.create_run()
    first = store.add_dataset_version(
        "loans",
        DIGEST,
        stored=True,
        rows=1000,
        schema={"id": "int", "age": "int"},
        contract={"passed": True, "failures": []},
        run_id=run_id,
    )
    second = store.add_dataset_version("loans", "cd" * 32, stored=False, uri="s3://b/loans.pq")
    assert (first.version, second.version) == (1, 2)
    assert first.schema == {"id": "int", "age": "int"}
    assert first.contract == {"passed": True, "failures": []}
    assert (first.stored, first.rows, first.run_id) == (True, 1000, run_id)
    assert (second.stored, second.uri, second.rows) == (False, "s3://b/loans.pq", None)
    assert store.get_dataset_version("loans") == second
    assert store.get_dataset_version("loans", 1) == first
    assert store.list_dataset_versions("loans") == [first, second]
    assert store.add_dataset_version("other", DIGEST, stored=True).version == 1
    with pytest.raises(UsageError, match="version 3 of dataset 'loans' is not in"):
        store.get_dataset_version("loans", 3)
    with pytest.raises(UsageError, match="dataset 'nope' is not in"):
        store.get_dataset_version("nope")


def test_opening_twice_migrates_once_and_keeps_data(store_url: str) -> None:
    with MetadataStore(store_url) as first:
        run_id = first.create_run("kept")
    with MetadataStore(store_url) as again:
        assert again.get_run(run_id).name == "kept"


def test_the_default_sqlite_store_creates_its_folder_and_uses_wal(sqlite_url: str) -> None:
    with MetadataStore(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert Path(sqlite_url.removeprefix("sqlite:///")).is_file()


@pytest.mark.parametrize(
    ("url", "named"), [("mysql://u@h/db", "'mysql'"), ("s3://b/keel.db", "'s3'"), ("no url", "")]
)
def test_unknown_store_urls_name_the_supported_schemes(url: str, named: str) -> None:
    with pytest.raises(ConfigError, match="sqlite") as info:
        MetadataStore(url)
    assert "postgresql+psycopg" in str(info.value)
    assert named in str(info.value)


def test_another_postgresql_driver_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'postgresql\+psycopg2'"):
        MetadataStore("postgresql+psycopg2://u:secret@localhost/db")


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://keel:s3cr3t-pw@127.0.0.1:1/keel"
    with pytest.raises(StoreUnavailableError) as info:
        MetadataStore(url)
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "postgresql+psycopg://keel:***@127.0.0.1:1/keel" in message
    assert "Hint:" in message
    assert info.value.__cause__ is None  # the driver's error (with the URL) is not chained


def test_an_unwritable_sqlite_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create the folder"):
        MetadataStore(f"sqlite:///{blocker / 'sub' / 'keel.db'}")


def test_params_at_start_and_metrics_at_finish_take_one_write_each(store: MetadataStore) -> None:
    run_id = store.create_run("fast", params={"lr": 0.1, "layers": [64, 32]})
    store.finish_run(run_id, metrics=[("loss", 0.5, 0), ("loss", 0.25, 1), ("nan", math.nan)])
    run = store.get_run(run_id)
    assert run.params == {"lr": 0.1, "layers": [64, 32]}
    assert run.metrics["loss"] == 0.25
    assert math.isnan(run.metrics["nan"])
    assert run.status == "finished"
    with pytest.raises(UsageError, match="'bad'"):
        store.create_run("refused", params={"bad": object()})
    assert [r.name for r in store.list_runs()] == ["fast"]  # nothing half-written


def test_count_runs_counts_what_list_runs_returns_without_a_limit(store: MetadataStore) -> None:
    for name, experiment in (("a", "churn"), ("b", "churn"), ("c", "fraud")):
        store.create_run(name, experiment=experiment)
    assert store.count_runs() == len(store.list_runs()) == 3
    assert store.count_runs(experiment="churn") == len(store.list_runs(experiment="churn")) == 2
    assert store.count_runs(experiment="none") == 0
    assert len(store.list_runs(limit=2)) == 2


def test_files_a_run_read_are_recorded_per_step_input(store: MetadataStore) -> None:
    run_id = store.create_run("flow", fingerprint={"seed": 1})
    store.add_run_file(run_id, "read", "source", "a.txt", DIGEST)
    store.add_run_file(run_id, "join", "left", "b.txt", "cd" * 32)
    store.add_run_file(run_id, "read", "source", "c.txt", "ef" * 32)  # the same input again
    fingerprint = store.get_run(run_id).fingerprint
    assert fingerprint == {
        "seed": 1,
        "files": [
            {"step": "join", "input": "left", "path": "b.txt", "digest": "cd" * 32},
            {"step": "read", "input": "source", "path": "c.txt", "digest": "ef" * 32},
        ],
    }
    with pytest.raises(UsageError, match="is not a content digest"):
        store.add_run_file(run_id, "read", "source", "a.txt", "nope")
