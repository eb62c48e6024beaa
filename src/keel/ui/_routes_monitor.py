"""The monitoring and deployment pages and their JSON twins under ``/api``.

Each route calls one function of :mod:`keel.ui._views_monitor` or
:mod:`keel.ui._views_deploy`; a page renders what its API twin returns. Only GET.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from keel.ui import _views_deploy as deploy_views
from keel.ui import _views_monitor as monitor_views
from keel.ui._routes_context import Context

__all__ = ["router"]

router = APIRouter()

Window = Annotated[
    str | None,
    Query(
        description="Window length (15m, 1h, 6h, 1d, 1w...); default: the shortest of "
        "those that cuts the log into at most 120 windows."
    ),
]
Since = Annotated[str | None, Query(description="From: a date, an ISO time or a span (7d).")]
Until = Annotated[str | None, Query(description="Up to (excluded), the same way.")]
Slice = Annotated[
    str | None, Query(alias="slice", description="Break performance and drift down by COL.")
]


def _context(request: Request) -> Context:
    found: Context = request.app.state.keel_ui
    return found


def _memo(request: Request) -> monitor_views.MonitorMemo:
    """The app's memory of monitoring reports (made on first use)."""
    state = request.app.state
    memo = getattr(state, "keel_ui_monitor", None)
    if memo is None:
        memo = state.keel_ui_monitor = monitor_views.MonitorMemo()
    return memo


def _html(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(_context(request).pages.render(template, page, **context))


def _monitor(
    request: Request,
    name: str,
    *,
    window: str | None,
    since: str | None,
    until: str | None,
    slice_by: str | None,
) -> dict[str, Any]:
    return monitor_views.monitor(
        _context(request).project,
        name,
        window=window or None,
        since=since or None,
        until=until or None,
        slice_by=slice_by or None,
        memo=_memo(request),
    )


# -- pages ------------------------------------------------------------------------------------
@router.get("/monitoring", include_in_schema=False, response_class=HTMLResponse)
def monitoring_page(request: Request) -> HTMLResponse:
    data = monitor_views.monitored(_context(request).project)
    return _html(request, "monitoring.html", "monitoring", data=data)


@router.get("/monitoring/{name}", include_in_schema=False, response_class=HTMLResponse)
def monitor_page(
    request: Request,
    name: str,
    *,
    window: Window = None,
    since: Since = None,
    until: Until = None,
    slice_by: Slice = None,
) -> HTMLResponse:
    data = _monitor(request, name, window=window, since=since, until=until, slice_by=slice_by)
    query = {"since": since or "", "until": until or ""}
    panel = monitor_views.panel_json(data)
    page = f"monitoring/{name}"
    return _html(request, "monitor.html", page, data=data, query=query, panel=panel)


@router.get("/deployments", include_in_schema=False, response_class=HTMLResponse)
def deployments_page(request: Request) -> HTMLResponse:
    data = deploy_views.deployments(_context(request).project)
    return _html(request, "deployments.html", "deployments", data=data)


@router.get("/deployments/{name}", include_in_schema=False, response_class=HTMLResponse)
def deployment_page(request: Request, name: str) -> HTMLResponse:
    data = deploy_views.deployment(_context(request).project, name)
    return _html(request, "deployment.html", f"deployments/{name}", data=data)


# -- the JSON API -----------------------------------------------------------------------------
@router.get("/api/monitoring", summary="Served models with a prediction log")
def monitoring_api(request: Request) -> list[dict[str, Any]]:
    return monitor_views.monitored(_context(request).project)


@router.get(
    "/api/monitoring/{name}",
    summary="A served model window by window (keel monitor report NAME --format json), "
    "with its drift heatmap and distributions",
)
def monitor_api(
    request: Request,
    name: str,
    *,
    window: Window = None,
    since: Since = None,
    until: Until = None,
    slice_by: Slice = None,
) -> dict[str, Any]:
    return _monitor(request, name, window=window, since=since, until=until, slice_by=slice_by)


@router.get("/api/deployments", summary="Deployment specs and where their rollouts stand")
def deployments_api(request: Request) -> list[dict[str, Any]]:
    return deploy_views.deployments(_context(request).project)


@router.get(
    "/api/deployments/{name}",
    summary="A rollout (keel deploy status NAME --format json), its steps and decisions",
)
def deployment_api(request: Request, name: str) -> dict[str, Any]:
    return deploy_views.deployment(_context(request).project, name)
