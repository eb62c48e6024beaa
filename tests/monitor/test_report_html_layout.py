"""The monitoring reports' charts: no label or legend is cut or drawn outside its chart, and
a window too small for a meaningful drift score is marked (n, interval) rather than plotted
as the most drifted point."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from keel.config import init_project
from keel.monitor import compare, report
from keel.tracking import Project, open_project
from tests.monitor._served import fit, register, traffic, training, write

_CHAR = 6.6  # an 11px system-ui character is narrower than this on average
_TEXT = re.compile(r"<text ([^>]*)>(.*?)</text>", re.S)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    init_project(tmp_path)
    return open_project(tmp_path)


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page, re.S)


def _attr(attrs: str, name: str) -> str | None:
    found = re.search(rf'{name}="([^"]*)"', attrs)
    return None if found is None else found.group(1)


def _texts(svg: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", body)) for _, body in _TEXT.findall(svg)]


def _assert_texts_inside(svg: str) -> None:
    """Every text's box (its estimated width, rotated as drawn) lies inside the viewBox."""
    box = _attr(svg, "viewBox")
    assert box is not None
    _, _, width, height = map(float, box.split())
    for attrs, body in _TEXT.findall(svg):
        text = html.unescape(re.sub(r"<[^>]+>", "", body))
        x, y = float(_attr(attrs, "x") or 0), float(_attr(attrs, "y") or 0)
        w = _CHAR * len(text)
        anchor = _attr(attrs, "text-anchor") or "start"
        start = {"start": 0.0, "middle": -w / 2, "end": -w}[anchor]
        angle = 0.0
        rotate = re.search(r"rotate\(([-\d.]+)", _attr(attrs, "transform") or "")
        if rotate:
            angle = math.radians(float(rotate.group(1)))
        ends = [(start * math.cos(angle), start * math.sin(angle))]
        ends.append(((start + w) * math.cos(angle), (start + w) * math.sin(angle)))
        for dx, dy in ends:
            assert -0.5 <= x + dx <= width + 0.5, (text, x + dx, width)
            assert -0.5 <= y + dy <= height + 0.5, (text, y + dy, height)


def test_a_three_row_window_is_marked_not_plotted_as_the_most_drifted(project: Project) -> None:
    model = fit()
    register(project, model)
    write(project, *[traffic(model, hour=h, rows=3 if h == 2 else 1000, seed=h) for h in range(5)])
    result = report("churn", reference=training()[0], project=project)
    tiny = result.to_dict()["windows"][2]
    assert tiny["rows"] == 3
    # the raw scores of the tiny window are the largest of the report: what used to be drawn
    scores = {c["column"]: c["score"] for c in tiny["columns"]}
    busy = [c["score"] for i, w in enumerate(result.to_dict()["windows"]) if i != 2
            for c in w["columns"]]  # fmt: skip
    assert max(scores.values()) > max(busy)

    page = result.to_html()
    drift = next(s for s in _svgs(page) if 'aria-label="effect size"' in s)
    marked = re.findall(r'<g class="small-window"><title>([^<]*)</title>', drift)
    assert len(marked) == len(scores)  # every column of the tiny window, and only those
    assert all("only 3 rows" in html.unescape(t) for t in marked)
    assert all("11-20 02:00" in t for t in marked)
    assert drift.count(">n=3<") == 1  # the window's row count, once
    # each with its interval drawn, as a whisker
    assert len(re.findall(r'<g class="small-window"><title>[^<]*</title><line ', drift)) == len(
        scores
    )
    # not a filled point, not on any line, and not what sets the axis
    filled = re.findall(r'<circle cx="([\d.]+)" cy="[\d.]+" r="2.5"', drift)
    tiny_x = re.search(r'<g class="small-window">.*?<circle cx="([\d.]+)"', drift)
    assert tiny_x is not None
    assert tiny_x.group(1) not in filled
    for line in re.findall(r'<polyline points="([^"]+)"', drift):
        assert all(not p.startswith(tiny_x.group(1) + ",") for p in line.split())
    top = float(re.findall(r'text-anchor="end">([\d.]+)</text>', drift)[0])
    assert top < max(scores.values())
    assert "too few rows" in page


def test_no_label_or_legend_is_cut_or_outside_its_chart(project: Project) -> None:
    model = fit()
    register(project, model)
    write(project, *[traffic(model, hour=h, rows=300, seed=h) for h in range(30)])
    page = report("churn", reference=training()[0], slice_by="state", project=project).to_html()
    svgs = _svgs(page)
    texts = [t for svg in svgs for t in _texts(svg)]
    for whole in ("effect size", "unseen categories (worst)", "contract violations",
                  "null rate (worst column)", "accuracy (measured)"):  # fmt: skip
        assert whole in texts
    assert not [t for t in texts if t.endswith("…")]
    for svg in svgs:
        _assert_texts_inside(svg)
    ticks = [t for t in texts if re.fullmatch(r"11-2\d \d\d:00", t)]
    assert 2 <= len(ticks) < 30  # thinned so they do not overlap, never cut


def test_long_category_and_column_names_are_written_whole() -> None:
    rng = np.random.default_rng(0)
    long = ["an enterprise plan with a very long name", "basic", "a second rather long level"]
    column = "subscription_plan_name_as_exported_by_billing"
    ref = pl.DataFrame({column: rng.choice(long, 500)})
    cur = pl.DataFrame({column: rng.choice(long, 500, p=[0.6, 0.2, 0.2])})
    page = compare(ref, cur).to_html()
    svg = next(s for s in _svgs(page) if f'aria-label="{column}"' in s)
    texts = _texts(svg)
    assert column in texts
    for level in long:
        assert level in texts
    _assert_texts_inside(svg)
