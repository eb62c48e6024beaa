"""A closed-loop HTTP/1.1 load generator: fixed concurrency, keep-alive, one process.

``CONCURRENCY`` connections each send a request, wait for the whole response, and send the
next one at once (closed loop: the offered load adapts to the server, as with wrk or hey).
The requests cycle through the JSON bodies of ``--bodies`` (one per line, pre-encoded, so
nothing is serialized on the hot path). Responses are parsed just enough to be correct:
the status line, then ``Content-Length`` (or a chunked body's final ``0`` chunk).

A warm-up (``--warmup`` seconds) is run and thrown away, then the timed window
(``--duration``): requests/s counts the responses completed in the window; the latencies are
theirs (from writing the request to receiving the response's last byte). Any status other
than 2xx, and any connection the server closed, counts as an error. One JSON line is printed
on stdout:

    {"requests": ..., "seconds": ..., "rps": ..., "p50_ms": ..., "p90_ms": ..., "p99_ms": ...,
     "max_ms": ..., "mean_ms": ..., "errors": ..., "statuses": {"200": ...},
     "cpu_seconds": ..., "cpu_share": ..., "loop": "uvloop"}

``cpu_share`` is the generator's own CPU time over the window's wall time: well under 1.0
means it was not what limited the result. It runs on uvloop when installed (it is, in
Keel's .venv, through ``uvicorn[standard]``), else on asyncio's default loop. ``--cpu N``
pins it to one CPU.

    .venv/bin/python benchmarks/serve/loadgen.py http://127.0.0.1:8080/predict \\
        --bodies rows.jsonl --concurrency 16 --warmup 3 --duration 10 --cpu 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

TICK = os.sysconf("SC_CLK_TCK")


class Stats:
    """What the connections share: the window's bounds and what completed in it."""

    def __init__(self, start: float, stop: float) -> None:
        self.start = start  # window opens (end of the warm-up)
        self.stop = stop  # window closes
        self.latencies = array("d")
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.closed = 0  # connections the server closed


class Connection(asyncio.Protocol):
    """One keep-alive connection that sends the next request as soon as a response ends."""

    def __init__(
        self, requests: list[bytes], offset: int, stats: Stats, done: asyncio.Future[None]
    ):
        self.requests = requests
        self.index = offset
        self.stats = stats
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sent = 0.0
        self.header_end = -1
        self.length = -1  # body length from Content-Length; -2 for a chunked body
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.send()

    def send(self) -> None:
        request = self.requests[self.index % len(self.requests)]
        self.index += 1
        self.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.header_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.header_end = end + 4
            self.parse_head(bytes(buffer[:end]))
        if self.length >= 0:
            if len(buffer) < self.header_end + self.length:
                return
        elif not buffer.endswith(b"0\r\n\r\n"):  # chunked: wait for the last chunk
            return
        self.complete()

    def parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        self.length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                self.length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                self.length = -2

    def complete(self) -> None:
        now = time.perf_counter()
        stats = self.stats
        if stats.start <= now <= stats.stop:
            stats.latencies.append(now - self.sent)
            stats.statuses[self.status] += 1
            if not 200 <= self.status < 300:
                stats.errors += 1
        self.buffer.clear()
        self.header_end = -1
        self.length = -1
        if now < stats.stop:
            self.send()
        elif not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        now = time.perf_counter()
        if now < self.stats.stop:
            self.stats.closed += 1
            if now >= self.stats.start:
                self.stats.errors += 1
        if not self.done.done():
            self.done.set_result(None)


def build_requests(url: str, bodies: list[bytes]) -> tuple[str, int, list[bytes]]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
    ).encode()
    requests = [head + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]
    return host, port, requests


async def run(  # noqa: PLR0917 (one call site, in order)
    url: str,
    bodies: list[bytes],
    concurrency: int,
    warmup: float,
    duration: float,
    watch: int | None = None,
) -> dict[str, object]:
    host, port, requests = build_requests(url, bodies)
    loop = asyncio.get_running_loop()
    begin = time.perf_counter()
    stats = Stats(begin + warmup, begin + warmup + duration)
    finished: list[asyncio.Future[None]] = []
    step = max(1, len(requests) // concurrency)
    for i in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        finished.append(done)
        await loop.create_connection(
            lambda i=i, done=done: Connection(requests, i * step, stats, done), host, port
        )
    await asyncio.sleep(max(0.0, stats.start - time.perf_counter()))
    before = cpu_seconds(), machine_busy(), tree_cpu(watch)
    await asyncio.sleep(max(0.0, stats.stop - time.perf_counter()))
    after = cpu_seconds(), machine_busy(), tree_cpu(watch)
    own, machine, server = (b - a for a, b in zip(before, after, strict=True))
    # the connections still waiting for a response when the window closed are not counted
    await asyncio.wait(finished, timeout=5.0)
    result = summary(stats, duration, own)
    result["server_cpu_share"] = server / duration if watch else None
    # what the rest of the machine used meanwhile, in CPUs (0.0 on a quiet machine)
    result["others_cpu"] = max(0.0, (machine - own - server) / duration)
    return result


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` and its descendants (their threads too)."""
    if pid is None:
        return 0.0
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(times.get(p, 0.0) for p in tree)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values, in milliseconds."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank] * 1000


def summary(stats: Stats, duration: float, cpu: float) -> dict[str, object]:
    ordered = sorted(stats.latencies)
    count = len(ordered)
    return {
        "requests": count,
        "seconds": duration,
        "rps": count / duration,
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
        "mean_ms": sum(ordered) / count * 1000 if count else float("nan"),
        "errors": stats.errors,
        "closed": stats.closed,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "cpu_seconds": cpu,
        "cpu_share": cpu / duration,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="http://HOST:PORT/PATH (POST, JSON)")
    parser.add_argument("--bodies", type=Path, required=True, help="JSON bodies, one per line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument(
        "--watch", type=int, default=None, help="server PID: report its CPU share (with children)"
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line.strip()]
    work = run(args.url, bodies, args.concurrency, args.warmup, args.duration, args.watch)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(work)
        result["loop"] = "asyncio"
    else:
        result = uvloop.run(work)
        result["loop"] = "uvloop"
    result["concurrency"] = args.concurrency
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
