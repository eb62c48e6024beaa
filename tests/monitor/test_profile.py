"""Profiles: fixed reference bins, one-query profiling, exact merging, bad input."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import statistics
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.errors import UsageError
from keel.monitor import _polars
from keel.monitor._profile import (
    Bins,
    ColumnProfile,
    Profile,
    profile,
    profile_reference,
    reference_bins,
)

INF, NAN = math.inf, math.nan

# --------------------------------------------------------------------------- helpers


def _close(a: float, b: float, scale: float) -> bool:
    """Equal within 1e-9 relative; ``scale`` bounds the rounding error near zero."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12 * scale)


def _assert_same(got: Profile, want: Profile, scale: float = 1e3) -> None:
    """Counts and extremes exactly equal, mean and variance to rounding."""
    assert got.rows == want.rows
    assert got.columns.keys() == want.columns.keys()
    for name, w in want.columns.items():
        g = got.columns[name]
        exact = ("count", "nulls", "nans", "counts", "below", "above", "infinite", "n", "bins")
        for field in (*exact, "minimum", "maximum"):
            assert getattr(g, field) == getattr(w, field), (name, field)
        assert _close(g.mean, w.mean, scale), (name, g.mean, w.mean)
        assert _close(g.variance, w.variance, scale**2), (name, g.variance, w.variance)
        if w.sums is None or g.sums is None:  # categorical columns keep no bin sums
            assert g.sums is w.sums is None, (name, g.sums, w.sums)
        else:  # merged bin sums are the sums of the whole, to rounding
            assert all(_close(a, b, scale) for a, b in zip(g.sums, w.sums, strict=True)), name


def _chunks(frame: pl.DataFrame, cuts: Sequence[int]) -> list[pl.DataFrame]:
    bounds = [0, *sorted(min(c, frame.height) for c in cuts), frame.height]
    return [frame.slice(a, b - a) for a, b in pairwise(bounds)]


# --------------------------------------------------------------------------- strategies

_floats = st.one_of(
    st.none(),
    st.sampled_from([NAN, INF, -INF]),
    st.floats(-1e3, 1e3, allow_nan=False),
)
_ints = st.one_of(st.none(), st.integers(-3, 3))
_words = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e"]))


@st.composite
def _frames(draw: st.DrawFn, min_rows: int = 0) -> pl.DataFrame:
    n = draw(st.integers(min_rows, 40))
    return pl.DataFrame(
        {
            "x": draw(st.lists(_floats, min_size=n, max_size=n)),
            "i": draw(st.lists(_ints, min_size=n, max_size=n)),
            "s": draw(st.lists(_words, min_size=n, max_size=n)),
        },
        schema={"x": pl.Float64, "i": pl.Int64, "s": pl.String},
    )


_REFERENCE = pl.DataFrame(
    {
        "x": [float(v) for v in range(-500, 500, 7)],
        "i": [v % 5 - 2 for v in range(143)],
        # a, b: top-K; c: other (known); d, e: unseen
        "s": ["a"] * 70 + ["b"] * 50 + ["c"] * 23,
    }
)
_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def bins() -> dict[str, Bins]:
    return reference_bins(_REFERENCE, bins=5, top_k=2)


# --------------------------------------------------------------------------- properties


@_SETTINGS
@given(frame=_frames(), cuts=st.lists(st.integers(0, 40), max_size=5))
def test_merged_chunks_equal_one_shot(frame: pl.DataFrame, cuts: list[int]) -> None:
    bins = reference_bins(_REFERENCE, bins=5, top_k=2)
    whole = profile(frame, bins)
    parts = [profile(chunk, bins) for chunk in _chunks(frame, cuts)]
    _assert_same(functools.reduce(Profile.merge, parts), whole)
    _assert_same(Profile.merge_all(parts), whole)


@_SETTINGS
@given(a=_frames(), b=_frames(), c=_frames())
def test_merge_is_associative_and_commutative(
    a: pl.DataFrame, b: pl.DataFrame, c: pl.DataFrame
) -> None:
    bins = reference_bins(_REFERENCE, bins=5, top_k=2)
    pa, pb, pc = (profile(f, bins) for f in (a, b, c))
    _assert_same(pa.merge(pb).merge(pc), pa.merge(pb.merge(pc)))
    assert pa.merge(pb).to_dict() == pb.merge(pa).to_dict()  # exactly, not to rounding


