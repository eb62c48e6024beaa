"""``keel ui`` in a real browser (Playwright driving the machine's Chromium): every page opens
without a console error and without a request outside the app, links lead along the chain
model version -> training run -> dataset version, the runs table filters, sorts and compares
on the server, and the numbers shown are the CLI's JSON for the same objects.

Needs ``playwright`` (dev group) and ``/usr/bin/chromium`` (``.ci/run`` installs the Debian
package when missing); under ``CI=true`` a missing one fails the suite instead of skipping.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from keel.ui import create_app
from tests.ui._lineage_project import LineageBuilt
from tests.ui._project import Built
from tests.ui.conftest import cli_json

CHROMIUM = Path("/usr/bin/chromium")

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not CHROMIUM.is_file():
    pytest.skip("no /usr/bin/chromium: apt-get install -y chromium", allow_module_level=True)


@pytest.fixture(scope="module")
def base_url(built: Built) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, as ``keel ui`` serves it."""
    yield from _serve(built.root)


@pytest.fixture(scope="module")
def lineage_url(lineage_built: LineageBuilt) -> Iterator[str]:
    """The app over the lineage project (a pipeline that trained a deployed model)."""
    yield from _serve(lineage_built.root)


def _serve(root: Path) -> Iterator[str]:
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "keel ui did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class Watched:
    """A page whose console errors and requests outside the app are recorded."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r: Any) -> None:
            if r.request.url.startswith(base + "/") or r.request.url.startswith("data:"):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response.status == 200, (path, response.status)
        return self.page

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def web(browser: Any, base_url: str) -> Iterator[Watched]:
    context = browser.new_context()
    watched = Watched(context.new_page(), base_url)
    yield watched
    watched.clean()
    context.close()


def test_every_page_opens_cleanly(web: Watched, built: Built) -> None:
    paths = [
        "/", "/how", "/runs", f"/runs/{built.runs[0]}", "/pipelines", "/models", "/models/risk",
        "/models/risk/1", "/models/risk/2", "/data", "/data/applicants",
        "/data/applicants/1", "/data/applicants/2",
        f"/compare?ids={built.runs[0]}&ids={built.runs[1]}&ids={built.runs[2]}",
    ]  # fmt: skip
    for path in paths:
        page = web.open(path)
        assert page.locator("h1").count() == 1, path
        web.clean()


def test_the_overview_shows_the_cli_kpis(web: Watched, built: Built) -> None:
    page = web.open("/")
    report = cli_json(built.root, "kpis", code=1)
    rows = page.locator("#kpis tbody tr")
    assert rows.count() == len(report["kpis"])
    for i, kpi in enumerate(report["kpis"]):
        row = rows.nth(i)
        assert row.get_attribute("data-status") == kpi["status"]
        if kpi["key"] != "data_freshness":  # an age: it grows between two reads
            assert row.locator("td").nth(4).inner_text() == kpi["reason"]
    assert page.locator("h1 .status").inner_text() == report["status"]


def test_the_overview_shows_each_models_health_and_links_drift_to_monitoring(
    web: Watched, built: Built
) -> None:
    page = web.open("/")
    risk = next(m for m in cli_json(built.root, "kpis", code=1)["health"]["models"])
    row = page.locator('#overview-health tr[data-model="risk"]')
    drifted = [d["column"] for d in risk["latest_window"]["drifted"]]
    assert row.locator(".drift a").all_inner_texts() == drifted
    evaluation = row.locator(".evaluation").inner_text()
    assert evaluation.startswith(f"{risk['evaluation']['metric']} ")
    assert f"{risk['evaluation']['low']:.6g}" in evaluation  # the interval is shown
    steps = page.locator("#overview-steps tbody tr")
    assert steps.count() == len(cli_json(built.root, "kpis", code=1)["health"]["steps"])
    row.locator(".drift a").first.click()  # a drift alert leads to the monitoring page
    page.wait_for_url("**/monitoring/risk?window=*")
    assert page.locator("h1").count() == 1


def test_links_lead_along_the_chain(web: Watched, built: Built) -> None:
    page = web.open("/models")
    page.get_by_role("link", name="risk", exact=True).first.click()
    page.wait_for_url("**/models/risk")
    page.locator("figure.chart canvas").first.wait_for()  # metrics across versions (uPlot)
    assert page.locator("figure.chart").count() == 2  # accuracy and auc
    page.locator("#versions").get_by_role("link", name="1", exact=True).click()
    page.wait_for_url("**/models/risk/1")
    page.locator("#training-run a").click()
    page.wait_for_url(f"**/runs/{built.model_runs[1]}")
    shown = cli_json(built.root, "runs", "show", built.model_runs[1])
    assert page.locator("#run-id").inner_text() == shown["id"]
    accuracy = page.locator('#metrics td[data-metric="accuracy"]').inner_text()
    assert float(accuracy) == pytest.approx(shown["metrics"]["accuracy"], rel=1e-5)
    page.locator("#datasets-used a").first.click()
    page.wait_for_url("**/data/applicants/1")
    version = cli_json(built.root, "data", "show", "applicants/1")
    assert page.locator("#rows").inner_text() == str(version["rows"])
    web.clean()


def test_the_runs_table_filters_and_sorts_on_the_server(web: Watched, built: Built) -> None:
    page = web.open("/runs")
    assert page.locator("#runs tbody tr").count() == 6
    page.locator('a.sort[data-sort="metrics.accuracy"]').click()
    page.wait_for_url("**order_by=metrics.accuracy**")
    shown = page.locator('#runs tbody td[data-metric="accuracy"]').all_inner_texts()
    assert [float(v) for v in shown[:3]] == pytest.approx([0.8, 0.75, 0.7], rel=1e-5)
    page.locator("#where").fill("metrics.accuracy >= 0.75 and status = finished")
    page.locator("#filter-form button").click()
    page.wait_for_url("**where=**")
    ids = [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()]
    assert set(ids) == {built.runs[1], built.runs[2]}
    assert page.locator("#total").inner_text().startswith("2 run(s)")
    page.locator("#where").fill("metrics.accuracy >")
    page.locator("#filter-form button").click()
    page.locator("#error").wait_for()
    assert "cannot read the run filter" in page.locator("#error").inner_text()
    web.errors = [e for e in web.errors if "400" not in e]  # the refused filter's status


def test_comparing_ticked_runs(web: Watched, built: Built) -> None:
    page = web.open("/runs?order_by=name&desc=false")
    for run_id in built.runs[:2]:
        page.locator(f'tr[data-run="{run_id}"] input[type=checkbox]').check()
    page.locator("#compare").click()
    page.wait_for_url("**/compare?**")
    ticked = parse_qs(urlsplit(page.url).query)["ids"]  # in the table's order
    assert sorted(ticked) == sorted(built.runs[:2])
    expected = cli_json(built.root, "runs", "compare", *ticked)
    for dimension, differs in expected["differs"].items():
        cell = page.locator(f'#differs td[data-dimension="{dimension}"]')
        assert cell.inner_text() == ("differs" if differs else "same")
    row = page.locator('#comparison tr[data-metric="accuracy"] td')
    values = [float(v) for v in row.evaluate_all("cells => cells.map(c => c.dataset.value)")]
    assert values == pytest.approx(expected["metrics"]["accuracy"]["values"])
    assert page.locator("#comparison tr[data-param] td.differs").count() >= 1  # c differs
    page.locator("figure.chart canvas").first.wait_for()  # the loss curves, overlaid
    web.clean()


def test_evaluations_on_the_version_page(web: Watched, built: Built) -> None:
    page = web.open("/models/risk/2")
    (stored,) = [
        e
        for e in cli_json(built.root, "models", "history", "risk")
        if e["kind"] == "evaluation" and e["version"] == 2
    ]
    evaluation = stored["detail"]["evaluation"]
    auc = page.locator('details.evaluation tr[data-slice="all"] td[data-metric="auc"]')
    assert float(auc.get_attribute("data-value")) == pytest.approx(
        evaluation["metrics"]["auc"]["value"]
    )
    assert float(auc.get_attribute("data-low")) == pytest.approx(
        evaluation["metrics"]["auc"]["low"]
    )
    bars = page.locator('figure.forest[data-forest="auc"] .bar')
    assert bars.count() == 1 + len(evaluation["slices"])
    assert bars.first.bounding_box()["width"] > 0  # drawn, not just in the markup
    page.locator("figure.chart[data-chart^=calibration] canvas").wait_for()  # uPlot
    page.locator("details.evaluation .eval-data a").click()
    page.wait_for_url("**/data/applicants/1")
    web.clean()


@pytest.fixture(scope="module")
def features_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``keel ui`` over a project with feature definitions, materialized, one training set."""
    from tests.ui._features_project import build_features

    root = build_features(tmp_path_factory.mktemp("features-browser")).root
    yield from _serve(root)


