"""Store failures through the keel command: ``error:`` and ``Hint:`` on stderr, exit 2, no
traceback; and any Keel error escaping a command is rendered the same way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner, Result

from keel.cli import app
from keel.cli._output import KeelGroup
from keel.config import init_project
from keel.errors import StoreWriteError
from keel.store import MetadataStore
from keel.tracking import open_project

runner = CliRunner()
DIGEST = "0" * 64


def _fill(store: MetadataStore, run_id: str, batch: int) -> None:
    for i in range(10_000):
        store.log_metrics(run_id, [(f"m{k}", 0.0, i) for k in range(batch)])


def _unusable(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # an exit, not a crash
    stderr = result.stderr
    assert stderr.startswith("error:")
    assert "Hint:" in stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr


def test_data_add_on_a_read_only_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_pragma: list[str]
) -> None:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    pl.DataFrame({"x": range(1000)}).write_parquet(tmp_path / "data.parquet")
    open_project(tmp_path).metadata.close()  # created and migrated
    sqlite_pragma.append("PRAGMA query_only = ON")  # as if the file were read-only
    result = runner.invoke(app, ["data", "add", "data.parquet", "--name", "big"])
    _unusable(result, "the database is read-only", "writable")


def test_data_add_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real full disk: a 1 MB tmpfs filled up (needs root and mount, else skipped; the
    store tests simulate a full disk everywhere with PRAGMA max_page_count)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        url = f"sqlite:///{disk / 'keel.db'}"
        monkeypatch.setenv("KEEL_STORE_URL", url)
        init_project(tmp_path)
        monkeypatch.chdir(tmp_path)
        pl.DataFrame({"x": range(1000)}).write_parquet(tmp_path / "data.parquet")
        with MetadataStore(url) as store:
            run_id = store.create_run("filler")
            for batch in (200, 1):  # to the last byte
                with pytest.raises(StoreWriteError):
                    _fill(store, run_id, batch)
        result = runner.invoke(app, ["data", "add", "data.parquet", "--name", "big"])
        _unusable(result, "the disk is full", "Free space")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_models_alias_with_an_actor_too_long_on_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_STORE_URL", pg_url)
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    with MetadataStore(pg_url) as store:
        store.models.add_version(
            "churn", manifest=DIGEST, listing=DIGEST, adapter="sklearn", actor="ana"
        )
    monkeypatch.setenv("KEEL_ACTOR", "a" * 300)
    result = runner.invoke(app, ["models", "alias", "churn", "champion", "1"])
    _unusable(result, "model_events.actor", "at most 250 characters")


def test_a_keel_error_outside_a_commands_reporting_is_rendered() -> None:
    group = typer.Typer(cls=KeelGroup)

    @group.command()
    def broken() -> None:
        raise StoreWriteError("the metadata store could not write.", hint="Free space.")

    @group.command()
    def other() -> None:
        pass

    result = runner.invoke(group, ["broken"])
    _unusable(result, "could not write", "Hint: Free space.")
    assert runner.invoke(group, ["other"]).exit_code == 0
