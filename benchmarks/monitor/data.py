"""Synthetic reference and current sets for the monitoring benchmark (numpy, seeded).

20 columns: 14 numeric of varied distributions and 6 categorical (2 to 30 levels, skewed
shares). The reference and every scenario's current set are independent samples of the
same distributions, and then, per scenario:

* ``shift5``: five columns truly shifted by a practically meaningful amount;
* ``none``: nothing shifted;
* ``shift5+tiny``: the same five shifts, plus tiny harmless shifts on five other columns
  (a mean move of 0.01 sd, category shares moved by 0.3 points) that must not alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC = [f"n{i:02d}" for i in range(14)]
CATEGORICAL = [f"c{i}" for i in range(6)]
COLUMNS = NUMERIC + CATEGORICAL
SCENARIOS = ("shift5", "none", "shift5+tiny")

# the truth: which columns each scenario shifts by an amount that matters
SHIFTED = ["n00", "n03", "n08", "c1", "c4"]
TINY = ["n01", "n09", "n11", "c0", "c3"]
TRUTH = {"shift5": SHIFTED, "none": [], "shift5+tiny": SHIFTED}

LEVELS = {"c0": 2, "c1": 4, "c2": 7, "c3": 12, "c4": 20, "c5": 30}


def _shares(k: int) -> np.ndarray:
    """Skewed (Zipf-like) shares of k levels."""
    w = 1.0 / np.arange(1, k + 1) ** 1.1
    return w / w.sum()


def _numeric(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    mix = rng.random(n) < 0.6
    zero = rng.random(n) < 0.6
    return {
        "n00": rng.normal(50.0, 10.0, n),  # normal
        "n01": rng.lognormal(0.0, 0.75, n),  # lognormal
        "n02": rng.uniform(0.0, 100.0, n),  # uniform
        "n03": rng.exponential(2.0, n),  # exponential
        "n04": rng.poisson(3.0, n).astype(np.float64),  # small counts
        "n05": np.where(mix, rng.normal(-2.0, 1.0, n), rng.normal(3.0, 1.5, n)),  # bimodal
        "n06": np.where(zero, 0.0, rng.gamma(2.0, 50.0, n)),  # zero-inflated
        "n07": rng.beta(2.0, 5.0, n),  # beta
        "n08": rng.standard_t(3.0, n),  # heavy tails
        "n09": rng.normal(0.0, 1.0, n),  # standard normal
        "n10": rng.gamma(3.0, 2.0, n),  # gamma
        "n11": rng.poisson(20.0, n).astype(np.float64),  # larger counts
        "n12": rng.lognormal(3.0, 0.4, n),  # lognormal, mild skew
        "n13": 10.0 * rng.weibull(1.5, n),  # weibull
    }


def _categorical(rng: np.random.Generator, n: int, shares: dict[str, np.ndarray]) -> dict:
    out = {}
    for c, k in LEVELS.items():
        labels = np.array([f"{c}_{j:02d}" for j in range(k)])
        out[c] = labels[rng.choice(k, size=n, p=shares[c])]
    return out


def _move(p: np.ndarray, src: int, dst: int, points: float) -> np.ndarray:
    q = p.copy()
    q[src] -= points / 100
    q[dst] += points / 100
    assert (q >= 0).all()
    return q


def generate(scenario: str | None, n: int, seed: int) -> dict[str, np.ndarray]:
    """The reference (``scenario=None``) or a scenario's current set, as numpy columns."""
    rng = np.random.default_rng(seed)
    cols = _numeric(rng, n)
    shares = {c: _shares(k) for c, k in LEVELS.items()}
    if scenario in ("shift5", "shift5+tiny"):
        cols["n00"] = cols["n00"] + 0.5 * 10.0  # mean +0.5 sd
        cols["n03"] = cols["n03"] * 1.5  # scale x1.5
        cols["n08"] = cols["n08"] + 0.5 * np.sqrt(3.0)  # t(3): mean +0.5 sd
        shares["c1"] = _move(shares["c1"], 0, 3, 15.0)  # 15 points from the top level
        shares["c4"] = _move(shares["c4"], 0, 10, 12.0)  # 12 points to a rare level
    if scenario == "shift5+tiny":
        cols["n01"] = cols["n01"] + 0.01 * cols["n01"].std()  # mean +0.01 sd
        cols["n09"] = cols["n09"] + 0.01  # mean +0.01 sd
        cols["n11"] = rng.poisson(20.0 + 0.01 * np.sqrt(20.0), n).astype(np.float64)
        shares["c0"] = _move(shares["c0"], 0, 1, 0.3)  # 0.3 points
        shares["c3"] = _move(shares["c3"], 0, 5, 0.3)
    cols.update(_categorical(rng, n, shares))
    return cols


def write(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> None:
    cols = make()
    table = pa.table({name: cols[name] for name in COLUMNS})
    pq.write_table(table, path)


def write_large(path: Path, rows: int, chunk: int = 1_000_000, seed: int = 99) -> None:
    """A big reference-like Parquet file written chunk by chunk (bounded memory)."""
    writer = None
    try:
        for i, start in enumerate(range(0, rows, chunk)):
            cols = generate(None, min(chunk, rows - start), seed + i)
            table = pa.table({name: cols[name] for name in COLUMNS})
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=chunk)
    finally:
        if writer is not None:
            writer.close()


def ensure(folder: Path, rows: int) -> dict[str, tuple[Path, Path]]:
    """Reference and current Parquet files per scenario (written once, reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = folder / f"reference-{rows}.parquet"
    if not reference.exists():
        write(reference, lambda: generate(None, rows, seed=1))
    files = {}
    for k, scenario in enumerate(SCENARIOS):
        current = folder / f"current-{scenario}-{rows}.parquet"
        if not current.exists():
            write(current, lambda s=scenario, k=k: generate(s, rows, seed=10 + k))
        files[scenario] = (reference, current)
    return files