def test_feature_pages_link_to_views_and_training_sets(browser: Any, features_url: str) -> None:
    context = browser.new_context()
    web = Watched(context.new_page(), features_url)
    page = web.open("/features")
    assert page.locator("#views tbody tr").count() == 2
    fresh = page.locator('#views tr[data-view="bureau"] [data-freshness]').inner_text()
    assert fresh == "stale"
    page.locator('#views a[href="/features/credit"]').click()
    page.wait_for_url("**/features/credit")
    assert page.locator("#freshness").inner_text() == "current"
    assert page.locator("#online-rows").inner_text() == "3"
    page.locator('#training-sets a[href^="/data/"]').click()
    page.wait_for_url("**/data/loans.training-set/1")
    web.clean()
    context.close()


def test_features_without_definitions_is_an_empty_state(web: Watched) -> None:
    page = web.open("/features")
    assert page.locator("#no-definitions").is_visible()
    web.clean()


@pytest.fixture
def lineage_web(browser: Any, lineage_url: str) -> Iterator[Watched]:
    context = browser.new_context()
    watched = Watched(context.new_page(), lineage_url)
    yield watched
    watched.clean()
    context.close()


def test_links_lead_from_a_model_to_its_pipeline_dag_and_data(
    lineage_web: Watched, lineage_built: LineageBuilt
) -> None:
    run_id = lineage_built.run_id
    page = lineage_web.open("/models/scorer/1")
    page.locator("#training-run a").click()
    page.wait_for_url(f"**/runs/{run_id}")
    page.locator("#dag-link").click()
    page.wait_for_url(f"**/pipelines/{run_id}")
    svg = page.locator("svg.dag")
    assert svg.locator("g.node").count() == 5  # the dataset version and four steps
    lineage = cli_json(lineage_built.root, "lineage", run_id)
    train = svg.locator('g.node[data-key="step:train"]')
    assert "cache miss" in train.locator("title").text_content()
    box = train.locator("rect").bounding_box()
    evaluate = svg.locator('g.node[data-key="step:evaluate"] rect').bounding_box()
    assert box is not None
    assert evaluate is not None
    assert box["y"] < evaluate["y"]
    durations = [
        n["detail"]["duration"]
        for n in _nodes(lineage)
        if n["kind"] == "step" and n["label"] == "training.train"
    ]
    shown = page.locator("#step-train td.num").inner_text()
    assert shown == f"{durations[0]:.3f} s"
    train.locator("a").click()  # a step links to its row, its details
    page.wait_for_url("**#step-train")
    svg.locator('g.node[data-kind="dataset"] a').click()
    page.wait_for_url("**/data/applicants/1")
    version = cli_json(lineage_built.root, "data", "show", "applicants/1")
    assert page.locator("#rows").inner_text() == str(version["rows"])
    assert page.locator("svg.bars").count() == 3  # a histogram per column of the profile
    page.locator("#lineage-link").click()
    page.wait_for_url("**/lineage/applicants/1")
    page.locator('svg.dag g.node[data-kind="model"] a').click()
    page.wait_for_url("**/models/scorer/1")
    lineage_web.clean()


