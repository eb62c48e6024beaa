"""``keel monitor compare --slice COL`` shows each slice's drift in the table and in the HTML
report, the same verdicts as the JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project

runner = CliRunner()


def _frame(rows: int, seed: int, *, shift_pro: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro"], rows)
    x = rng.normal(0, 1, rows) + np.where(plan == "pro", shift_pro, 0.0)
    return pl.DataFrame({"x": x, "y": rng.normal(0, 1, rows), "plan": plan})


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    _frame(4000, 1).write_parquet(tmp_path / "ref.parquet")
    _frame(4000, 2, shift_pro=1.5).write_parquet(tmp_path / "cur.parquet")  # only "pro" moved
    return tmp_path


def _run(*extra: str) -> str:
    args = ["monitor", "compare", "ref.parquet", "cur.parquet", "--columns", "x,y"]
    result = runner.invoke(app, [*args, "--slice", "plan", *extra], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output  # x drifted overall: the check fails
    return result.stdout


def test_the_table_and_the_html_show_each_slices_drift(folder: Path) -> None:
    data = json.loads(_run("-f", "json"))
    verdicts = {
        label: {r["column"]: r["drifted"] for r in rs} for label, rs in data["slices"].items()
    }
    assert verdicts == {"plan=basic": {"x": False, "y": False}, "plan=pro": {"x": True, "y": False}}

    shown = _run("--html", "report.html")
    assert "per slice of plan: 1 of 2 slice(s) drifted" in shown
    rows = {line.split("│")[1].strip(): line for line in shown.splitlines() if "│" in line}
    assert "drifted" in rows["plan=pro"]
    assert "drifted" not in rows["plan=basic"]
    pro_x = next(r for r in data["slices"]["plan=pro"] if r["column"] == "x")
    assert f"{pro_x['score']:.3g}" in rows["plan=pro"]  # the same figure as the JSON

    page = (folder / "report.html").read_text()
    section = page.split("Drift per slice of the current data", 1)[1].split("</table>", 1)[0]
    cells = dict(re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", section))
    assert set(cells) == {"plan=basic", "plan=pro"}
    assert "drifted" in cells["plan=pro"]
    assert "drifted" not in cells["plan=basic"]
    assert "1 of 2 slice(s) drifted" in section
