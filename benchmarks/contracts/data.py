"""Deterministic synthetic loans data for the contracts benchmark.

``python benchmarks/contracts/data.py --rows 10000000`` writes
``benchmarks/data/loans_clean_10000000.parquet`` and ``loans_dirty_10000000.parquet``
(skipped when present). ``--streaming-rows 50000000`` writes the large clean file in chunks
of 5M rows, so generating it needs little memory.

12 columns: id (unique), age, income (2% null, allowed), amount (positively correlated with
income), score in [0, 1], state (50 US codes), email, q10 <= q50 <= q90, opened (date), term.

The dirty variant breaks 1.0% of rows, each in exactly one way, so the expected count of
every check is known in advance (``common.expected``); unique ids are broken by copying the id
of another row, so each duplicate involves two rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OPENED, STATES, TERMS, broken_counts, data_path

DOMAINS = ("example.com", "mail.test", "bank.example", "inbox.test", "post.example")
SEED = 20_241_107


def chunk(rows: int, *, start: int, seed: int, dirty: bool) -> pl.DataFrame:
    """``rows`` rows with ids ``start + 1 ... start + rows`` in shuffled order."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(rows).astype(np.int64) + start + 1
    age = rng.integers(18, 101, rows, dtype=np.int64)
    income = rng.lognormal(10.8, 0.6, rows)
    income_null = rng.random(rows) < 0.02
    amount = np.maximum(0.25 * income + rng.normal(0.0, 5_000.0, rows), 100.0).round(2)
    income = income.round(2)
    score = rng.beta(2.0, 5.0, rows)
    score_null = np.zeros(rows, dtype=bool)
    state = rng.integers(0, len(STATES), rows, dtype=np.int64)
    sep = np.zeros(rows, dtype=np.int64)  # index into ("@", "#", " @")
    domain = rng.integers(0, len(DOMAINS), rows, dtype=np.int64)
    q50 = rng.normal(100.0, 20.0, rows)
    q10 = q50 - rng.exponential(10.0, rows)
    q90 = q50 + rng.exponential(10.0, rows)
    span = (OPENED[1] - OPENED[0]).days
    opened = rng.integers(0, span + 1, rows, dtype=np.int32)
    term = np.asarray(TERMS, dtype=np.int64)[rng.integers(0, len(TERMS), rows)]
    email_ids = ids.copy()

    if dirty:
        counts = broken_counts(rows)
        picked = rng.permutation(rows)
        at = 0
        where: dict[str, np.ndarray] = {}
        for kind, n in counts.items():
            where[kind] = picked[at : at + n]
            at += n
        clean_rows = picked[at:]
        w = where["age"]
        age[w] = np.where(rng.random(len(w)) < 0.5, rng.integers(0, 18, len(w)), 150)
        w = where["income"]
        income[w] = -rng.uniform(1.0, 1_000.0, len(w)).round(2)
        income_null[w] = False
        amount[where["amount"]] = 0.0
        score_null[where["score_null"]] = True
        state[where["state"]] = len(STATES)  # "XX"
        term[where["term"]] = 18
        w = where["email"]
        sep[w] = 1 + (rng.random(len(w)) < 0.5)
        w = where["ordered"]
        q10[w], q50[w] = q50[w] + 1.0, q10[w]  # now q50 < q10; q90 is raised to stay on top
        q90[w] = np.maximum(q90[w], q10[w])
        w = where["dup"]
        ids[w] = ids[clean_rows[: len(w)]]  # distinct donors, none of them broken
        opened[where["opened"]] = -rng.integers(1, 3_000, len(where["opened"]))

    base = (OPENED[0] - dt.date(1970, 1, 1)).days
    frame = pl.DataFrame(
        {
            "id": ids,
            "age": age,
            "income": pl.Series(income).set(pl.Series(income_null), None),
            "amount": amount,
            "score": pl.Series(score).set(pl.Series(score_null), None),
            "state": pl.Series([*STATES, "XX"]).gather(state),
            "email_id": email_ids,
            "sep": pl.Series(["@", "#", " @"]).gather(sep),
            "domain": pl.Series(DOMAINS).gather(domain),
            "q10": q10,
            "q50": q50,
            "q90": q90,
            "opened": (pl.Series(opened, dtype=pl.Int32) + base).cast(pl.Date),
            "term": term,
        }
    )
    email = pl.concat_str(
        [pl.lit("user"), pl.col("email_id").cast(pl.String), pl.col("sep"), pl.col("domain")]
    )
    columns = ["id", "age", "income", "amount", "score", "state", "email"]
    columns += ["q10", "q50", "q90", "opened", "term"]
    return frame.with_columns(email.alias("email")).select(columns)


def ensure(variant: str, rows: int) -> Path:
    """Write the in-memory benchmark file of ``variant`` unless it exists."""
    path = data_path(variant, rows)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frame = chunk(rows, start=0, seed=SEED + rows, dirty=variant == "dirty")
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp)
    tmp.rename(path)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s"
    )
    return path


def ensure_streaming(rows: int, variant: str = "clean", chunk_rows: int = 5_000_000) -> Path:
    """Write a large file chunk by chunk (row groups of 256Ki rows, zstd).

    The dirty variant breaks 1% of every chunk (duplicate ids pair rows of the same chunk),
    so ``common.expected(rows, dirty=True)`` holds for the whole file too.
    """
    import pyarrow.parquet as pq

    path = data_path(variant, rows)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        for i, start in enumerate(range(0, rows, chunk_rows)):
            n = min(chunk_rows, rows - start)
            frame = chunk(n, start=start, seed=SEED + rows + i, dirty=variant == "dirty")
            table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=262_144)
            del table, frame
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000_000])
    parser.add_argument("--streaming-rows", type=int, default=0)
    parser.add_argument("--streaming-variants", default="clean", help="clean, dirty or both")
    args = parser.parse_args()
    for rows in args.rows:
        for variant in ("clean", "dirty"):
            ensure(variant, rows)
    if args.streaming_rows:
        for variant in args.streaming_variants.replace("both", "clean,dirty").split(","):
            ensure_streaming(args.streaming_rows, variant)


if __name__ == "__main__":
    main()
