"""Reading CSV: types from the contract, and files that cannot be read as a table refused.

Duplicate column names and rows with more or fewer fields than the header are
``InputError``s naming the file, the columns or the line, never a silent pass.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import keel
from keel.contracts import check_data, checked_data, infer_contract, read_data
from keel.errors import InputError


class Row(keel.Schema):
    id: int
    code: str
    day: dt.date


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "line", "fields"),
    [
        ("1,a,2024-01-01\n2,b\n3,c,2024-01-03\n", 3, 2),  # a field short
        ("1,a,2024-01-01\n2,b,2024-01-02,extra\n", 3, 4),  # one too many
        ('1,"a, quoted",2024-01-01\n2,"b"\n', 3, 2),  # commas inside quotes are not fields
        ('1,"two\nlines",2024-01-01\n2,b,2024-01-02\n3,c\n', 5, 2),  # a value spanning lines
    ],
)
def test_a_ragged_row_names_the_file_and_its_line(
    tmp_path: Path, body: str, line: int, fields: int
) -> None:
    path = _csv(tmp_path, "id,code,day\n" + body)
    for read in (lambda: Row.check(path), lambda: read_data(path)):
        with pytest.raises(InputError) as caught:
            read()
        message = str(caught.value)
        assert f"{path} line {line}: {fields} field" in message
        assert "the header has 3" in message
        assert "one value per header column" in (caught.value.hint or "")


def test_quoted_commas_quotes_and_a_bom_are_not_ragged(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(b'\xef\xbb\xbfid,code,day\n1,"x, y",2024-01-01\n2,"say ""hi""",2024-01-02\n')
    report = Row.check(path)
    assert report.passed
    assert report.rows == 2


def test_duplicate_header_names_are_refused_not_renamed(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,code,id,day\n1,a,2,2024-01-01\n")
    for read in (lambda: Row.check(path), lambda: infer_contract(read_data(path))):
        with pytest.raises(InputError, match=r"duplicate column names: 'id' \(2 times\)"):
            read()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame([[1, "a", 2]], columns=["id", "code", "id"]),
        pa.table([[1], ["a"], [2]], names=["id", "code", "id"]),
    ],
    ids=["pandas", "pyarrow"],
)
def test_frames_with_two_columns_of_one_name_are_refused(frame: object) -> None:
    with pytest.raises(InputError, match=r"duplicate column names: 'id' \(2 times\)") as caught:
        Row.check(frame)
    assert "rename" in (caught.value.hint or "")


def test_columns_are_read_as_the_contract_declares(tmp_path: Path) -> None:
    """Codes with leading zeros stay text: CSV has no types, the contract says them."""
    path = _csv(tmp_path, "id,code,day\n1,02134,2024-01-01\n2,00501,2024-01-02\n")
    report, data = checked_data(Row.__contract__, path)
    assert report.passed
    assert data.collect()["code"].to_list() == ["02134", "00501"]


def test_a_value_not_of_its_type_is_still_a_type_failure(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,code,day\n1,a,2024-01-01\n2,b,2024-02-30\n")
    report = Row.check(path)
    assert report["day: type date"].message == "expected date, found String"
    assert Row.check(path, coerce=True)["day: type date"].failures == 1


def test_the_shape_of_a_csv_is_checked_once_when_its_types_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value not of its declared type makes the typed read fail; the file is then read
    with inferred types, without a second pass over its lines."""
    from keel.contracts import _csv as reading

    passes: list[Path] = []
    ragged = reading._first_ragged_line

    def counted(file: Path, width: int) -> tuple[int, int] | None:
        passes.append(file)
        return ragged(file, width)

    monkeypatch.setattr(reading, "_first_ragged_line", counted)
    path = _csv(tmp_path, "id,code,day\n1,a,2024-01-01\n2,b,2024-02-30\n")
    assert not Row.check(path).passed
    assert passes == [path]


def test_timestamps_with_an_offset_read_as_without_a_contract(tmp_path: Path) -> None:
    class Event(keel.Schema):
        at: dt.datetime

    path = _csv(tmp_path, "at\n2024-01-01T10:00:00+02:00\n2024-01-02T10:00:00+02:00\n")
    report, data = checked_data(Event.__contract__, path)
    assert report.passed
    assert data.collect().equals(read_data(path).collect())
    assert data.collect()["at"][0] == dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)


def test_inferred_types_are_pinned_after_one_pass(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,day,name\n1,2024-01-01,a\n2,2024-01-02,b\n")
    frame = read_data(path)
    assert frame.collect_schema() == pl.Schema({"id": pl.Int64, "day": pl.Date, "name": pl.String})
    assert check_data(infer_contract(frame), path).passed


def test_windows_line_endings_and_blank_lines_are_not_ragged(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"id,code,day\r\n1,a,2024-01-01\r\n\r\n2,b,2024-01-02\r\n")
    assert read_data(path).collect().height == 3  # the blank line is a row of nulls, as before
    path.write_bytes(b"id,code,day\r\n1,a,2024-01-01\r\n\r\n2,b\r\n")
    with pytest.raises(InputError, match=r"crlf\.csv line 4: 2 fields"):
        Row.check(path)
