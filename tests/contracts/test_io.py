"""Unusable input: each a clear InputError naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import keel
from keel.contracts import read_data
from keel.errors import InputError


class Row(keel.Schema):
    id: int
    name: str


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"data not found: .*nope\.parquet"):
        read_data(tmp_path / "nope.parquet")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"is empty \(0 bytes\)"):
        read_data(path)


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    pl.DataFrame({"id": range(1000), "name": ["x"] * 1000}).write_parquet(path)
    path.write_bytes(path.read_bytes()[:200])  # truncated mid-file
    with pytest.raises(InputError) as caught:
        Row.check(path)
    assert "broken.parquet" in str(caught.value)
    assert caught.value.hint


def test_not_parquet_at_all(tmp_path: Path) -> None:
    path = tmp_path / "text.parquet"
    path.write_text("id,name\n1,a\n")
    with pytest.raises(InputError, match="cannot read"):
        read_data(path)


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(InputError, match="cannot tell the format"):
        read_data(path)


def test_non_utf8_csv_says_where(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,name\n1,ok\n2,Andr\xe9\n".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read_data(path)
    assert "not UTF-8: byte 0xe9" in str(caught.value)
    assert "line 3" in str(caught.value)
    assert "iconv" in str(caught.value)


def test_csv_with_mixed_types_is_a_type_failure_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(50)) + "oops,x\n")
    report = Row.check(path)
    assert not report.passed
    assert report["id: type int"].message == "expected int, found String"
    coerced = Row.check(path, coerce=True)
    assert coerced["id: type int"].failures == 1
    assert coerced["id: type int"].examples[0] == {"row": 50, "values": {"id": "oops"}}


def test_folder_and_glob_of_parquet(tmp_path: Path) -> None:
    for part in range(3):
        pl.DataFrame({"id": [part], "name": ["x"]}).write_parquet(tmp_path / f"p{part}.parquet")
    assert Row.check(tmp_path).rows == 3
    assert Row.check(str(tmp_path / "p[01].parquet")).rows == 2
    with pytest.raises(InputError, match="no Parquet files match"):
        read_data(tmp_path / "nothing-*.parquet")


def test_ndjson(tmp_path: Path) -> None:
    path = tmp_path / "rows.ndjson"
    path.write_text('{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n')
    assert Row.check(path).passed


def test_unsupported_objects_get_a_clear_error() -> None:
    from keel.errors import UsageError

    with pytest.raises(UsageError, match=r"cannot validate an object of type builtins\.dict"):
        Row.check({"id": [1]})
