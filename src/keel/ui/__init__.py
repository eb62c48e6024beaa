"""``keel ui``: the local web app over a project's stores (read-only), its JSON API, the
static export, and the quality KPIs that ``keel kpis`` and the overview page share.

Needs the ``ui`` extra (``pip install 'mlkeel[ui]'``): FastAPI, uvicorn and Jinja2.
"""

from keel.ui._app import create_app as create_app
from keel.ui._auth import check_bind as check_bind
from keel.ui._export import export_site as export_site
from keel.ui._kpis import Health as Health
from keel.ui._kpis import Kpi as Kpi
from keel.ui._kpis import KpiStatus as KpiStatus
from keel.ui._kpis import assess as assess
from keel.ui._kpis import evaluate_kpis as evaluate_kpis
from keel.ui._server import run_ui as run_ui
from keel.ui._views import kpis as kpi_report

__all__ = [
    "Health",
    "Kpi",
    "KpiStatus",
    "assess",
    "check_bind",
    "create_app",
    "evaluate_kpis",
    "export_site",
    "kpi_report",
    "run_ui",
]
