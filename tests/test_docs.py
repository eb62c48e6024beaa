"""The documentation's examples run as written (fastapi's docs_src idea, inline)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(page: Path, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(page.read_text()) if lang == language]


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p, "python")], ids=lambda p: p.name)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(page, "python")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for code in blocks:
        exec(compile(code, str(page), "exec", dont_inherit=True), namespace)  # our own docs


def test_readme_quickstart_commands_run(tmp_path: Path) -> None:
    keel = [sys.executable, "-m", "keel"]
    sample = ROOT / "examples" / "demo" / "data" / "loans_sample.csv"
    shutil.copytree(sample.parent, tmp_path / "examples" / "demo" / "data")
    commands = [
        line
        for code in _blocks(ROOT / "README.md", "bash")
        for line in code.splitlines()
        if line.startswith("keel ")
    ]
    assert commands, "the README quickstart lost its commands"
    env = {**os.environ, "NO_COLOR": "1"}
    for line in commands:
        done = subprocess.run(
            [*keel, *line.split()[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, f"{line}: {done.stderr}"