def test_the_diff_page_opens_from_the_dataset_page(
    lineage_web: Watched, lineage_built: LineageBuilt
) -> None:
    page = lineage_web.open("/data/applicants")
    page.locator("#diff-form select[name=a]").select_option("1")
    page.locator("#diff-form select[name=b]").select_option("2")
    page.locator("#diff-form button").click()
    page.wait_for_url("**/data/applicants/diff?a=1&b=2")
    drift = cli_json(
        lineage_built.root, "monitor", "compare", "data:applicants/1", "data:applicants/2", code=1
    )
    for column in drift["columns"]:
        cell = page.locator(f'#drift tr[data-column="{column["column"]}"] td[data-score]')
        assert float(cell.get_attribute("data-score")) == column["score"]
    assert page.locator("svg.bars").count() == len(drift["columns"])
    lineage_web.clean()


def _nodes(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield tree
    for child in tree["children"]:
        yield from _nodes(child)


def test_the_monitoring_and_deployment_pages_open_cleanly(web: Watched) -> None:
    for path in (
        "/monitoring", "/monitoring/risk", "/monitoring/risk?window=1h&slice=x2",
        "/deployments", "/deployments/risk",
    ):  # fmt: skip
        page = web.open(path)
        assert page.locator("h1").count() == 1, path
        web.clean()


def test_a_heatmap_cell_shows_both_distributions(web: Watched, built: Built) -> None:
    page = web.open("/monitoring/risk?window=1h")
    report = cli_json(built.root, "monitor", "report", "risk", "--window", "1h")
    columns = report["reference"]["columns"]
    x1, last = columns.index("x1"), len(report["windows"]) - 1
    panel = page.locator("#distribution")
    assert panel.is_hidden()
    cell = page.locator(f"#heatmap tbody tr:nth-child({x1 + 1}) td:nth-of-type({last + 1})")
    (result,) = [c for c in report["windows"][last]["columns"] if c["column"] == "x1"]
    assert float(cell.get_attribute("data-score")) == pytest.approx(result["score"], rel=1e-5)
    assert "drifted" in (cell.get_attribute("class") or "")
    cell.click()
    assert panel.is_visible()
    assert panel.get_attribute("data-column") == "x1"
    assert "x1, window from " in page.locator("#distribution-title").inner_text()
    facts = page.locator("#distribution-facts").inner_text()
    assert facts.startswith(f"wasserstein {result['score']:.3g} ")
    assert ": drifted" in facts
    reference = page.locator("#distribution-chart rect.bar-reference")
    window = page.locator("#distribution-chart rect.bar-window")
    assert reference.count() == window.count() > 1
    shares = [float(window.nth(i).get_attribute("data-share")) for i in range(window.count())]
    assert sum(shares) == pytest.approx(1.0)
    assert shares[-1] == 0.0  # x1 halved in the last hour: nothing in the top bin


def test_a_deployment_links_to_its_versions(web: Watched, built: Built) -> None:
    page = web.open("/deployments/risk")
    status = cli_json(built.root, "deploy", "status", "risk")
    assert page.locator("#weight").get_attribute("data-weight") == str(status["rollout"]["weight"])
    page.locator("#challenger-version").click()
    page.wait_for_url(f"**/models/risk/{status['rollout']['challenger_version']}")
    assert page.locator("h1").inner_text().startswith("risk version")
