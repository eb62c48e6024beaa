"""The artifact store on a real S3-compatible server that is not AWS: OpenStack Swift with its
s3api middleware (tests/services/swift/start.sh), through s3fs and the current botocore.

Proves what a team relies on when ``[artifacts] url = "s3://..."``: bytes round-trip and are
named by their hash, a write is published whole (through ``tmp/``) and a failed one leaves
nothing behind, ``keel gc`` removes what a crash left, storage failures are one ``error:``
with a ``Hint:``, and datasets and models go end to end.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.store import ArtifactStore, ArtifactStoreError, hash_bytes
from keel.tracking import collect_garbage, open_project

runner = CliRunner()
S3Bucket = tuple[str, dict[str, Any]]


def _fs(options: dict[str, Any]) -> Any:
    s3fs = pytest.importorskip("s3fs")
    return s3fs.S3FileSystem(skip_instance_cache=True, **options)


def _under(fs: Any, url: str, folder: str) -> list[str]:
    fs.invalidate_cache()
    base = f"{url.removeprefix('s3://')}/{folder}"
    return [str(p) for p in fs.find(base)] if fs.exists(base) else []


def test_bytes_files_and_streams_round_trip(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    url, options = s3_bucket
    store = ArtifactStore(url, options)
    small = store.put_bytes(b"model weights")
    assert small.digest == hash_bytes(b"model weights")
    assert store.get_bytes(small.digest) == b"model weights"

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 << 20))  # a multipart upload (s3fs parts of 5 MiB)
    ref = store.put_file(big)
    out = store.get_file(ref.digest, tmp_path / "out" / "big.bin")
    assert out.read_bytes() == big.read_bytes()
    streamed = store.put_stream([b"x" * 1000, b"y" * 1000])

    assert sorted(store.digests()) == sorted({small.digest, ref.digest, streamed.digest})
    assert store.exists(streamed.digest)
    found = store.stat(ref.digest)
    assert found is not None
    assert found[0] == big.stat().st_size
    assert not _under(_fs(options), url, "tmp")  # every write moved out of tmp/


def test_storing_the_same_bytes_again_keeps_one_object_and_refreshes_its_time(
    s3_bucket: S3Bucket,
) -> None:
    url, options = s3_bucket
    store = ArtifactStore(url, options)
    first = store.put_bytes(b"same")
    before = store.stat(first.digest)
    time.sleep(1.1)  # S3 times have one-second resolution
    assert store.put_bytes(b"same") == first
    after = store.stat(first.digest)
    assert before is not None
    assert after is not None
    assert after[1] > before[1]  # gc's grace period counts from the re-use
    assert list(store.digests()) == [first.digest]


def test_an_object_is_published_only_once_completely_written(s3_bucket: S3Bucket) -> None:
    url, options = s3_bucket
    store = ArtifactStore(url, options)
    fs = _fs(options)
    seen: list[tuple[list[str], list[str]]] = []

    def chunks() -> Iterator[bytes]:
        yield os.urandom(6 << 20)
        seen.append((_under(fs, url, "objects"), _under(fs, url, "tmp")))
        yield os.urandom(6 << 20)

    ref = store.put_stream(chunks())
    assert seen == [([], [])]  # mid-write nothing is visible, not even a partial object
    assert _under(fs, url, "objects") == [store.path(ref.digest)]
    assert _under(fs, url, "tmp") == []


def test_a_failed_write_leaves_no_temporary_object_or_upload(s3_bucket: S3Bucket) -> None:
    url, options = s3_bucket
    store = ArtifactStore(url, {**options, "default_block_size": 5 << 20})
    fs = _fs(options)

    def failing() -> Iterator[bytes]:
        yield os.urandom(6 << 20)  # past one part: a multipart upload is under way
        yield os.urandom(6 << 20)
        raise RuntimeError("the model could not be serialised")

    with pytest.raises(RuntimeError, match="could not be serialised"):
        store.put_stream(failing())
    assert _under(fs, url, "tmp") == []
    assert _under(fs, url, "objects") == []
    bucket = url.removeprefix("s3://").split("/")[0]
    assert fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", []) == []


def test_gc_removes_what_a_crashed_write_left_in_tmp(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_bucket
    _project(tmp_path, url, options, monkeypatch)
    project = open_project(tmp_path)
    fs = _fs(options)
    leftover = f"{url.removeprefix('s3://')}/tmp/crashed.part"
    fs.pipe(leftover, b"half an upload")
    kept = project.artifacts.put_bytes(b"referenced by nothing, but new")

    young = collect_garbage(delete=True, project=project)  # default: tmp older than an hour
    assert young.stale_tmp == 0
    assert _under(fs, url, "tmp") == [leftover]

    # Last-Modified has whole seconds only: wait past the one-second grace with a margin
    time.sleep(2.5)
    done = collect_garbage(delete=True, project=project, tmp_grace=1)
    assert done.stale_tmp == 1
    assert _under(fs, url, "tmp") == []
    assert project.artifacts.exists(kept.digest)  # within the (default) grace period


# -- errors ------------------------------------------------------------------------------------
def _project(
    root: Path, url: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["[project]", 'name = "s3"', "[artifacts]", f'url = "{url}"']
    lines.append("[artifacts.storage_options]")
    lines += [f"{key} = {_toml(value)}" for key, value in options.items()]
    (root / "keel.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(root)
    for name in ("KEEL_ARTIFACTS_URL", "KEEL_ARTIFACTS_STORAGE_OPTIONS", "KEEL_STORE_URL"):
        monkeypatch.delenv(name, raising=False)


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _data_add(root: Path) -> Any:
    data = root / "loans.csv"
    data.write_text("id,amount\n1,10.5\n2,20.0\n", encoding="utf-8")
    return runner.invoke(app, ["data", "add", str(data), "--name", "loans"])


def _no_retries(options: dict[str, Any]) -> dict[str, Any]:
    return {**options, "config_kwargs": {"connect_timeout": 2, "retries": {"max_attempts": 1}}}


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"secret": "not-the-secret"}, "refused to store"),
        ({"key": "test:reader", "secret": "reading"}, "refused to store"),
        ({"endpoint_url": "http://127.0.0.1:9"}, "cannot reach the artifact store"),
    ],
    ids=["wrong-secret", "no-write-permission", "unreachable-endpoint"],
)
def test_storage_failures_are_one_error_with_a_hint(
    s3_bucket: S3Bucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str],
    said: str,
) -> None:
    url, options = s3_bucket
    _project(tmp_path, url, _no_retries({**options, **change}), monkeypatch)
    done = _data_add(tmp_path)
    assert done.exit_code == 2, done.output
    said_all = " ".join(done.output.split())  # as printed, wrapped to the terminal
    assert said_all.startswith("error: ")
    assert said in said_all
    assert url in said_all  # which store
    assert "Hint:" in said_all
    assert "Traceback" not in done.output
    assert done.output.count("\n") < 12  # not sixty lines of botocore


def test_a_missing_bucket_is_reported_not_created(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, options = s3_bucket
    missing = f"s3://keel-missing-{uuid.uuid4().hex[:12]}/keel"
    _project(tmp_path, missing, options, monkeypatch)
    done = _data_add(tmp_path)
    assert done.exit_code == 2, done.output
    said_all = " ".join(done.output.split())
    assert f"the bucket of the artifact store at {missing}" in said_all
    assert "does not exist" in said_all
    assert "Hint: Create the bucket" in said_all
    assert not _fs(options).exists(missing.removeprefix("s3://").split("/")[0])


def test_missing_credentials_are_named(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_bucket
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = ArtifactStore(url, {"endpoint_url": options["endpoint_url"]})
    with pytest.raises(ArtifactStoreError, match="no credentials") as caught:
        store.put_bytes(b"x")
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)


# -- end to end --------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_dataset_and_a_model_go_end_to_end_on_s3(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, options = s3_bucket
    _project(tmp_path, url, options, monkeypatch)
    added = _data_add(tmp_path)
    assert added.exit_code == 0, added.output
    shown = runner.invoke(app, ["data", "get", "loans", str(tmp_path / "back")])
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "back").read_text(encoding="utf-8").startswith("id,amount")

    sklearn = pytest.importorskip("sklearn.linear_model")
    features = pl.DataFrame({"x": np.arange(20, dtype=float)})
    model = sklearn.LinearRegression().fit(features.to_numpy(), np.arange(20) * 2.0)
    project = open_project(tmp_path)
    version = keel.register(model, "doubler", project=project)
    loaded = keel.load(f"doubler/{version.version}", project=project)
    assert np.allclose(loaded.predict(features), np.arange(20) * 2.0)
    assert _under(_fs(options), url, "objects")  # the package is on the server
    assert _under(_fs(options), url, "tmp") == []


def test_botocore_checksum_settings_pass_through_storage_options(s3_bucket: S3Bucket) -> None:
    url, options = s3_bucket
    when_required = {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    store = ArtifactStore(url, {**options, "config_kwargs": when_required})
    ref = store.put_bytes(b"sent without a CRC32 header")
    assert ArtifactStore(url, options).get_bytes(ref.digest) == b"sent without a CRC32 header"


def test_a_monitoring_log_is_written_and_read_on_s3(s3_bucket: S3Bucket) -> None:
    from datetime import UTC, datetime

    from keel.monitor import FeedbackLog

    url, options = s3_bucket
    log = FeedbackLog(ArtifactStore(url, options), "churn")
    rows = pl.DataFrame(
        {
            "request_id": ["a", "b"],
            "row": [0, 0],
            "label": [1, 0],
            "time": [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)] * 2,
        }
    )
    written = log.append(rows, key="batch1")
    assert written is not None
    assert log.append(rows, key="batch1") == written  # the same key: one copy
    assert log.scan().collect()["request_id"].to_list() == ["a", "b"]
    names = [p.rsplit("/", 1)[-1] for p in _under(_fs(options), url, "logs")]
    assert names == [written.rsplit("/", 1)[-1]]  # no temporary file beside it


S3_FLOW = '''\
"""A pipeline whose outputs live on S3."""

import polars as pl

import keel


@keel.step
def numbers(n: int) -> pl.DataFrame:
    return pl.DataFrame({"x": list(range(n))})


@keel.step
def total(data: pl.DataFrame) -> dict[str, int]:
    return {"total": int(data["x"].sum())}


@keel.pipeline
def flow(n: int = 5) -> None:
    total(numbers(n))
'''


@pytest.mark.slow
def test_pipeline_workers_open_the_store_with_its_storage_options(
    s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from keel.pipelines import load_pipeline, run_pipeline

    url, options = s3_bucket
    _project(tmp_path, url, options, monkeypatch)
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_pipeline adds the file's folder
    (tmp_path / "s3flow.py").write_text(S3_FLOW, encoding="utf-8")
    pipeline = load_pipeline(f"{tmp_path / 's3flow.py'}:flow")
    project = open_project(tmp_path)
    result = run_pipeline(pipeline, {"n": 5}, executor="process", workers=2, project=project)
    assert result.value("total") == {"total": 10}
    outputs = [o.digest for r in result.steps for o in r.outputs]
    assert outputs
    assert all(project.artifacts.exists(d) for d in outputs)  # on the server
