"""[artifacts.storage_options]: fsspec options for the artifact store, checked where written."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import load_config
from keel.errors import ConfigError, ConfigFileError
from keel.store import ArtifactStore

pytest.importorskip("s3fs")

SWIFT = """\
[artifacts]
url = "s3://keel/artifacts"

[artifacts.storage_options]
endpoint_url = "http://127.0.0.1:8391"
key = "test:tester"
secret = "testing"
client_kwargs = { region_name = "us-east-1" }
config_kwargs = { request_checksum_calculation = "when_required", retries = { max_attempts = 2 } }
"""


def _write(root: Path, text: str) -> Path:
    (root / "keel.toml").write_text(text, encoding="utf-8")
    return root


def test_the_table_reaches_the_store_filesystem(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, SWIFT), env={})
    assert config.artifacts_options["endpoint_url"] == "http://127.0.0.1:8391"
    assert config.artifacts_options["config_kwargs"]["retries"] == {"max_attempts": 2}
    store = ArtifactStore(config.artifacts_url, config.artifacts_options)  # opens no connection
    assert store.fs.key == "test:tester"
    assert store.fs.endpoint_url == "http://127.0.0.1:8391"
    assert store.where == "s3://keel/artifacts (endpoint http://127.0.0.1:8391)"


def test_a_misspelled_option_is_reported_with_its_line_and_the_right_name(
    tmp_path: Path,
) -> None:
    text = SWIFT.replace("endpoint_url =", "endpoint_ur =").replace(
        "request_checksum_calculation", "request_checksum_calculaton"
    )
    with pytest.raises(ConfigFileError) as caught:
        load_config(_write(tmp_path, text), env={})
    found = [(p.line, p.key) for p in caught.value.problems]
    assert found == [
        (5, "artifacts.storage_options.endpoint_ur"),
        (9, "artifacts.storage_options.config_kwargs.request_checksum_calculaton"),
    ]
    assert "did you mean 'endpoint_url'" in str(caught.value.problems[0])
    assert "did you mean 'request_checksum_calculation'" in str(caught.value.problems[1])


def test_a_checksum_setting_must_be_one_botocore_knows(tmp_path: Path) -> None:
    text = SWIFT.replace('"when_required"', '"never"')
    with pytest.raises(ConfigFileError, match="when_supported"):
        load_config(_write(tmp_path, text), env={})


def test_options_for_a_local_folder_are_refused(tmp_path: Path) -> None:
    text = SWIFT.replace('url = "s3://keel/artifacts"\n', "")
    with pytest.raises(ConfigFileError, match="storage options apply to fsspec URLs"):
        load_config(_write(tmp_path, text), env={})
    with pytest.raises(ConfigError, match="a local folder"):
        ArtifactStore(tmp_path / "artifacts", {"anon": True})


def test_the_environment_overrides_the_table_with_json(tmp_path: Path) -> None:
    env = {"KEEL_ARTIFACTS_STORAGE_OPTIONS": '{"endpoint_url": "http://other:9000"}'}
    config = load_config(_write(tmp_path, SWIFT), env=env)
    assert config.artifacts_options == {"endpoint_url": "http://other:9000"}
    with pytest.raises(ConfigError, match="KEEL_ARTIFACTS_STORAGE_OPTIONS is not valid JSON"):
        load_config(tmp_path, env={"KEEL_ARTIFACTS_STORAGE_OPTIONS": "{endpoint_url"})


def test_the_url_from_the_environment_decides_what_is_checked(tmp_path: Path) -> None:
    text = SWIFT.replace('url = "s3://keel/artifacts"\n', "")
    config = load_config(_write(tmp_path, text), env={"KEEL_ARTIFACTS_URL": "s3://keel/x"})
    assert config.artifacts_url == "s3://keel/x"
    assert config.artifacts_options["key"] == "test:tester"
