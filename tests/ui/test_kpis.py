"""KPI objectives in ``keel.toml`` ``[kpis]`` (typos located at their line), the verdicts
(green, amber within the margin, red beyond, n/a with nothing to measure), and ``keel kpis``
exiting 1 only when a KPI is red."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import init_project, load_config
from keel.errors import ConfigError, ConfigFileError
from keel.tracking import open_project
from keel.ui import evaluate_kpis
from tests.ui._project import Built
from tests.ui.conftest import cli_json, keel_cli


def _toml(root: Path, kpis: str) -> None:
    init_project(root)
    path = root / "keel.toml"
    path.write_text(path.read_text().replace("[kpis]\n", "[kpis]\n" + kpis, 1))


def test_objectives_have_defaults_and_read_from_keel_toml(tmp_path: Path) -> None:
    _toml(tmp_path, 'serving_p99_ms = 250\ndata_freshness = "2d"\n')
    objectives = dict(load_config(tmp_path).kpis)
    assert objectives["serving_p99_ms"] == 250.0
    assert objectives["data_freshness"] == "2d"
    assert objectives["contract_pass_rate"] == 0.95  # the default
    env = {"KEEL_KPIS_CONTRACT_PASS_RATE": "0.5"}
    assert dict(load_config(tmp_path, env).kpis)["contract_pass_rate"] == 0.5
    with pytest.raises(ConfigError, match="KEEL_KPIS_DATA_FRESHNESS 'later' is not a duration"):
        load_config(tmp_path, {"KEEL_KPIS_DATA_FRESHNESS": "later"})


def test_mistakes_in_kpis_point_at_their_line(tmp_path: Path) -> None:
    _toml(tmp_path, 'contract_pass_rte = 0.9\ndata_freshness = "soon"\ncache_hit_rate = "x"\n')
    with pytest.raises(ConfigFileError) as caught:
        load_config(tmp_path)
    problems = {p.key: p for p in caught.value.problems}
    assert set(problems) == {"kpis.contract_pass_rte", "kpis.data_freshness", "kpis.cache_hit_rate"}
    assert "contract_pass_rate" in str(caught.value)  # did you mean
    lines = (tmp_path / "keel.toml").read_text().splitlines()
    assert "data_freshness" in lines[problems["kpis.data_freshness"].line - 1]
    assert "not a duration" in problems["kpis.data_freshness"].message


def test_an_empty_project_has_nothing_to_measure_and_passes(tmp_path: Path) -> None:
    init_project(tmp_path)
    report = cli_json(tmp_path, "kpis")  # exit 0
    assert report["status"] == "n/a"
    assert {k["status"] for k in report["kpis"]} == {"n/a"}
    assert all(k["reason"] for k in report["kpis"])


def test_amber_within_the_margin_red_beyond(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    project = open_project(built.root)

    def verdict(rate: str) -> str:
        monkeypatch.setenv("KEEL_KPIS_RUN_FAILURE_RATE", rate)
        found = evaluate_kpis(open_project(built.root))
        return next(k.status for k in found if k.key == "run_failure_rate")

    assert project.config.kpis  # read from the project
    # one run in six failed: 16.7%
    assert verdict("0.2") == "green"
    assert verdict("0.15") == "amber"  # 16.7% is within 20% above 15%
    assert verdict("0.1") == "red"


def test_the_table_says_which_kpi_is_red_and_exits_1(built: Built) -> None:
    done = keel_cli(built.root, "kpis")
    assert done.returncode == 1
    assert "KPIs: red" in done.stdout
    assert "contract pass rate" in done.stdout
