"""``run_ui``: serve the app under uvicorn until interrupted."""

from __future__ import annotations

import os
from pathlib import Path

from keel.errors import MissingDependencyError
from keel.ui._app import create_app
from keel.ui._auth import check_bind

__all__ = ["TOKEN_VARIABLE", "run_ui"]

TOKEN_VARIABLE = "KEEL_UI_TOKEN"


def run_ui(
    project: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
) -> None:
    """Serve ``keel ui`` (blocks). Beyond loopback a token is required (``KEEL_UI_TOKEN``)."""
    token = token if token is not None else os.environ.get(TOKEN_VARIABLE) or None
    check_bind(host, token)
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("uvicorn", extra="ui", purpose="keel ui") from exc
    app = create_app(project, token=token)
    # no WebSocket route: ws="none" spares importing a WebSocket implementation at start-up
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, ws="none")
