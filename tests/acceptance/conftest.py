"""What every journey does: a fresh project folder, and the real ``keel`` command run in it
as a user's shell runs it (a subprocess of the virtual environment's ``keel``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then

import keel

SRC = Path(keel.__file__).resolve().parents[1]  # this checkout's code, not another install
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Shell:
    """Runs command lines in ``cwd`` with the environment's ``keel`` first on PATH, and
    remembers every result (the scenario's transcript, printed when a step fails)."""

    cwd: Path
    results: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
        return {
            **os.environ,
            "PATH": path,
            "PYTHONPATH": pythonpath,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }

    def run(self, line: str, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["/bin/bash", "-c", line],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.results.append(done)
        return done

    def ok(self, line: str) -> subprocess.CompletedProcess[str]:
        done = self.run(line)
        assert done.returncode == 0, self.transcript()
        return done

    def json(self, line: str, code: int = 0) -> Any:
        done = self.run(line)
        assert done.returncode == code, self.transcript()
        return json.loads(done.stdout)

    @property
    def last(self) -> subprocess.CompletedProcess[str]:
        return self.results[-1]

    def transcript(self) -> str:
        return "\n".join(
            f"$ {r.args[-1]}\n[exit {r.returncode}]\n{r.stdout}{r.stderr}" for r in self.results
        )


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    project = tmp_path / "project"
    project.mkdir()
    return Shell(project)


@given("a fresh project folder")
def fresh_project(shell: Shell) -> None:
    assert not any(shell.cwd.iterdir())


@then("every command succeeded")
def every_command_succeeded(shell: Shell) -> None:
    assert shell.results, "no command ran"
    assert all(r.returncode == 0 for r in shell.results), shell.transcript()


@then(parsers.parse("the last command exits with {code:d}"))
def last_exit(shell: Shell, code: int) -> None:
    assert shell.last.returncode == code, shell.transcript()


@then(parsers.parse('its output says "{text}"'))
def output_says(shell: Shell, text: str) -> None:
    assert text in shell.last.stdout + shell.last.stderr, shell.transcript()
