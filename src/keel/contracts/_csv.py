"""Reading CSV: the header and the shape of every record checked once, types from the contract.

CSV carries no types. With a contract, the file is parsed with the types it declares, so no
pass over the data guesses them (without one, :func:`keel.contracts.read_data` infers them
in one pass). Before either, two problems that would otherwise pass silently are refused: a
header naming a column twice, and a row with more or fewer fields than the header, found by
one streaming pass over the lines (Python's ``csv`` module counts instead where a quoted
value spans lines).
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Any

import polars as pl

from keel.contracts._backends import require_unique_columns
from keel.contracts._contract import Contract
from keel.contracts._types import DType
from keel.errors import InputError

__all__ = ["check_csv_shape", "check_utf8", "typed_csv"]

_LINE = "__keel_line__"
_INDEX = "__keel_index__"
_READ_AS: dict[DType, Any] = {  # how a declared type is parsed; DECIMAL is inferred instead
    DType.INT: pl.Int64,
    DType.FLOAT: pl.Float64,
    DType.BOOL: pl.Boolean,
    DType.STR: pl.String,
    DType.CATEGORICAL: pl.String,
    DType.DATE: pl.Date,
    DType.DATETIME: pl.String,  # parsed after reading, so an offset is not silently dropped
}


def typed_csv(file: Path, contract: Contract) -> pl.LazyFrame | None:
    """The CSV parsed with the contract's types (undeclared columns as text), lazily.

    ``None`` when the contract declares a decimal (the CSV's own types are inferred then).
    A value that does not parse as its declared type fails the query that reads it; the caller
    then reads the file with inferred types, so the type check reports what the column holds.
    """
    declared = {spec.name: spec.dtype for spec in contract.columns}
    if DType.DECIMAL in declared.values():
        return None
    header = check_csv_shape(file)
    schema = {name: _READ_AS.get(declared.get(name, DType.STR), pl.String) for name in header}
    frame = pl.scan_csv(file, schema=schema)
    stamps = [n for n in header if declared.get(n) is DType.DATETIME]
    if stamps:
        frame = frame.with_columns(pl.col(stamps).str.to_datetime(time_unit="us", strict=True))
    return frame


def check_csv_shape(file: Path) -> list[str]:
    """The header's names; refuse duplicate names and rows whose field count differs."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        check_utf8(file)  # says where the first bad byte is
        raise
    require_unique_columns(header, str(file))
    found = _first_ragged_line(file, len(header))
    if found is not None:
        line, fields = found
        raise InputError(
            f"{file} line {line}: {fields} field{'s' if fields != 1 else ''} where the header "
            f"has {len(header)}.",
            hint="Every row of a CSV needs one value per header column: fix or remove that "
            "row (a value holding a comma or a line break must be in double quotes).",
        )
    return header


def _first_ragged_line(file: Path, width: int) -> tuple[int, int] | None:
    """(line, fields) of the first row whose field count is not ``width``, or ``None``.

    Each line is read whole by Polars (streamed) and its commas are counted; blank lines are
    skipped, as readers skip them. Only a file with double quotes pays a second pass, which
    counts the commas outside quoted values; where a quoted value spans lines (a line with an
    odd number of quotes), Python's ``csv`` module counts exactly instead.
    """
    lines = pl.scan_csv(
        file, has_header=False, separator="\x00", quote_char=None, schema={_LINE: pl.String}
    )
    line = pl.col(_LINE)
    quotes = line.str.count_matches('"', literal=True)
    try:
        quoted, found = _first_of_other_width(lines, line, width, (quotes > 0).any())
        if quoted:
            unquoted = line.str.replace_all(r'"[^"]*"', "")
            spans, found = _first_of_other_width(lines, unquoted, width, (quotes % 2 == 1).any())
            if spans:
                return _first_ragged_record(file, width)
    except pl.exceptions.PolarsError:  # not UTF-8, or a NUL byte split a line
        check_utf8(file)
        return _first_ragged_record(file, width)
    return found


def _first_of_other_width(
    lines: pl.LazyFrame, line: pl.Expr, width: int, flag: pl.Expr
) -> tuple[bool, tuple[int, int] | None]:
    """One streaming pass: ``flag`` and the first non-blank line of other than ``width`` fields."""
    fields = line.str.count_matches(",", literal=True) + 1
    blank = pl.col(_LINE).is_null() | (pl.col(_LINE) == "\r")  # "\r": a blank CRLF line
    other = ~blank & (fields != width)
    query = lines.with_row_index(_INDEX).select(
        flag.alias("flag"),
        pl.col(_INDEX).filter(other).first().alias("index"),
        fields.filter(other).first().alias("fields"),
    )
    flagged, index, count = query.collect(engine="streaming").row(0)
    return bool(flagged), None if index is None else (int(index) + 1, int(count))


def _first_ragged_record(file: Path, width: int) -> tuple[int, int] | None:
    """The exact (first line, fields) of the first ragged record, parsing quotes fully."""
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        start = 1
        for record in reader:
            if record and len(record) != width:
                return start, len(record)
            start = reader.line_num + 1
    return None


def check_utf8(file: Path, chunk: int = 1 << 20) -> None:
    """Text formats must be UTF-8; say where the first bad byte is."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with file.open("rb") as handle:
        while block := handle.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                position = offset + exc.start
                line += block[: exc.start].count(b"\n")
                raise InputError(
                    f"{file} is not UTF-8: byte 0x{block[exc.start]:02x} at offset {position} "
                    f"(line {line}).",
                    hint=f"Re-encode it, e.g. iconv -f latin1 -t utf-8 {file} > fixed.csv",
                ) from exc
            offset += len(block)
            line += block.count(b"\n")
