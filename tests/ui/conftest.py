"""One demo-like project per test session (building it trains models and runs a pipeline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ui._lineage_project import LineageBuilt, build_lineage
from tests.ui._project import Built, build


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("ui-project"))


@pytest.fixture(scope="session")
def lineage_built(tmp_path_factory: pytest.TempPathFactory) -> LineageBuilt:
    return build_lineage(tmp_path_factory.mktemp("ui-lineage"))


def keel_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``keel ARGS`` in the project as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "keel", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def cli_json(root: Path, *args: str, code: int = 0) -> Any:
    """The JSON a ``keel ... --format json`` command prints (its exit code checked), run in
    this process (the same command line a user types, without a second interpreter's start)."""
    from typer.testing import CliRunner

    from keel.cli import app

    here = Path.cwd()
    os.chdir(root)
    try:
        done = CliRunner().invoke(app, [*args, "--format", "json"])
    finally:
        os.chdir(here)
    assert done.exit_code == code, done.output
    return json.loads(done.stdout)
