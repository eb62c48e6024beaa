"""The app's routes: each page, and its JSON twin under ``/api`` (listed in /openapi.json).

Each route calls one function of :mod:`keel.ui._views`; a page renders what its API twin
returns. Only GET: the app writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from keel.ui import _views as views
from keel.ui._routes_context import Context

__all__ = ["api", "pages"]

pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api = APIRouter(prefix="/api")

Ids = Annotated[list[str], Query(description="Run ids (or unique prefixes), 2 to 50.")]


def _context(request: Request) -> Context:
    found: Context = request.app.state.keel_ui
    return found


def _html(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(_context(request).pages.render(template, page, **context))


# -- pages ----------------------------------------------------------------------------------
def _cache(request: Request) -> Any:
    """The app's monitoring cache (shared with the monitoring pages): an unchanged latest
    window is not profiled again on the next overview."""
    from keel.ui._routes_monitor import _memo

    return _memo(request).cache


@pages.get("/")
def overview_page(request: Request) -> HTMLResponse:
    data = views.overview(_context(request).project, cache=_cache(request))
    return _html(request, "overview.html", "", data=data)


@pages.get("/how")
def how_page(request: Request) -> HTMLResponse:
    project = _context(request).project
    root = str(project.config.root)
    return _html(request, "how.html", "how", store=project.metadata.url, root=root)


@pages.get("/runs")
def runs_page(
    request: Request,
    where: str = "",
    order_by: str = "started",
    desc: bool = True,
    page: int = 1,
    columns: str = "",
) -> HTMLResponse:
    offset = (max(page, 1) - 1) * views.PAGE_SIZE
    project = _context(request).project
    data = views.runs(project, where=where, order_by=order_by, descending=desc, offset=offset)
    shown = views.columns(data, every=columns == "all")
    return _html(
        request,
        "runs.html",
        "runs",
        data=data,
        pages=views.pagination(data),
        shown=shown,
        every=columns == "all",
    )


@pages.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> HTMLResponse:
    data = views.run(_context(request).project, run_id)
    return _html(request, "run.html", f"runs/{run_id}", data=data)


@pages.get("/compare")
def compare_page(request: Request, ids: Ids = []) -> HTMLResponse:  # noqa: B006  # FastAPI copies it
    data = views.compare(_context(request).project, ids)
    return _html(request, "compare.html", "compare", data=data)


@pages.get("/pipelines")
def pipelines_page(request: Request) -> HTMLResponse:
    data = views.pipelines(_context(request).project)
    return _html(request, "pipelines.html", "pipelines", data=data)


@pages.get("/models")
def models_page(request: Request) -> HTMLResponse:
    return _html(request, "models.html", "models", data=views.models(_context(request).project))


@pages.get("/models/{name}")
def model_page(request: Request, name: str) -> HTMLResponse:
    data = views.model(_context(request).project, name)
    return _html(request, "model.html", f"models/{name}", data=data)


@pages.get("/models/{name}/{version}")
def version_page(request: Request, name: str, version: int) -> HTMLResponse:
    data = views.model_version(_context(request).project, name, version)
    return _html(request, "model_version.html", f"models/{name}/{version}", data=data)


@pages.get("/data")
def datasets_page(request: Request) -> HTMLResponse:
    data = views.datasets(_context(request).project)
    return _html(request, "datasets.html", "data", data=data)


@pages.get("/data/{name}")
def dataset_page(request: Request, name: str) -> HTMLResponse:
    data = views.dataset(_context(request).project, name)
    return _html(request, "dataset.html", f"data/{name}", data=data)


@pages.get("/data/{name}/{version}")
def dataset_version_page(request: Request, name: str, version: int) -> HTMLResponse:
    data = views.dataset_version(_context(request).project, name, version)
    return _html(request, "dataset_version.html", f"data/{name}/{version}", data=data)


# -- the JSON API -----------------------------------------------------------------------------
@api.get("/kpis", summary="Every KPI and the worst status (keel kpis --format json)")
def kpis_api(request: Request) -> dict[str, Any]:
    return views.kpis(_context(request).project, cache=_cache(request))


@api.get("/overview", summary="The overview page: KPIs, champions, newest data and runs")
def overview_api(request: Request) -> dict[str, Any]:
    return views.overview(_context(request).project, cache=_cache(request))


@api.get("/runs", summary="A page of runs, filtered and ordered in SQL (keel runs list items)")
def runs_api(
    request: Request,
    where: str = "",
    order_by: str = "started",
    desc: bool = True,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = views.PAGE_SIZE,
) -> dict[str, Any]:
    project = _context(request).project
    return views.runs(
        project, where=where, order_by=order_by, descending=desc, offset=offset, limit=limit
    )


@api.get("/runs/{run_id}", summary="One run (keel runs show --format json), steps, lineage")
def run_api(request: Request, run_id: str) -> dict[str, Any]:
    return views.run(_context(request).project, run_id)


@api.get("/compare", summary="Runs side by side (keel runs compare --format json), curves")
def compare_api(request: Request, ids: Ids = []) -> dict[str, Any]:  # noqa: B006  # FastAPI copies it
    return views.compare(_context(request).project, ids)


@api.get("/pipelines", summary="The newest pipeline runs: steps, cache hits, time")
def pipelines_api(request: Request) -> list[dict[str, Any]]:
    return views.pipelines(_context(request).project)


@api.get("/models", summary="Registered models (keel models list --format json)")
def models_api(request: Request) -> list[dict[str, Any]]:
    return views.models(_context(request).project)


@api.get("/models/{name}", summary="A model's versions, aliases, history, metrics by version")
def model_api(request: Request, name: str) -> dict[str, Any]:
    return views.model(_context(request).project, name)


@api.get("/models/{name}/{version}", summary="One version (keel models show NAME/V)")
def version_api(request: Request, name: str, version: int) -> dict[str, Any]:
    return views.model_version(_context(request).project, name, version)


@api.get("/datasets", summary="Datasets with their newest version")
def datasets_api(request: Request) -> list[dict[str, Any]]:
    return views.datasets(_context(request).project)


@api.get("/datasets/{name}", summary="Every version of a dataset (keel data list NAME)")
def dataset_api(request: Request, name: str) -> dict[str, Any]:
    return views.dataset(_context(request).project, name)


@api.get("/datasets/{name}/{version}", summary="One version (keel data show NAME/V)")
def dataset_version_api(request: Request, name: str, version: int) -> dict[str, Any]:
    return views.dataset_version(_context(request).project, name, version)
