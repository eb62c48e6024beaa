"""``keel ui --export DIR``: the pages as a self-contained static site (relative links, every
file it loads written beside it, no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keel.errors import UsageError
from keel.ui import export_site
from tests.ui._project import Built
from tests.ui.conftest import keel_cli

REFERENCE = re.compile(r"""(?:href|src)="([^"]*)\"""")


@pytest.fixture(scope="module")
def site(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("site") / "site"
    done = keel_cli(built.root, "ui", "--export", str(dest))
    assert done.returncode == 0, done.stderr
    assert f"open {dest / 'index.html'}" in done.stdout
    return dest


def test_every_page_is_written(site: Path, built: Built) -> None:
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert {
        "index.html",
        "how.html",
        "runs.html",
        "pipelines.html",
        "models.html",
        "models/risk.html",
        "models/risk/1.html",
        "models/risk/2.html",
        "data.html",
        "data/applicants.html",
        "data/applicants/1.html",
        "data/applicants/2.html",
    } <= pages
    assert {f"runs/{run_id}.html" for run_id in built.runs} <= pages
    assert (site / "static" / "vendor" / "uPlot.iife.min.js").is_file()


def test_every_link_and_script_is_a_file_of_the_site(site: Path) -> None:
    for page in site.rglob("*.html"):
        for target in REFERENCE.findall(page.read_text()):
            if target.startswith("data:"):
                continue  # the inline empty icon
            assert not target.startswith(("/", "http:", "https:", "//")), (page, target)
            path, _, anchor = target.partition("#")  # a step of a DAG page: its row
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), (page, target)
            if anchor:
                assert f'id="{anchor}"' in linked.read_text(), (page, target)


def test_the_chain_is_linked(site: Path, built: Built) -> None:
    version = (site / "models" / "risk" / "1.html").read_text()
    assert f'href="../../runs/{built.model_runs[1]}.html"' in version
    run = (site / "runs" / f"{built.model_runs[1]}.html").read_text()
    assert 'href="../data/applicants/1.html"' in run


def test_it_never_overwrites(site: Path, built: Built) -> None:
    with pytest.raises(UsageError, match="not an empty folder"):
        export_site(site, built.root)
