"""Profiles of Dask DataFrames: partitions profiled by Polars and merged exactly."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.monitor import Profile, compare, profile, reference_bins
from keel.monitor import _dask as keel_dask
from keel.monitor._profile import profile_reference

dd = pytest.importorskip("dask.dataframe")


def _dask(frame: pl.DataFrame, partitions: int) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return dd.from_pandas(
            frame.to_pandas(use_pyarrow_extension_array=True), npartitions=partitions
        )


def _data(rows: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, rows)
    return pl.DataFrame(
        {
            "x": np.where(rng.random(rows) < 0.05, np.nan, x),
            "k": rng.poisson(3, rows),
            "s": rng.choice(["a", "b", "c", "d"], rows, p=[0.5, 0.3, 0.15, 0.05]),
            "flag": rng.random(rows) < 0.2,
        }
    ).with_columns(pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise("s").alias("s"))


def _assert_equal(got: Profile, want: Profile) -> None:
    """Counts exactly, moments to 1e-9 relative."""
    assert got.rows == want.rows
    assert got.columns.keys() == want.columns.keys()
    for name, w in want.columns.items():
        g = got.columns[name]
        for field in ("count", "nulls", "nans", "counts", "below", "above", "infinite", "n"):
            assert getattr(g, field) == getattr(w, field), (name, field)
        assert (g.minimum, g.maximum, g.bins) == (w.minimum, w.maximum, w.bins)
        for a, b in ((g.mean, w.mean), (g.variance, w.variance)):
            assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9), name
        if w.kind == "categorical":
            assert g.sums is w.sums is None, name
        else:  # the bin sums the exact Wasserstein distance needs: merged like the counts
            assert g.sums is not None, name
            assert w.sums is not None, name
            scale = max((abs(v) for v in w.sums), default=0.0)
            for a, b in zip(g.sums, w.sums, strict=True):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale), name


def test_a_dask_profile_equals_the_polars_profile() -> None:
    frame = _data(3_000, 1)
    bins = reference_bins(_data(5_000, 0))
    _assert_equal(profile(_dask(frame, 7), bins), profile(frame, bins))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e6, 1e6), st.sampled_from([math.inf, -math.inf])),
        min_size=1,
        max_size=60,
    ),
    partitions=st.integers(1, 6),
)
def test_any_partitioning_gives_the_same_profile(
    values: list[float | None], partitions: int
) -> None:
    frame = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    bins = reference_bins(pl.DataFrame({"x": np.linspace(-1e3, 1e3, 101)}))
    _assert_equal(profile(_dask(frame, partitions), bins), profile(frame, bins))


def test_empty_partitions_and_no_rows() -> None:
    frame = _data(500, 2)
    bins = reference_bins(frame)
    data = _dask(frame, 4)
    none = data[data.k > 1_000]  # every partition empty
    _assert_equal(profile(none, bins), profile(frame.clear(), bins))
    some = data[data.k > 5]  # some partitions may be empty
    _assert_equal(profile(some, bins), profile(frame.filter(pl.col("k") > 5), bins))


def test_reference_bins_are_exact_below_the_sample_size() -> None:
    frame = _data(4_000, 3)
    assert reference_bins(_dask(frame, 5)) == reference_bins(frame)
    _assert_equal(profile_reference(_dask(frame, 5)), profile_reference(frame))


def test_reference_bins_from_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keel_dask, "DASK_SAMPLE_ROWS", 2_000)
    frame = _data(20_000, 4)
    exact = reference_bins(frame)
    sampled = reference_bins(_dask(frame, 4))
    assert (sampled["x"].low, sampled["x"].high) == (exact["x"].low, exact["x"].high)
    assert sampled["s"] == exact["s"]  # levels are counted exactly
    assert sampled["flag"] == exact["flag"]
    assert len(sampled["x"].edges) == len(exact["x"].edges)
    shares = profile(frame, sampled).columns["x"].counts
    assert all(abs(c / sum(shares) - 0.1) < 0.03 for c in shares)  # still about deciles


def test_compare_with_dask_flags_what_polars_flags() -> None:
    reference, current = _data(20_000, 5), _data(5_000, 6, shift=0.5)
    want = compare(reference, current)
    got = compare(_dask(reference, 3), _dask(current, 2))
    assert [r.column for r in got.columns if r.drifted] == ["x"]
    assert [r.column for r in got.columns if r.drifted] == [
        r.column for r in want.columns if r.drifted
    ]
    assert [r.score for r in got.columns] == pytest.approx([r.score for r in want.columns])
    x = next(r for r in got.columns if r.column == "x")
    assert x.detail["estimator"] == "bin sums"  # exact, from the partitions' merged sums
    mixed = compare(reference, _dask(current, 2))  # one side Dask, the other Polars
    assert [r.column for r in mixed.columns if r.drifted] == ["x"]


def test_profiling_polars_data_never_imports_dask() -> None:
    code = (
        "import sys, polars as pl\n"
        "from keel.monitor import compare, profile, reference_bins\n"
        "f = pl.DataFrame({'x': [1.0, 2.0, 3.0], 's': ['a', 'b', 'a']})\n"
        "profile(f, reference_bins(f)); compare(f, f)\n"
        "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules), 'dask'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
