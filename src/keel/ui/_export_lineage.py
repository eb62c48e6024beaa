"""The export's share of the lineage pages: each pipeline run's DAG, the lineage of each
pipeline run, training run and dataset version, and the diff of each dataset version with
the one before (linked from the dataset's page as ``data/NAME/diff-A-B.html``)."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

from keel.ui import _views as views
from keel.ui import _views_data as data_views
from keel.ui import _views_lineage as lineage_views

if TYPE_CHECKING:
    from collections.abc import Callable

    from keel.tracking import Project

__all__ = ["export_lineage"]


def export_lineage(project: Project, write: Callable[..., Any]) -> None:
    """Write the pages with ``write(page, template, **context)`` (as :func:`export_site`)."""
    runs: dict[str, bool] = {}  # the runs whose lineage a page links to: pipeline and training runs
    for item in views.pipelines(project):
        data = lineage_views.pipeline_dag(project, item["run_id"])
        write(f"pipelines/{item['run_id']}", "pipeline_dag.html", data=data)
        runs[item["run_id"]] = True
    for model in project.metadata.models.models():
        for version in project.metadata.models.versions(model.name):
            if version.run_id:
                runs[version.run_id] = True
    for run_id in runs:
        write(f"lineage/{run_id}", "lineage.html", data=lineage_views.lineage(project, run_id))
    for item in views.datasets(project):
        name = item["name"]
        numbers = [v["version"] for v in views.dataset(project, name)["versions"]]
        for number in numbers:
            data = lineage_views.lineage(project, f"{name}/{number}")
            write(f"lineage/{name}/{number}", "lineage.html", data=data)
        for a, b in pairwise(numbers):
            data = data_views.dataset_diff(project, name, a, b)
            write(f"data/{name}/diff-{a}-{b}", "dataset_diff.html", data=data)
