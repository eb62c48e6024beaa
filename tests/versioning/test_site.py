"""The index of installed distributions: equal to a fresh scan, and rebuilt after installs."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from keel.versioning import _site


def test_the_index_matches_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _site.site_index.cache_clear()
    index = _site.site_index()
    assert index.versions["polars"] == metadata.version("polars")
    assert "polars" in index.modules["polars"]
    assert index.modules["yaml"] == ["PyYAML"]
    (cached,) = (tmp_path / "keel").glob("site-*.json")
    assert json.loads(cached.read_text())["versions"] == index.versions
    _site.site_index.cache_clear()
    assert _site.site_index() == index  # read back from the file


def test_installing_into_a_path_folder_gives_a_fresh_index(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    probe = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "from keel.versioning import site_index;"
        "print(json.dumps(site_index().versions.get('tinypkg')))"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}

    def installed() -> str | None:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(site)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        found: str | None = json.loads(done.stdout)
        return found

    assert installed() is None
    info = site / "tinypkg-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.2.3\n")
    (info / "RECORD").write_text("tinypkg/__init__.py,,\n")
    assert installed() == "1.2.3"  # the folder changed: not the stale cached answer
