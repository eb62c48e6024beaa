"""The feature pages and their JSON twins: ``/features`` and ``/features/VIEW``, and
``/api/features``, ``/api/features/VIEW`` (listed in /openapi.json). Only GET.

Each route calls one function of :mod:`keel.ui._views_features`; a page renders what its
API twin returns.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from keel.ui import _views_features as views
from keel.ui._routes_context import Context

__all__ = ["router"]

router = APIRouter()
pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api = APIRouter(prefix="/api")


def _context(request: Request) -> Context:
    found: Context = request.app.state.keel_ui
    return found


@pages.get("/features")
def features_page(request: Request) -> HTMLResponse:
    context = _context(request)
    data = views.features(context.project)
    return HTMLResponse(context.pages.render("features.html", "features", data=data))


@pages.get("/features/{view}")
def feature_view_page(request: Request, view: str) -> HTMLResponse:
    context = _context(request)
    data = views.feature_view(context.project, view)
    page = context.pages.render("feature_view.html", f"features/{view}", data=data)
    return HTMLResponse(page)


@api.get(
    "/features",
    summary="Feature definitions (keel features list), online freshness, training sets",
)
def features_api(request: Request) -> dict[str, Any]:
    return views.features(_context(request).project)


@api.get(
    "/features/{view}",
    summary="One feature view (keel features show VIEW), its freshness and training sets",
)
def feature_view_api(request: Request, view: str) -> dict[str, Any]:
    return views.feature_view(_context(request).project, view)


router.include_router(pages)
router.include_router(api)
