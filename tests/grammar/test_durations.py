"""The one duration grammar: every unit reads, the canonical text reads back exactly, and a
refusal names the input, where it came from and the accepted forms."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keel.errors import UsageError
from keel.grammar import Duration, format_duration, parse_duration

LONGEST = dt.timedelta.max // dt.timedelta(microseconds=1)
durations = st.integers(0, LONGEST).map(Duration)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1.5ms", 0.0015),
        ("30s", 30),
        ("15m", 900),
        ("1.5h", 5400),
        ("2d", 172_800),
        ("1w", 604_800),
        (" 7D ", 604_800),  # any letter case, spaces around
        (".5h", 1800),
        ("3600", 3600),  # a bare number is seconds
        ("0", 0),
    ],
)
def test_each_unit_reads(text: str, seconds: float) -> None:
    assert parse_duration(text, where="t").seconds == seconds


def test_numbers_timedeltas_and_durations_read_as_they_are() -> None:
    assert parse_duration(90, where="t") == Duration(90_000_000)
    assert parse_duration(0.25, where="t") == Duration(250_000)
    assert parse_duration(dt.timedelta(hours=1), where="t").timedelta == dt.timedelta(hours=1)
    assert parse_duration(Duration(5), where="t") == Duration(5)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("120s", "2m"),
        ("90s", "90s"),
        ("60m", "1h"),
        ("36h", "36h"),
        ("14d", "2w"),
        ("0.25", "250ms"),
        ("1500ms", "1.5s"),
        ("0.0015s", "1.5ms"),
        ("86401", "86401s"),
        ("0ms", "0s"),
    ],
)
def test_the_text_written_is_the_canonical_one(text: str, canonical: str) -> None:
    assert format_duration(parse_duration(text, where="t")) == canonical
    assert str(parse_duration(text, where="t")) == canonical


def test_go_readable_text_stops_at_hours() -> None:
    # Argo Rollouts reads durations with Go's time.ParseDuration, which has no d or w
    assert format_duration(dt.timedelta(weeks=1), largest="h") == "168h"
    assert format_duration(90, largest="h") == "90s"


@given(durations)
def test_what_is_written_reads_back_the_same(duration: Duration) -> None:
    text = format_duration(duration)
    assert parse_duration(text, where="t") == duration
    assert parse_duration(format_duration(duration, largest="h"), where="t") == duration
    assert format_duration(parse_duration(text, where="t")) == text  # canonical is a fixpoint


@given(st.timedeltas(min_value=dt.timedelta(0)))
def test_timedeltas_survive_text_exactly(value: dt.timedelta) -> None:
    assert parse_duration(format_duration(value), where="t").timedelta == value


@given(durations, durations)
def test_durations_order_as_their_lengths(a: Duration, b: Duration) -> None:
    assert (a < b) == (a.timedelta < b.timedelta)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("15x", "--flag '15x' is not a duration"),
        ("soon", "--flag 'soon' is not a duration"),
        ("1h30m", "--flag '1h30m' is not a duration"),
        ("", "--flag '' is not a duration"),
        ("1e3s", "--flag '1e3s' is not a duration"),
        (True, "--flag True is not a duration"),
        (float("nan"), "--flag nan is not a duration"),
        ("-1s", "--flag '-1s' is out of range; expected 0s or longer"),
        (-3, "--flag -3 is out of range; expected 0s or longer"),
        (dt.timedelta(seconds=-1), "out of range; expected 0s or longer"),
        (10**20, "out of range; expected at most 999,999,999 days"),
    ],
)
def test_refusals_name_the_input_the_place_and_the_forms(value: object, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(value, where="--flag")  # type: ignore[arg-type]
    assert message in caught.value.message
    assert "30s, 15m, 1.5h, 7d, 1w or 250ms" in (caught.value.hint or "")


def test_zero_is_refused_only_where_a_length_is_needed() -> None:
    assert parse_duration("0s", where="t") == Duration(0)
    with pytest.raises(UsageError, match="window '0s' is out of range; expected longer than 0s"):
        parse_duration("0s", where="window", positive=True)


@pytest.mark.parametrize("micros", [-1, LONGEST + 1, 1.5, True])
def test_a_duration_holds_whole_microseconds_in_range(micros: object) -> None:
    with pytest.raises(UsageError, match="Duration"):
        Duration(micros)  # type: ignore[arg-type]
