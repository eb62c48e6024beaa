"""Keel's static promises, proven by running mypy on small files.

``pass_*.py`` must type-check cleanly; in ``fail_*.py`` every line marked ``# E: message``
must produce exactly that error (and no other line may produce one).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

HERE = Path(__file__).parent
MARK = re.compile(r"#\s*E:\s*(.+)$")


def _mypy(path: Path) -> list[tuple[int, str]]:
    stdout, _, _ = api.run(
        [
            str(path),
            "--strict",
            "--no-incremental",
            "--hide-error-context",
            "--no-error-summary",
            "--show-absolute-path",
        ]
    )
    errors = []
    for line in stdout.splitlines():
        match = re.match(r".*?:(\d+): error: (.*?)(?:\s+\[[\w-]+\])?$", line)
        if match:
            errors.append((int(match.group(1)), match.group(2)))
    return errors


def _expected(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, m.group(1).strip()) for n, line in enumerate(lines, 1) if (m := MARK.search(line))]


@pytest.mark.slow
def test_static_promises_hold() -> None:
    files = sorted(HERE.glob("pass_*.py")) + sorted(HERE.glob("fail_*.py"))
    for path in files:
        got = _mypy(path)
        assert got == _expected(path), f"{path.name}: mypy said {got}"
