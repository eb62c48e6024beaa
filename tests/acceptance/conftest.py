"""What every journey does: a fresh project folder, and the real ``keel`` command run in it
as a user's shell runs it (a subprocess of the virtual environment's ``keel``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


@given("a fresh project folder set up by keel init")
def initialised(shell: Shell) -> None:
    assert not any(shell.cwd.iterdir())
    shell.ok("keel init")


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


@dataclass
class Served:
    """A ``keel serve`` started from a README line, on a free port."""

    process: subprocess.Popen[str]
    port: int
    log: Path


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    """The servers a scenario started, stopped (SIGTERM, then killed) when it ends."""
    started: list[Served] = []
    yield started
    for served in started:
        stop(served)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(shell: Shell, line: str, port: int) -> Served:
    """``line`` (a README ``keel serve`` line, its port already replaced) in the background,
    ready to answer; fails with the server's log when it does not come up."""
    log = shell.cwd.parent / f"serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["/bin/bash", "-c", f"exec {line}"],
            cwd=shell.cwd,
            env=shell.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    served = Served(process, port, log)
    deadline = time.monotonic() + 90
    while not _ready(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(served)
            raise AssertionError(f"`{line}` did not start:\n{log.read_text()}")
        time.sleep(0.2)
    return served


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
    try:
        served.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=30)


def _ready(port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/v2/health/ready"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