@_SETTINGS
@given(frame=_frames(min_rows=1))
def test_profile_matches_a_direct_computation(frame: pl.DataFrame) -> None:
    bins = reference_bins(_REFERENCE, bins=5, top_k=2)
    got = profile(frame, bins).columns["x"]
    values = frame.get_column("x").to_list()
    finite = [v for v in values if v is not None and math.isfinite(v)]
    edges = bins["x"].edges
    valid = [v for v in values if v is not None and not math.isnan(v)]
    expected = [0] * (len(edges) + 1)
    for v in finite:  # NaN and infinities are counted apart, never in a bin
        expected[sum(v >= e for e in edges)] += 1
    assert got.counts == tuple(expected)
    sums: list[list[float]] = [[] for _ in expected]
    for v in finite:
        sums[sum(v >= e for e in edges)].append(v)
    assert got.sums is not None
    assert all(_close(a, math.fsum(b), 1e3) for a, b in zip(got.sums, sums, strict=True))
    assert got.nulls == len(values) - len(valid)
    assert got.nans == sum(v is not None and math.isnan(v) for v in values)
    assert got.infinite == sum(math.isinf(v) for v in valid)
    low, high = bins["x"].low, bins["x"].high
    assert got.below == sum(v < low for v in valid)  # -inf is below the range
    assert got.above == sum(v > high for v in valid)
    assert got.n == len(finite)
    assert got.minimum == (min(finite) if finite else None)
    if len(finite) > 1:
        assert _close(got.variance, statistics.variance(finite), 1e6)


@_SETTINGS
@given(frame=_frames())
def test_the_reference_profile_equals_profiling_the_reference_on_its_bins(
    frame: pl.DataFrame,
) -> None:
    reference = profile_reference(frame, bins=4, top_k=2)
    assert reference.bins == reference_bins(frame, bins=4, top_k=2)
    _assert_same(reference, profile(frame, reference.bins))


# --------------------------------------------------------------------------- reference bins


def test_continuous_edges_are_quantiles() -> None:
    frame = pl.DataFrame({"x": [float(v) for v in range(1000)]})
    b = reference_bins(frame)["x"]
    assert b.kind == "numeric"
    assert len(b.edges) == 9
    assert (b.low, b.high) == (0.0, 999.0)
    assert profile(frame, {"x": b}).columns["x"].counts == (
        99,
        100,
        100,
        100,
        100,
        100,
        100,
        100,
        100,
        101,
    )


def test_binary_data_gets_a_bin_per_value() -> None:
    frame = pl.DataFrame({"flag": [0] * 90 + [1] * 10})
    b = reference_bins(frame)["flag"]
    assert b.edges == (1.0,)
    assert profile(frame, {"flag": b}).columns["flag"].counts == (90, 10)


def test_small_integer_data_gets_a_bin_per_value() -> None:
    frame = pl.DataFrame({"k": [0] * 50 + [1] * 30 + [2] * 20})
    b = reference_bins(frame)["k"]
    assert b.edges == (1.0, 2.0)
    assert profile(frame, {"k": b}).columns["k"].counts == (50, 30, 20)


def test_a_point_mass_gets_its_own_bin() -> None:
    frame = pl.DataFrame({"x": [0.0] * 500 + [float(v) / 7 for v in range(1, 501)]})
    b = reference_bins(frame)["x"]
    counts = profile(frame, {"x": b}).columns["x"].counts
    assert counts[0] == 500  # exactly the zeros
    assert all(c > 0 for c in counts)


def test_categorical_levels_other_and_known() -> None:
    values: list[str | None] = ["a", "a", "a", "a", "a", "b", "b", "b", "c", "d", None]
    b = reference_bins(pl.DataFrame({"s": values}), top_k=2)["s"]
    assert b.levels == ("a", "b")
    assert b.known == {"c", "d"}
    assert b.labels == ("a", "b", "(other)", "(unseen)")


