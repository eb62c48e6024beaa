"""``keel monitor compare``: exactly the shifted columns flagged, whatever the size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from keel.errors import UsageError
from keel.monitor._compare import compare


def _data(rows: int, seed: int, *, shift: bool = False, tiny: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frame = {
        "normal": rng.normal(0, 1, rows),
        "skewed": rng.lognormal(0, 1, rows),
        "uniform": rng.uniform(0, 10, rows),
        "counts": rng.poisson(3, rows).astype(float),
        "stable": rng.normal(5, 2, rows),
        "region": rng.choice(["n", "s", "e", "w"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        "plan": rng.choice(["free", "pro"], rows, p=[0.7, 0.3]),
    }
    if shift:  # real changes a model would feel
        frame["normal"] = frame["normal"] + 0.6
        frame["skewed"] = frame["skewed"] * 2.0
        frame["region"] = rng.choice(["n", "s", "e", "w"], rows, p=[0.15, 0.3, 0.2, 0.35])
    if tiny:  # harmless: statistically detectable at this size, practically nothing
        frame["stable"] = frame["stable"] + 0.02
        frame["uniform"] = frame["uniform"] * 1.003
    return pl.DataFrame(frame)


SHIFTED = {"normal", "skewed", "region"}


@pytest.mark.parametrize("rows", [2_000, 200_000])
def test_exactly_the_shifted_columns_are_flagged(rows: int) -> None:
    reference = _data(300_000, 1)
    result = compare(reference, _data(rows, 2, shift=True, tiny=True))
    assert {r.column for r in result.columns if r.drifted} == SHIFTED
    assert result.drifted


def test_no_shift_and_tiny_shifts_do_not_alarm() -> None:
    reference = _data(300_000, 1)
    for seed in (2, 3, 4):
        result = compare(reference, _data(200_000, seed, tiny=True))
        assert [r.column for r in result.columns if r.drifted] == []
        assert not result.drifted


def test_a_missing_column_and_new_categories(tmp_path: Path) -> None:
    reference = _data(10_000, 1)
    with pytest.raises(UsageError, match="lacks column"):
        compare(reference, _data(1_000, 2).drop("plan"), columns=["plan", "normal"])
    current = _data(5_000, 2).with_columns(plan=pl.lit("enterprise"))
    result = compare(reference, current)
    plan = next(r for r in result.columns if r.column == "plan")
    assert plan.drifted
    assert plan.detail.get("new_categories") is True


def _keel(root: Path, *args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "keel", "monitor", "compare", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def test_the_cli_json_exit_codes_and_html(tmp_path: Path) -> None:
    _data(100_000, 1).write_parquet(tmp_path / "reference.parquet")
    _data(20_000, 2, shift=True).write_parquet(tmp_path / "current.parquet")
    _data(20_000, 3).write_parquet(tmp_path / "same.parquet")
    done = _keel(tmp_path, "reference.parquet", "current.parquet", "-f", "json", "--html", "r.html")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["drifted"] is True
    assert {c["column"] for c in report["columns"] if c["drifted"]} == SHIFTED
    first = report["columns"][0]
    assert {"column", "method", "score", "drifted"} <= set(first)
    assert isinstance(first["score"], float)
    page = (tmp_path / "r.html").read_text()
    assert "<svg" in page
    assert "http" not in page.lower().replace("http-equiv", "")
    calm = _keel(tmp_path, "reference.parquet", "same.parquet", "-f", "json")
    assert calm.returncode == 0, calm.stdout + calm.stderr
    assert json.loads(calm.stdout)["drifted"] is False
    missing = _keel(tmp_path, "reference.parquet", "nope.parquet")
    assert missing.returncode == 2
