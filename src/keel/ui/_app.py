"""The web app: HTML pages and the JSON API under ``/api`` that backs them, read-only.

Every page calls one function of :mod:`keel.ui._views`; its ``/api/...`` twin returns that
function's data as JSON. Both are listed in ``/openapi.json``. Nothing here writes to a
store: the app is safe to leave running beside training jobs and servers.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel._version import __version__
from keel.errors import KeelError, MissingDependencyError
from keel.ui import _views as views
from keel.ui._auth import TokenGate
from keel.ui._pages import Pages
from keel.ui._routes_context import Context

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from keel.tracking import Project

__all__ = ["create_app"]

# the page answers no request outside the app: scripts, styles and data come from /static
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def create_app(project: Project | Path | str | None = None, *, token: str | None = None) -> ASGIApp:
    """The ``keel ui`` ASGI app over ``project`` (a :class:`keel.tracking.Project`, a folder
    in one, or the working folder). With ``token``, every request must carry it."""
    try:
        from fastapi import FastAPI, Request
        from fastapi.staticfiles import StaticFiles

        from keel.ui import _routes as routes
        from keel.ui import _routes_features as routes_features
        from keel.ui import _routes_lineage as routes_lineage
        from keel.ui import _routes_monitor as routes_monitor
    except ImportError as exc:
        raise MissingDependencyError("fastapi", extra="ui", purpose="keel ui") from exc
    from keel.tracking import Project, open_project

    opened = project if isinstance(project, Project) else open_project(_folder(project))
    pages = Pages(project=opened.config.project_name)
    app = FastAPI(
        title="Keel UI",
        version=__version__,
        description="Read-only views of a Keel project: KPIs, runs, models, datasets.",
        docs_url=None,
        redoc_url=None,
    )
    static = files("keel.ui").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    app.state.keel_ui = Context(opened, pages)
    app.add_exception_handler(KeelError, _keel_error)
    app.include_router(routes_lineage.router)  # before /data/NAME/V: /data/NAME/diff
    app.include_router(routes.pages)
    app.include_router(routes.api)
    app.include_router(routes_features.router)
    app.include_router(routes_monitor.router)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app if token is None else TokenGate(app, token)


async def _keel_error(request: Any, error: Exception) -> Any:
    """A Keel error as JSON under ``/api`` and as a page elsewhere: 404 for what is not
    in the store, 400 for a request that cannot be answered (a filter that does not parse)."""
    from fastapi.responses import HTMLResponse, JSONResponse

    assert isinstance(error, KeelError)
    status = 404 if isinstance(error, views.NotFoundError) else 400
    body = {"error": error.message, "hint": error.hint}
    if request.url.path.startswith("/api/"):
        return JSONResponse(body, status_code=status)
    context: Context = request.app.state.keel_ui
    page = context.pages.render("error.html", request.url.path.strip("/"), **body)
    return HTMLResponse(page, status_code=status)


def _folder(project: Path | str | None) -> Path | None:
    return None if project is None else Path(project)