def test_levels_beyond_the_known_limit_count_as_unseen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_polars, "MAX_KNOWN", 1)
    frame = pl.DataFrame({"s": ["a"] * 3 + ["b"] * 2 + ["c"]})
    b = reference_bins(frame, top_k=1)["s"]
    assert b.levels == ("a",)
    assert b.known == {"b"}
    assert profile(frame, {"s": b}).columns["s"].counts == (3, 2, 1)  # c: forgotten, unseen


def test_column_kinds() -> None:
    frame = pl.DataFrame(
        {
            "flag": [True, False, True],
            "cat": pl.Series(["x", "y", "x"], dtype=pl.Categorical),
            "enum": pl.Series(["p", "q", "p"], dtype=pl.Enum(["p", "q", "r"])),
            "day": [dt.date(1970, 1, 2), dt.date(1970, 1, 3), None],
            "code": [10, 20, 10],
            "nested": [[1], [2], [3]],
        }
    )
    with pytest.warns(UserWarning, match="skips column 'nested'"):
        found = reference_bins(frame, categorical=["code"])
    assert list(found) == ["flag", "cat", "enum", "day", "code"]
    assert found["flag"].levels == ("true", "false")
    assert found["code"].levels == ("10", "20")
    assert (found["day"].kind, found["day"].low) == ("numeric", 86_400_000_000.0)
    result = profile(frame.drop("nested"), found)
    assert result.columns["flag"].counts == (2, 1, 0, 0)
    assert result.columns["cat"].counts == (2, 1, 0, 0)
    assert result.columns["enum"].counts == (2, 1, 0, 0)
    assert result.columns["day"].nulls == 1
    assert result.columns["day"].mean == 1.5 * 86_400_000_000


def test_columns_and_categorical_must_exist() -> None:
    frame = pl.DataFrame({"amount": [1.0], "kind": ["a"]})
    with pytest.raises(UsageError, match=r"\['amout'\] not in the data") as err:
        reference_bins(frame, columns=["amout"])
    assert "Did you mean 'amount'" in str(err.value)
    with pytest.raises(UsageError, match="not among the columns"):
        reference_bins(frame, columns=["amount"], categorical=["kind"])
    with pytest.raises(UsageError, match="bins >= 1"):
        reference_bins(frame, bins=0)


def test_empty_and_all_null_reference() -> None:
    frame = pl.DataFrame({"x": [None, None]}, schema={"x": pl.Float64})
    for data in (frame, frame.clear()):
        b = reference_bins(data)["x"]
        assert (b.edges, b.low, b.high) == ((), None, None)
        result = profile(pl.DataFrame({"x": [1.0, None]}), {"x": b}).columns["x"]
        assert (result.counts, result.below, result.above) == ((1,), 0, 0)


def test_bins_validate_themselves() -> None:
    with pytest.raises(UsageError, match="strictly increasing"):
        Bins("x", "numeric", edges=(2.0, 1.0))
    with pytest.raises(UsageError, match="cannot have edges"):
        Bins("s", "categorical", edges=(1.0,))
    with pytest.raises(UsageError, match="both top-K and 'other'"):
        Bins("s", "categorical", levels=("a",), known=frozenset({"a"}))
    with pytest.raises(UsageError, match="has 3 counts"):
        ColumnProfile("x", "numeric", 3, 0, (1, 1, 1), bins=Bins("x", "numeric", edges=(1.0,)))


# --------------------------------------------------------------------------- bad input


def test_all_null_column(bins: dict[str, Bins]) -> None:
    frame = pl.DataFrame(
        {"x": [None] * 3, "i": [None] * 3, "s": [None] * 3},
        schema={"x": pl.Float64, "i": pl.Int64, "s": pl.String},
    )
    for c in profile(frame, bins).columns.values():
        assert (c.count, c.nulls, c.n, sum(c.counts)) == (3, 3, 0, 0)
        assert math.isnan(c.mean)
        assert math.isnan(c.variance)
        assert c.minimum is None


def test_null_typed_column_in_current_data(bins: dict[str, Bins]) -> None:
    frame = pl.DataFrame({"x": [None, None], "i": [None, None], "s": [None, None]})
    result = profile(frame, bins)
    assert all(c.nulls == 2 for c in result.columns.values())


