"""The cold report's shortcuts change nothing: many windows profiled together (their
query built once) equal each window profiled alone, and the drift of many windows against
one reference (each column's reference draws made once and remembered) equals each
window's drift measured afresh, draw by draw, as before."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.monitor import reference_bins
from keel.monitor._drift import _DRAWS
from keel.monitor._profile import profile_many
from keel.monitor._windows import drift_by_window


def _frame(rng: np.random.Generator, rows: int, shift: float) -> pl.DataFrame:
    x = rng.normal(shift, 1, rows)
    x[rng.random(rows) < 0.05] = np.nan
    levels = np.array(["a", "b", "c", "d", "e"])
    cat = levels[rng.integers(0, 5 if shift == 0 else 4, rows)].astype(object)
    cat[rng.random(rows) < 0.05] = None
    return pl.DataFrame(
        {
            "x": x,
            "count": rng.poisson(3 + shift, rows),
            "skewed": rng.lognormal(shift, 1, rows),
            "cat": pl.Series(cat.tolist(), dtype=pl.String),
        }
    )


def _as_json(found: Any) -> str:
    return json.dumps(found, sort_keys=True, default=str)


def _drift_json(drift: list[Any]) -> list[str]:
    return ["none" if d is None else _as_json([[r.to_dict() for r in d[0]], d[1]]) for d in drift]


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    sizes=st.lists(st.sampled_from([0, 3, 40, 200, 200, 200]), min_size=2, max_size=6),
    shift=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_windows_measured_together_equal_each_window_measured_alone(
    seed: int, sizes: list[int], shift: float
) -> None:
    rng = np.random.default_rng(seed)
    reference_data = _frame(rng, 2000, 0.0)
    bins = reference_bins(reference_data)
    (reference,) = profile_many([reference_data], bins)
    windows = [_frame(rng, n, shift if i % 2 else 0.0) for i, n in enumerate(sizes)]

    together = profile_many([w.lazy() for w in windows], bins)
    alone = [profile_many([w.lazy()], bins)[0] for w in windows]
    assert [p.to_dict() for p in together] == [p.to_dict() for p in alone]
    assert [p.rows for p in together] == sizes

    expected = []
    for profile in alone:  # the previous path: every draw made afresh
        _DRAWS.clear()
        expected += drift_by_window(reference, [profile], bins, seed=seed % 1000)
    _DRAWS.clear()
    hits = _DRAWS.hits
    found = drift_by_window(reference, together, bins, seed=seed % 1000)
    assert _drift_json(found) == _drift_json(expected)
    busy = sum(1 for n in sizes if n)
    if busy > 1:  # each column's first reference draw is shared by the busy windows
        assert _DRAWS.hits - hits >= (busy - 1) * len(bins)


def test_a_remembered_draw_leaves_the_generator_where_a_fresh_one_would() -> None:
    probs = np.array([0.2, 0.5, 0.3])
    _DRAWS.clear()
    first, second = np.random.default_rng(7), np.random.default_rng(7)
    a = _DRAWS.draw(first, 100, probs, 5, None)
    b = _DRAWS.draw(second, 100, probs, 5, None)  # from memory
    assert np.array_equal(a, b)
    assert first.bit_generator.state == second.bit_generator.state
    assert np.array_equal(first.random(3), second.random(3))
    b[:] = -1.0  # the caller's copy: memory is not changed through it
    again = _DRAWS.draw(np.random.default_rng(7), 100, probs, 5, None)
    assert np.array_equal(again, a)
    other = _DRAWS.draw(np.random.default_rng(7), 101, probs, 5, None)
    assert not np.array_equal(other, a), "a draw of other arguments is not the remembered one"


def test_profiles_of_one_window_keep_their_own_columns() -> None:
    """Windows of different schemas (a column missing from some files) are not given each
    other's query."""
    rng = np.random.default_rng(0)
    data = _frame(rng, 500, 0.0)
    bins = reference_bins(data, columns=["x", "cat"])
    ints = data.with_columns(pl.col("x").fill_nan(0).cast(pl.Int64))
    floats, integers = profile_many([data.lazy(), ints.lazy()], bins)
    assert floats.columns["x"].nans > 0
    assert integers.columns["x"].nans == 0
    assert integers.to_dict() == profile_many([ints.lazy()], bins)[0].to_dict()
