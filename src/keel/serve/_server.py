"""``serve``: run the app under uvicorn, with access logs in the project's log format.

uvicorn answers SIGTERM and SIGINT gracefully: it stops accepting connections, lets
in-flight requests finish, then runs the app's shutdown, which flushes the prediction
log. With ``workers`` above 1 uvicorn starts that many processes, each building its own
app from the options passed through the environment (:func:`app_from_environment`).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from typing import Any

from keel.errors import MissingDependencyError
from keel.serve._accesslog import BatchedStreamHandler, JsonFormatter, TextFormatter

__all__ = ["JsonFormatter", "app_from_environment", "configure_logging", "serve"]

_OPTIONS = "KEEL_SERVE_OPTIONS"
_GC_YOUNGEST = 10_000  # new objects between collections of the youngest generation


def configure_logging(log_format: str, *, stream: Any = None) -> None:
    """Send ``keel.serve`` records (access log included) to stderr in ``log_format``; the
    access log's lines are written in batches (:mod:`keel.serve._accesslog`)."""
    handler = BatchedStreamHandler(stream or sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger("keel.serve")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def serve(
    name: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    *,
    batching: bool = True,
    log_flush_interval: float | None = None,
    max_body_bytes: int | None = None,
    request_timeout: float | None = None,
    access_log: bool = True,
    project_root: str | None = None,
    max_header_bytes: int | None = None,
    header_timeout: float | None = None,
    max_connections: int | None = None,
) -> None:
    """Serve model ``name`` over HTTP until SIGTERM or SIGINT (blocks).

    ``max_header_bytes`` (64 KiB), ``header_timeout`` (10 s) and ``max_connections``
    (1,000) bound what a client can hold of the server (:mod:`keel.serve._protocol`).
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("uvicorn", extra="serve", purpose="keel serve") from exc
    from keel.tracking import open_project

    root = os.path.abspath(project_root) if project_root else os.getcwd()
    project = open_project(_path(root))
    options = {
        "name": name,
        "root": root,
        "batching": batching,
        "log_flush_interval": log_flush_interval,
        "max_body_bytes": max_body_bytes,
        "request_timeout": request_timeout,
        "max_header_bytes": max_header_bytes,
        "header_timeout": header_timeout,
        "max_connections": max_connections,
    }
    limits = _connection_limits(options)
    configure_logging(project.config.log_format if access_log else "text")
    if not access_log:
        logging.getLogger("keel.serve.access").setLevel(logging.WARNING)
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "lifespan": "on",
        **limits,
    }
    if workers > 1:
        _check_spec(name, project)  # the workers build the app: refuse here what they would
        os.environ[_OPTIONS] = json.dumps(options)
        uvicorn.run(
            "keel.serve._server:app_from_environment", factory=True, workers=workers, **config
        )
        return
    app = _build(options)
    _settle_memory()
    logging.getLogger("keel.serve").info(
        "serving %s version %s on http://%s:%d", name, app.state.keel.champion.version, host, port
    )
    uvicorn.run(app, **config)


def app_from_environment() -> Any:
    """The app a uvicorn worker process builds (``serve(..., workers=N)``)."""
    options = json.loads(os.environ[_OPTIONS])
    from keel.tracking import open_project

    configure_logging(open_project(_path(options["root"])).config.log_format)
    _connection_limits(options)  # serve() set them in its own process; this is a worker
    app = _build(options)
    _settle_memory()
    return app


def _check_spec(name: str, project: Any) -> None:
    """Refuse, before any worker starts, a spec the app would refuse at start."""
    from keel.deploy import load_spec
    from keel.serve._app import pinned_version
    from keel.serve._feedback import require_token

    if pinned_version() is None:  # a pinned version serves no rollout
        require_token(load_spec(name, root=project.config.root))


def _settle_memory() -> None:
    """Tune the garbage collector for serving, once the app is built.

    The loaded model and libraries are frozen: never scanned again. The youngest generation
    is collected every 10,000 new objects rather than 700: under load the requests'
    objects (and the prediction log rows buffered between flushes) otherwise set off a
    collection every few requests and a full one every few thousand, which cost a fifth
    of the server's time and most of its p99 latency at 10,000 requests/s.
    """
    gc.freeze()
    gc.set_threshold(_GC_YOUNGEST, *gc.get_threshold()[1:])


def _connection_limits(options: dict[str, Any]) -> dict[str, Any]:
    """The header and connection limits of ``options``, in force in this process from now
    on; returns the uvicorn settings that enforce them."""
    from keel.serve._protocol import HeaderLimits, configure, uvicorn_limits

    given = {
        key: options[key]
        for key in ("max_header_bytes", "header_timeout", "max_connections")
        if options.get(key) is not None
    }
    limits = HeaderLimits(**given)
    configure(limits)
    return uvicorn_limits(limits)


def _build(options: dict[str, Any]) -> Any:
    from keel.serve._app import DEFAULT_BODY_LIMIT, DEFAULT_TIMEOUT, create_app
    from keel.tracking import open_project

    project = open_project(_path(options["root"]))
    limit = options.get("max_body_bytes")
    timeout = options.get("request_timeout")
    return create_app(
        options["name"],
        project=project,
        batching=bool(options.get("batching", True)),
        log_flush_interval=options.get("log_flush_interval"),
        max_body_bytes=DEFAULT_BODY_LIMIT if limit is None else int(limit),
        request_timeout=DEFAULT_TIMEOUT if timeout is None else float(timeout),
    )


def _path(root: str) -> Any:
    from pathlib import Path

    return Path(root)
