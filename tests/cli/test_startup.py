"""The ``keel`` command loads only what the invoked command needs.

Start-up is most of the time of a quick command (re-registering unchanged data is hashing
from a cache and one query), so a command must not pay for Polars or Alembic it never uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PROBE = (
    "import json, sys\n"
    "from keel.cli import main\n"
    "sys.argv = ['keel', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = ('polars', 'alembic', 'sqlalchemy', 'keel.contracts')\n"
    "print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)\n"
)


def _loaded(cwd: Path, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def test_help_loads_no_library_stack(tmp_path: Path) -> None:
    assert _loaded(tmp_path, "--help") == []


def test_registering_non_tabular_data_loads_neither_polars_nor_alembic(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG not really")
    subprocess.run(
        [sys.executable, "-m", "keel", "init", "."], cwd=tmp_path, check=True, capture_output=True
    )
    args = ("data", "add", "images", "--name", "images")
    assert "alembic" in _loaded(tmp_path, *args)  # a new store is created by migrating it
    (tmp_path / "images" / "b.png").write_bytes(b"\x89PNG another")
    assert _loaded(tmp_path, *args) == ["sqlalchemy"]  # changed: hashes, stores, records
    assert _loaded(tmp_path, *args) == ["sqlalchemy"]  # unchanged: hashes from the cache


def test_tabular_data_is_still_described(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,y\n")
    subprocess.run(
        [sys.executable, "-m", "keel", "init", "."], cwd=tmp_path, check=True, capture_output=True
    )
    done = subprocess.run(
        [sys.executable, "-m", "keel", "data", "add", "t.csv", "--name", "t", "-f", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"rows": 2' in done.stdout
