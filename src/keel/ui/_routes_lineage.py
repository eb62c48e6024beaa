"""Routes of the pipeline DAG, lineage and dataset diff pages, and their JSON twins.

Registered before :mod:`keel.ui._routes` so that ``/data/NAME/diff`` is not read as a
version number of ``/data/NAME/V``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from keel.ui import _views_data as data_views
from keel.ui import _views_lineage as views
from keel.ui._routes_context import Context

__all__ = ["router"]

router = APIRouter()
pages = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
api = APIRouter(prefix="/api")

Version = Annotated[int, Query(ge=1, description="A version number of the dataset.")]


def _context(request: Request) -> Context:
    found: Context = request.app.state.keel_ui
    return found


def _html(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(_context(request).pages.render(template, page, **context))


@pages.get("/pipelines/{run_id}")
def dag_page(request: Request, run_id: str) -> HTMLResponse:
    data = views.pipeline_dag(_context(request).project, run_id)
    return _html(request, "pipeline_dag.html", f"pipelines/{data['run']['id']}", data=data)


@pages.get("/lineage/{ref:path}")
def lineage_page(request: Request, ref: str) -> HTMLResponse:
    data = views.lineage(_context(request).project, ref)
    return _html(request, "lineage.html", f"lineage/{ref}", data=data)


@pages.get("/data/{name}/diff")
def diff_page(request: Request, name: str, a: Version, b: Version) -> HTMLResponse:
    data = data_views.dataset_diff(_context(request).project, name, a, b)
    return _html(request, "dataset_diff.html", f"data/{name}/diff-{a}-{b}", data=data)


@api.get("/pipelines/{run_id}", summary="A pipeline run's DAG: steps, their edges, lineage")
def dag_api(request: Request, run_id: str) -> dict[str, Any]:
    return views.pipeline_dag(_context(request).project, run_id)


@api.get(
    "/lineage/{ref:path}",
    summary="Upstream and downstream lineage (keel lineage REF [--downstream] --format json)",
)
def lineage_api(request: Request, ref: str) -> dict[str, Any]:
    return views.lineage(_context(request).project, ref)


@api.get(
    "/datasets/{name}/diff",
    summary="Two versions compared (keel data diff), with each column's drift",
)
def diff_api(request: Request, name: str, a: Version, b: Version) -> dict[str, Any]:
    return data_views.dataset_diff(_context(request).project, name, a, b)


router.include_router(pages)
router.include_router(api)
