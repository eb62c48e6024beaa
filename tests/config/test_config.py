"""keel.toml and KEEL_* overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import init_project, load_config
from keel.errors import ConfigError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, env={})
    assert config.source is None
    assert config.store_url == f"sqlite:///{tmp_path.resolve() / '.keel' / 'keel.db'}"
    assert config.contract_examples == 5


def test_init_writes_a_file_that_loads_back(tmp_path: Path) -> None:
    path = init_project(tmp_path, name="loans")
    assert (tmp_path / ".keel").is_dir()
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    config = load_config(nested, env={})  # found by walking up from a subfolder
    assert config.root == tmp_path.resolve()
    assert config.source == path
    assert config.project_name == "loans"
    with pytest.raises(ConfigError, match="already exists"):
        init_project(tmp_path)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    init_project(tmp_path)
    env = {"KEEL_STORE_URL": "postgresql+psycopg://u@h/db", "KEEL_CONTRACTS_STRICT": "true"}
    config = load_config(tmp_path, env=env)
    assert config.store_url == "postgresql+psycopg://u@h/db"
    assert config.contract_strict is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[contracts]\nexampels = 3\n", "unknown key 'exampels' in [contracts]"),
        ("[stroe]\nurl = 'x'\n", "unknown section [stroe]"),
        ("[contracts]\nexamples = 'many'\n", "must be int"),
        ("[contracts\n", "not valid TOML"),
    ],
)
def test_bad_files_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "keel.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    assert message in str(caught.value)


def test_bad_environment_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KEEL_CONTRACTS_EXAMPLES must be int"):
        load_config(tmp_path, env={"KEEL_CONTRACTS_EXAMPLES": "lots"})


def test_the_store_is_not_trusted_unless_the_project_says_so(tmp_path: Path) -> None:
    init_project(tmp_path)
    assert load_config(tmp_path, env={}).store_trusted is False
    assert load_config(tmp_path, env={"KEEL_STORE_TRUSTED": "1"}).store_trusted is True
    toml = tmp_path / "keel.toml"
    toml.write_text(toml.read_text().replace("trusted = false", "trusted = true"))
    assert load_config(tmp_path, env={}).store_trusted is True
    toml.write_text(toml.read_text().replace("trusted = true", "trusted = 3"))
    with pytest.raises(ConfigError, match="trusted must be bool"):
        load_config(tmp_path, env={})
