"""``keel ui --export DIR``: the same pages as static files, for CI artifacts and sharing.

Pages link to each other by relative paths and load only the files written beside them
(``static/``), so the folder opens from disk or any static host, with no server and no
network request. What needs a server is left out: filtering, sorting and comparing runs
(the runs list is exported newest first, page by page).
"""

from __future__ import annotations

import shutil
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import UsageError
from keel.ui import _export_monitor
from keel.ui import _views as views
from keel.ui._export_lineage import export_lineage
from keel.ui._pages import Pages
from keel.ui._views_features import export_features

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["export_site"]


def export_site(dest: Path | str, project: Project | Path | str | None = None) -> list[Path]:
    """Write the UI's pages for ``project`` into ``dest`` (new or empty); return the files."""
    from keel.tracking import Project, open_project

    folder = Path(dest)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(
            f"{folder} exists and is not an empty folder; the export does not overwrite.",
            hint="Choose a new folder, or empty this one.",
        )
    opened = project if isinstance(project, Project) else open_project(_folder(project))
    pages = Pages(exported=True, project=opened.config.project_name)
    written: list[Path] = []

    def write(page: str, template: str, **context: Any) -> None:
        path = folder / ("index.html" if page == "" else f"{page}.html")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pages.render(template, page, **context), encoding="utf-8")
        written.append(path)

    folder.mkdir(parents=True, exist_ok=True)
    with as_file(files("keel.ui").joinpath("static")) as static:
        shutil.copytree(static, folder / "static")
    write("", "overview.html", data=views.overview(opened))
    write("how", "how.html", store=opened.metadata.url, root=str(opened.config.root))
    _runs(opened, write)
    write("pipelines", "pipelines.html", data=views.pipelines(opened))
    write("models", "models.html", data=views.models(opened))
    for model in views.models(opened):
        name = model["name"]
        detail = views.model(opened, name)
        write(f"models/{name}", "model.html", data=detail)
        for v in detail["versions"]:
            number = v["version"]
            data = views.model_version(opened, name, number)
            write(f"models/{name}/{number}", "model_version.html", data=data)
    write("data", "datasets.html", data=views.datasets(opened))
    for item in views.datasets(opened):
        name = item["name"]
        detail = views.dataset(opened, name)
        write(f"data/{name}", "dataset.html", data=detail)
        for v in detail["versions"]:
            data = views.dataset_version(opened, name, v["version"])
            write(f"data/{name}/{v['version']}", "dataset_version.html", data=data)
    export_features(opened, write)
    export_lineage(opened, write)
    _export_monitor.write_pages(opened, write)
    return written


def _runs(project: Project, write: Any) -> None:
    offset, number = 0, 1
    while True:
        data = views.runs(project, offset=offset)
        pages = views.pagination(data)
        page = "runs" if number == 1 else f"runs-{number}"
        write(
            page,
            "runs.html",
            data=data,
            pages=pages,
            shown=views.columns(data, every=True),
            every=True,
        )
        for item in data["runs"]:
            write(f"runs/{item['id']}", "run.html", data=views.run(project, item["id"]))
        offset += views.PAGE_SIZE
        number += 1
        if offset >= int(data["total"]):
            return


def _folder(project: Path | str | None) -> Path | None:
    return None if project is None else Path(project)
