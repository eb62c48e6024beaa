"""Git repositories built in tmp_path, isolated from the user's git configuration."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Git = Callable[..., str]


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


def run_git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=Keel Tests", "-c", "user.email=tests@keel.invalid")
    options = ("-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false")
    done = subprocess.run(
        ["git", *identity, *options, *args], cwd=repo, capture_output=True, check=True, timeout=30
    )
    return done.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit on ``main``: a module, a config and a .gitignore."""
    root = tmp_path / "project"
    root.mkdir()
    run_git(root, "init", "-q")
    (root / "train.py").write_text("print('train')\n")
    (root / "params.yaml").write_text("lr: 0.1\n")
    (root / ".gitignore").write_text("data/\n*.log\n")
    run_git(root, "add", ".")
    run_git(root, "commit", "-q", "-m", "first")
    return root
