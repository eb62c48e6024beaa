"""A real ``keel serve`` process for the tests that need one (signals, sockets, memory)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/v2/health/ready", timeout=5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def keel_serve(root: Path, *args: str, name: str = "churn") -> Iterator[Server]:
    """``keel serve NAME ARGS`` in ``root``, ready; stopped (SIGTERM) when the block ends
    unless the test already ended it."""
    port = free_port()
    env = {**os.environ, "NO_COLOR": "1"}
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115  # closed below; a file, not a pipe,
    # which the access log would fill
    process = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", name, "--port", str(port), *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    server = Server(process, port)
    try:
        deadline = time.monotonic() + 90
        while not server.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=30)
                log.seek(0)
                raise AssertionError(f"keel serve did not start:\n{log.read()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
