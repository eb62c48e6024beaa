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

__all__ = ["JsonFormatter", "app_from_environment", "configure_logging", "serve"]

_OPTIONS = "KEEL_SERVE_OPTIONS"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "keel", None)
        if isinstance(fields, dict):
            data["event"] = "request"
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(log_format: str, *, stream: Any = None) -> None:
    """Send ``keel.serve`` records (access log included) to stderr in ``log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = __import__("time").gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
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
) -> None:
    """Serve model ``name`` over HTTP until SIGTERM or SIGINT (blocks)."""
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
    }
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
    }
    if workers > 1:
        os.environ[_OPTIONS] = json.dumps(options)
        uvicorn.run(
            "keel.serve._server:app_from_environment", factory=True, workers=workers, **config
        )
        return
    app = _build(options)
    gc.freeze()  # the loaded model and libraries: never scanned again by the collector
    logging.getLogger("keel.serve").info(
        "serving %s version %s on http://%s:%d", name, app.state.keel.champion.version, host, port
    )
    uvicorn.run(app, **config)


def app_from_environment() -> Any:
    """The app a uvicorn worker process builds (``serve(..., workers=N)``)."""
    options = json.loads(os.environ[_OPTIONS])
    from keel.tracking import open_project

    configure_logging(open_project(_path(options["root"])).config.log_format)
    app = _build(options)
    gc.freeze()
    return app


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
