"""Regenerate the demo's shipped sample (deterministic): python examples/demo/make_sample.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO"]


def loans(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(10.8, 0.5, rows), 2)
    amount = np.round(income * rng.uniform(0.05, 0.4, rows), 2)
    q50 = np.round(rng.uniform(0.05, 0.6, rows), 4)
    spread = np.round(rng.uniform(0.01, 0.2, rows), 4)
    opened = [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 600, rows)]
    income_col = pl.Series(income).scatter(rng.choice(rows, rows // 50, replace=False), None)
    return pl.DataFrame(
        {
            "loan_id": np.arange(100_000, 100_000 + rows),
            "age": rng.integers(18, 90, rows),
            "income": income_col,
            "amount": amount,
            "state": rng.choice(STATES, rows),
            "email": [f"customer{i}@example.com" for i in range(rows)],
            "q10": np.round(np.maximum(q50 - spread, 0.0), 4),
            "q50": q50,
            "q90": np.round(q50 + spread, 4),
            "opened": opened,
            "defaulted": rng.random(rows) < 0.08,
        }
    )


if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "loans_sample.csv"
    loans(2_000, seed=7).write_csv(out)
    print(f"wrote {out}")
