"""A thresholds file reports every mistake at once, each with its line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.errors import InvalidFileError, UsageError
from keel.monitor import Thresholds


def test_two_mistakes_are_both_reported_with_their_lines(tmp_path: Path) -> None:
    file = tmp_path / "monitor.yaml"
    file.write_text("drift: true\nmax_nul_rate: 0.05\nmin: {accuracy: high}\n")
    with pytest.raises(InvalidFileError) as caught:
        Thresholds.load(file)
    error = caught.value
    assert isinstance(error, UsageError)  # the CLI exits 2
    assert [(p.line, p.key) for p in error.problems] == [(2, "max_nul_rate"), (3, "min.accuracy")]
    assert "did you mean 'max_null_rate'?" in error.problems[0].message
    assert f"{file}:3: min.accuracy: expected a number; got text 'high'" in str(error)


def test_a_rate_outside_zero_to_one_and_an_unknown_metric(tmp_path: Path) -> None:
    file = tmp_path / "monitor.yaml"
    file.write_text("max_null_rate: 5\nmax: {rsme: 3}\n")
    with pytest.raises(InvalidFileError) as caught:
        Thresholds.load(file)
    found = {p.key: str(p) for p in caught.value.problems}
    assert "expected a number >= 0 and <= 1; got 5" in found["max_null_rate"]
    assert "did you mean 'rmse'?" in found["max.rsme"]
    assert "allowed: accuracy, auc, ece" in found["max.rsme"]


def test_an_empty_file_and_plain_data_read_as_defaults(tmp_path: Path) -> None:
    file = tmp_path / "monitor.yaml"
    file.write_text("")
    assert Thresholds.load(file) == Thresholds()
    limits = Thresholds.from_dict({"drift": False, "min_rows": 10, "min": {"auc": 0.7}})
    assert (limits.drift, limits.min_rows, dict(limits.min)) == (False, 10, {"auc": 0.7})
    with pytest.raises(InvalidFileError, match=r"^thresholds: min_rows: expected an integer"):
        Thresholds.from_dict({"min_rows": 1.5})