def test_single_row(bins: dict[str, Bins]) -> None:
    result = profile(pl.DataFrame({"x": [4.0], "i": [1], "s": ["b"]}), bins)
    x = result.columns["x"]
    assert (x.n, x.mean, x.m2, x.minimum, x.maximum) == (1, 4.0, 0.0, 4.0, 4.0)
    assert math.isnan(x.variance)
    assert result.columns["s"].counts == (0, 1, 0, 0)
    single = reference_bins(pl.DataFrame({"x": [4.0]}))["x"]
    assert (single.edges, single.low, single.high) == ((4.0, 4.0 + 4e-9), 4.0, 4.0)
    counts = profile(pl.DataFrame({"x": [3.0, 4.0, 4.0, 5.0]}), {"x": single}).columns["x"]
    assert counts.counts == (1, 2, 1)  # below, at and above the constant


def test_empty_frame(bins: dict[str, Bins]) -> None:
    result = profile(_REFERENCE.clear(), bins)
    assert result.rows == 0
    for c in result.columns.values():
        assert (c.count, c.nulls, c.n, sum(c.counts)) == (0, 0, 0, 0)
        assert math.isnan(c.mean)


def test_nan_and_infinity(bins: dict[str, Bins]) -> None:
    values = [1.0, 2.0, NAN, INF, -INF, None, -1e9]
    x = profile(pl.DataFrame({"x": values}), {"x": bins["x"]}).columns["x"]
    assert (x.nulls, x.nans) == (2, 1)  # NaN counts as null, and apart
    assert x.infinite == 2
    assert (x.below, x.above) == (2, 1)  # -inf and -1e9; +inf: outside the reference range
    assert x.counts[0] == 1  # -1e9: the infinities are in no bin
    assert x.counts[-1] == 0
    assert sum(x.counts) == x.n == 3
    assert (x.minimum, x.maximum) == (-1e9, 2.0)
    assert x.mean == pytest.approx((1.0 + 2.0 - 1e9) / 3)


def test_unseen_categories(bins: dict[str, Bins]) -> None:
    frame = pl.DataFrame({"s": ["a", "c", "zz", "zz", None]})
    s = profile(frame, {"s": bins["s"]}).columns["s"]
    assert s.counts == (1, 0, 1, 2)  # a, b, other (c), unseen (zz)
    assert s.nulls == 1


def test_missing_column_is_named(bins: dict[str, Bins]) -> None:
    with pytest.raises(UsageError, match=r"\['s'\] not in the data") as err:
        profile(_REFERENCE.drop("s"), bins)
    assert "Known: i, x." in str(err.value)


def test_numeric_bins_on_text_data(bins: dict[str, Bins]) -> None:
    with pytest.raises(UsageError, match="holds String values, but its reference bins are"):
        profile(pl.DataFrame({"x": ["1.5"]}), {"x": bins["x"]})


def test_keys_must_name_their_column(bins: dict[str, Bins]) -> None:
    with pytest.raises(UsageError, match="bins under key 'y' are for column 'x'"):
        profile(_REFERENCE, {"y": bins["x"]})


def test_unsupported_data_type(bins: dict[str, Bins]) -> None:
    with pytest.raises(UsageError, match=r"cannot read data of type builtins\.list"):
        profile([1, 2, 3], bins)


def test_profile_compare_and_reports_read_data_alike(bins: dict[str, Bins]) -> None:
    """One reader: a PyArrow Table compares as it profiles; a pandas frame naming a column
    twice is refused by profile as by compare."""
    from keel.errors import InputError
    from keel.monitor import compare

    table = _REFERENCE.to_arrow()
    assert profile(table, bins) == profile(_REFERENCE, bins)
    assert not compare(table, _REFERENCE).drifted
    import pandas as pd

    column = _REFERENCE.select("x").to_pandas()
    doubled = pd.concat([column, column], axis=1)  # two columns named "x"
    for call in (lambda: profile(doubled, bins), lambda: compare(doubled, doubled)):
        with pytest.raises(InputError, match="duplicate column names"):
            call()
    with pytest.raises(UsageError, match=r"cannot read data of type builtins\.list"):
        compare([1, 2, 3], _REFERENCE)


