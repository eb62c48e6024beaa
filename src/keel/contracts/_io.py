"""Reading data files for validation: Parquet (file, folder or glob), CSV and NDJSON.

Files are opened lazily with Polars, so validation streams them: a Parquet file larger than
memory is checked in bounded memory. Problems that make the input unusable (missing, empty,
corrupt, not UTF-8) are :class:`~keel.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

import codecs
import glob
from pathlib import Path

import polars as pl

from keel.errors import InputError, first_line

__all__ = ["read_data"]

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv"}
_NDJSON = {".ndjson", ".jsonl"}
_SUPPORTED = "Parquet (.parquet, a folder of them, or a glob), CSV (.csv) or NDJSON (.ndjson)"


def read_data(path: str | Path) -> pl.LazyFrame:
    """Open a data file (or folder/glob of Parquet files) as a lazy Polars frame."""
    text = str(path)
    if any(ch in text for ch in "*?["):
        return _parquet_glob(text)
    file = Path(text)
    if not file.exists():
        raise InputError(f"data not found: {file}", hint="Check the path (and the working folder).")
    if file.is_dir():
        return _parquet_glob(str(file / "**" / "*.parquet"))
    if file.stat().st_size == 0:
        raise InputError(f"{file} is empty (0 bytes).", hint="Point at a file that holds data.")
    suffix = file.suffix.lower()
    if suffix in _PARQUET:
        return _checked(pl.scan_parquet(file), file)
    if suffix in _CSV:
        _check_utf8(file)
        return _checked(pl.scan_csv(file, infer_schema_length=None, try_parse_dates=True), file)
    if suffix in _NDJSON:
        _check_utf8(file)
        return _checked(pl.scan_ndjson(file, infer_schema_length=None), file)
    raise InputError(
        f"cannot tell the format of {file} from its extension {suffix or '(none)'!r}.",
        hint=f"Keel reads {_SUPPORTED}.",
    )


def _parquet_glob(pattern: str) -> pl.LazyFrame:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise InputError(
            f"no Parquet files match {pattern}.",
            hint="Check the folder or glob; Keel looks for *.parquet files below a folder.",
        )
    return _checked(pl.scan_parquet(matches), Path(matches[0]))


def _checked(frame: pl.LazyFrame, file: Path) -> pl.LazyFrame:
    """Read the schema now, so a corrupt file fails here with its name, not mid-validation."""
    try:
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            f"cannot read {file}: {first_line(exc)}",
            hint="The file may be truncated or not in the format its extension says; re-export it.",
        ) from exc
    return frame


def _check_utf8(file: Path, chunk: int = 1 << 20) -> None:
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
