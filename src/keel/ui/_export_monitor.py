"""The monitoring and deployment pages of ``keel ui --export``: each served model's report
in its default windows (the page's form, which needs a server, is left out), and each
deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keel.errors import KeelError
from keel.ui import _views_deploy as deploy_views
from keel.ui import _views_monitor as monitor_views

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["write_pages"]


def write_pages(project: Project, write: Callable[..., None]) -> None:
    """Write the pages through ``write(page, template, **context)``."""
    served = monitor_views.monitored(project)
    write("monitoring", "monitoring.html", data=served)
    for item in served:
        name = item["name"]
        try:
            data = monitor_views.monitor(project, name, window=item["window"])
        except KeelError as error:  # e.g. no reference to monitor against: the server's page
            write(f"monitoring/{name}", "error.html", error=error.message, hint=error.hint)
            continue
        panel = monitor_views.panel_json(data)
        write(f"monitoring/{name}", "monitor.html", data=data, query=_NO_QUERY, panel=panel)
    listed = deploy_views.deployments(project)
    write("deployments", "deployments.html", data=listed)
    for item in listed:
        if item.get("error") is None:
            data = deploy_views.deployment(project, item["name"])
            write(f"deployments/{item['name']}", "deployment.html", data=data)


_NO_QUERY: dict[str, Any] = {"since": "", "until": ""}