# --------------------------------------------------------------------------- inputs


def test_pandas_arrow_and_path_inputs(tmp_path: Path, bins: dict[str, Bins]) -> None:
    path = tmp_path / "reference.parquet"
    _REFERENCE.write_parquet(path)
    want = profile(_REFERENCE, bins)
    for data in (_REFERENCE.lazy(), _REFERENCE.to_pandas(), _REFERENCE.to_arrow(), path, str(path)):
        _assert_same(profile(data, bins), want)
    assert reference_bins(path, bins=5, top_k=2) == bins


# --------------------------------------------------------------------------- merging


def test_merge_with_different_bins_raises(bins: dict[str, Bins]) -> None:
    a = profile(_REFERENCE, bins)
    other = reference_bins(_REFERENCE, bins=3, top_k=2)
    b = profile(_REFERENCE, other)
    with pytest.raises(UsageError, match="counted over different bins"):
        a.merge(b)
    with pytest.raises(UsageError, match="counted over different bins"):
        Profile.merge_all([a, a, b])
    with pytest.raises(UsageError, match="profile of column 'x'"):
        a.columns["x"].merge(a.columns["i"])


def test_merge_with_different_columns_raises(bins: dict[str, Bins]) -> None:
    a = profile(_REFERENCE, bins)
    b = profile(_REFERENCE, {"x": bins["x"]})
    with pytest.raises(UsageError, match=r"only in the first: \['i', 's'\]"):
        a.merge(b)
    with pytest.raises(UsageError, match="no profiles"):
        Profile.merge_all([])


def test_merge_all_of_one_is_itself(bins: dict[str, Bins]) -> None:
    a = profile(_REFERENCE, bins)
    assert Profile.merge_all([a]).to_dict() == a.to_dict()


def test_merge_all_of_many_windows(bins: dict[str, Bins]) -> None:
    windows = [profile(_REFERENCE.slice(i, 10), bins) for i in range(0, 143, 10)]
    _assert_same(Profile.merge_all(windows), profile(_REFERENCE, bins))
    _assert_same(Profile.merge_all(windows), functools.reduce(Profile.merge, windows))


# --------------------------------------------------------------------------- storing


def test_json_round_trip(bins: dict[str, Bins]) -> None:
    frame = pl.DataFrame(
        {"x": [1.0, INF, NAN], "i": [None, None, None], "s": ["a", "zz", None]},
        schema={"x": pl.Float64, "i": pl.Int64, "s": pl.String},
    )
    original = profile(frame, bins)
    text = json.dumps(original.to_dict(), allow_nan=False)  # strict JSON
    loaded = Profile.from_dict(json.loads(text))
    assert loaded.to_dict() == original.to_dict()
    assert loaded.columns["s"].bins == bins["s"]
    assert math.isnan(loaded.columns["i"].mean)
    _assert_same(loaded.merge(original), original.merge(original))
    again = Profile.from_dict(json.loads(text))
    assert again.columns["s"].bins is loaded.columns["s"].bins  # equal bins read once


def test_bins_round_trip(bins: dict[str, Bins]) -> None:
    for b in bins.values():
        assert Bins.from_dict(json.loads(json.dumps(b.to_dict()))) == b


def test_non_finite_moments_survive_json() -> None:
    c = ColumnProfile("x", "numeric", 2, 0, (2,), mean=1e300, m2=INF, n=2)
    assert ColumnProfile.from_dict(json.loads(json.dumps(c.to_dict(), allow_nan=False))) == c


def test_from_dict_rejects_other_data() -> None:
    with pytest.raises(UsageError, match="not a Keel profile"):
        Profile.from_dict({"rows": 1})
    with pytest.raises(UsageError, match="format 2"):
        Profile.from_dict({"format": 2, "rows": 0, "columns": []})


def test_numeric_labels() -> None:
    assert Bins("x", "numeric", edges=(1.0, 2.5)).labels == ("< 1", "[1, 2.5)", ">= 2.5")
    assert Bins("x", "numeric").labels == ("all",)
