"""What a client can hold of a running ``keel serve``: header size (431), the time to send
headers (408, then closed) and the number of connections (503); normal requests go on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.errors import UsageError
from keel.serve import serve
from keel.serve._protocol import LimitedHttpProtocol, _tail

from ._process import Server, keel_serve
from ._serving import make_project

READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: keel\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("limits")
    make_project(root)
    with keel_serve(root, "--header-timeout", "1", "--max-connections", "5") as running:
        yield running


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _answer(sock: socket.socket) -> bytes:
    """One whole response (its head, then content-length bytes), or what came before EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        if not got:
            return data
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(fields.get(b"content-length", b"0"))
    while len(body) < length:
        got = sock.recv(65536)
        if not got:
            break
        body += got
    return head + b"\r\n\r\n" + body


def _ask(sock: socket.socket, request: bytes = READY) -> int:
    sock.sendall(request)
    return _status(_answer(sock))


def _still_answers(server: Server) -> None:
    with _connect(server) as sock:
        assert _ask(sock) == 200


def _send_quietly(sock: socket.socket, head: bytes, size: int) -> None:
    """Send ``head`` then ``size`` bytes of one header value, until the server hangs up."""
    chunk = b"a" * 65536
    try:
        sock.sendall(head)
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)
    except OSError:
        pass


@pytest.mark.slow
def test_a_huge_header_block_gets_431_and_the_server_does_not_grow(server: Server) -> None:
    before = server.rss_kib()
    statuses = []
    for _ in range(3):
        with _connect(server) as sock:
            head = b"GET /v2/health/ready HTTP/1.1\r\nHost: keel\r\nX-Big: "
            sender = threading.Thread(target=_send_quietly, args=(sock, head, 12 << 20))
            sender.start()  # the answer is read while the header is still being sent
            statuses.append(_status(_answer(sock)))
            sender.join()
    assert statuses == [431, 431, 431]
    assert server.rss_kib() - before < 12 * 1024  # 36 MB of headers sent
    _still_answers(server)


@pytest.mark.slow
def test_a_header_block_that_arrives_at_once_is_measured_too(server: Server) -> None:
    with _connect(server) as sock:
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(100))  # 100 KB
        assert (
            _ask(sock, b"GET /v2/health/ready HTTP/1.1\r\nHost: keel\r\n" + many + b"\r\n") == 431
        )
    with _connect(server) as sock:
        fine = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(30))  # 30 KB
        assert (
            _ask(sock, b"GET /v2/health/ready HTTP/1.1\r\nHost: keel\r\n" + fine + b"\r\n") == 200
        )


@pytest.mark.slow
def test_a_connection_sending_its_headers_a_byte_at_a_time_is_closed(server: Server) -> None:
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"GET /v2/health/ready HTTP/1.1\r\n")
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"X")
                got = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not got:  # closed
                break
            answer += got
            _still_answers(server)  # others are served meanwhile
        closed_after = time.monotonic() - started
    assert _status(answer) == 408
    assert closed_after < 5  # the header timeout is 1 s, swept every 0.25 s, then 1 s linger
    _still_answers(server)


@pytest.mark.slow
def test_connections_past_the_limit_get_503(server: Server) -> None:
    time.sleep(1.5)  # connections rejected by the other tests are gone
    held = [_connect(server) for _ in range(5)]
    try:
        assert [_ask(sock) for sock in held] == [200] * 5  # kept open after their answer
        with _connect(server) as extra:
            assert _status(_answer(extra)) == 503  # at once, before any request
            assert extra.recv(65536) == b""  # and closed
        assert [_ask(sock) for sock in held] == [200] * 5  # the open ones go on
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while True:  # the server sees the closes, and takes new connections again
        with _connect(server) as sock:
            if _ask(sock) == 200:
                break
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_bytes_of_a_read_that_can_belong_to_headers_begun_in_it() -> None:
    assert _tail(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT") == len(b"GET / HT")
    assert _tail(b"body of the last request") == len(b"body of the last request")
    assert LimitedHttpProtocol.limits.max_header_bytes == 64 * 1024


def test_limits_that_would_refuse_every_request_are_refused(tmp_path: Path) -> None:
    make_project(tmp_path)
    with pytest.raises(UsageError, match=r"max_header_bytes=10 \(expected >= 1024\)"):
        serve("churn", project_root=str(tmp_path), max_header_bytes=10)
