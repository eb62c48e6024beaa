"""keel.toml and KEEL_* overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import init_project, load_config
from keel.errors import ConfigError, ConfigFileError


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
        ("[contracts]\nexampels = 3\n", "keel.toml:2: contracts.exampels: unknown key"),
        ("[stroe]\nurl = 'x'\n", "keel.toml:1: stroe: unknown section (did you mean 'store'?)"),
        ("[contracts]\nexamples = 'many'\n", "keel.toml:2: contracts.examples: must be int"),
        ("[pipeline]\ncontracts = 'ful'\n", "'ful' is not allowed (did you mean 'full'?)"),
        ("[contracts\n", "keel.toml:1: invalid TOML"),
    ],
)
def test_bad_files_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "keel.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    assert message in str(caught.value)


def test_every_mistake_in_the_file_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "keel.toml").write_text(
        '[project]\nname = "x"\n\n[store]\ntrusted = 3\n\n[contracts]\nexampels = 3\n'
    )
    with pytest.raises(ConfigFileError) as caught:
        load_config(tmp_path, env={})
    error = caught.value
    assert isinstance(error, ConfigError)  # the CLI exits 2
    assert [(p.line, p.key) for p in error.problems] == [
        (5, "store.trusted"),
        (8, "contracts.exampels"),
    ]
    assert "is not a valid configuration (2 problems)" in error.message
    assert "allowed: examples, strict" in str(error.problems[1])


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
    with pytest.raises(ConfigError, match=r"keel\.toml:12: store\.trusted: must be bool"):
        load_config(tmp_path, env={})
