"""The demo's data, with a planted signal: ``python examples/demo/make_sample.py`` regenerates
the shipped sample (deterministic).

**Loans** (``data/loans_sample.csv``, 2,000 rows). Whether a loan defaults is drawn from a
logistic model of what the application says, :func:`default_logit`:

    logit = -2.6 + 16 * (amount / income - 0.2) - 0.06 * (age - 45)
            + 6 * (q50 - 0.3) + STATE_RISK[state]

so the debt-to-income ratio, age, the bureau's risk estimate ``q50`` and the state carry a
real signal (the best possible AUC on these rows is about 0.89; about 19% default). An
income the applicant did not state (2% of rows) is still drawn, so the signal is there even
where the data is missing.

**Next month** (:func:`next_month`): the applicants drift the way a marketing push would move
them, richer (income x1.6), asking for more (amount x1.4), a third of them from Texas, and
Texas' defaults rise (a regional downturn: +0.8 on the log-odds). The outcomes are drawn
again from the same planted model, so the labels stay true to the story.

**Applicant history** for the feature store (:func:`applicant_history`, written by the demo
beside its ``features.py``): monthly credit-bureau reports (``event_time`` when the bureau
saw the state, ``created_at`` when the report reached us, 1 to 6 days later) and fortnightly
account activity, for 18 months up to ``end``; and one loan application per applicant
(applicant, application time, amount, income, outcome). The outcome is drawn from the
history *as it was at the application*, :func:`history_logit`:

    logit = -2.7 + 8 * (amount / income - 0.2) - (credit_score - 680) / 40
            + 0.5 * missed_payments_90d + 0.3 * delinquencies_12m

and a default (20 to 60 days after the application) leaves marks: every later bureau report
has a score 110 points lower, two more delinquencies and one more open loan, and every later
activity row three more missed payments and a third of the balance. Those later rows are what
a naive "latest row per applicant" join hands the model at training time: the answer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO"]
# the planted state effect on the log-odds of default
STATE_RISK = {
    "CA": -0.3,
    "NY": 0.0,
    "TX": 0.45,
    "FL": 0.9,
    "WA": -0.6,
    "IL": 0.3,
    "MA": -0.75,
    "CO": -0.15,
}
TEXAS_DOWNTURN = 0.8  # next month's extra log-odds of default in Texas


def default_logit(
    dti: np.ndarray, age: np.ndarray, q50: np.ndarray, state: np.ndarray
) -> np.ndarray:
    """The planted log-odds that a loan defaults (see the module docstring)."""
    state_risk = np.array([STATE_RISK[s] for s in state])
    out: np.ndarray = -2.6 + 16.0 * (dti - 0.2) - 0.06 * (age - 45) + 6.0 * (q50 - 0.3) + state_risk
    return out


def _draw(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    drawn: np.ndarray = rng.random(len(logit)) < 1.0 / (1.0 + np.exp(-logit))
    return drawn


def loans(rows: int, seed: int) -> pl.DataFrame:
    """``rows`` loan applications and their outcomes (the planted model)."""
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(10.8, 0.5, rows), 2)
    amount = np.round(income * rng.uniform(0.05, 0.4, rows), 2)
    q50 = np.round(rng.uniform(0.05, 0.6, rows), 4)
    spread = np.round(rng.uniform(0.01, 0.2, rows), 4)
    opened = [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 600, rows)]
    age = rng.integers(18, 90, rows)
    state = rng.choice(STATES, rows)
    defaulted = _draw(rng, default_logit(amount / income, age, q50, state))
    income_col = pl.Series(income).scatter(rng.choice(rows, rows // 50, replace=False), None)
    return pl.DataFrame(
        {
            "loan_id": np.arange(100_000, 100_000 + rows),
            "age": age,
            "income": income_col,
            "amount": amount,
            "state": state,
            "email": [f"customer{i}@example.com" for i in range(rows)],
            "q10": np.round(np.maximum(q50 - spread, 0.0), 4),
            "q50": q50,
            "q90": np.round(q50 + spread, 4),
            "opened": opened,
            "defaulted": defaulted,
        }
    )


def next_month(batch: pl.DataFrame, seed: int = 11) -> pl.DataFrame:
    """A month later: richer applicants asking for more, a third of them from Texas, where
    defaults rose; outcomes drawn again from the planted model (same contract)."""
    rng = np.random.default_rng(seed)
    moved = batch.with_columns(
        income=(pl.col("income") * 1.6).round(2),
        amount=(pl.col("amount") * 1.4).round(2),
        state=pl.when(pl.col("loan_id") % 3 == 0).then(pl.lit("TX")).otherwise(pl.col("state")),
    )
    # the outcome follows the applicant's true income, stated or not
    income = moved["income"].fill_null(moved["income"].median()).to_numpy()
    state = moved["state"].to_numpy()
    logit = default_logit(
        moved["amount"].to_numpy() / income,
        moved["age"].to_numpy(),
        moved["q50"].to_numpy(),
        state,
    ) + np.where(state == "TX", TEXAS_DOWNTURN, 0.0)
    return moved.with_columns(defaulted=pl.Series(_draw(rng, logit)))


# --- the feature store's applicant history ---------------------------------------------------

HISTORY_DAYS = 540
REPORT_EVERY = 30  # days between bureau reports
ACTIVITY_EVERY = 14  # days between account activity rows


def history_logit(
    dti: np.ndarray, credit_score: np.ndarray, missed: np.ndarray, delinquencies: np.ndarray
) -> np.ndarray:
    """The planted log-odds of default from the history at application time."""
    out: np.ndarray = (
        -2.7 + 8.0 * (dti - 0.2) - (credit_score - 680.0) / 40.0 + 0.5 * missed
        + 0.3 * delinquencies
    )  # fmt: skip
    return out


def applicant_history(
    applicants: int, end: dt.datetime, seed: int = 3
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(bureau reports, account activity, applications) for ``applicants`` people over the
    ``HISTORY_DAYS`` up to ``end`` (naive UTC times). Deterministic for a given ``end``."""
    rng = np.random.default_rng(seed)
    start = end - dt.timedelta(days=HISTORY_DAYS)
    ids = np.arange(1, applicants + 1)
    base_score = rng.normal(680, 55, applicants)
    base_missed = rng.poisson(0.4, applicants)
    base_delinquent = rng.poisson(0.5, applicants)
    base_loans = rng.poisson(1.5, applicants)
    balance = rng.lognormal(8.0, 1.0, applicants)
    # each applicant applies once, after 4 months of history and at least 2 months before end
    applied_day = rng.uniform(120, HISTORY_DAYS - 60, applicants)
    income = np.round(rng.lognormal(10.8, 0.45, applicants), 2)
    amount = np.round(income * rng.uniform(0.05, 0.4, applicants), 2)
    # the history as it stood at the application decides the outcome
    logit = history_logit(amount / income, base_score, base_missed, base_delinquent)
    defaulted = _draw(rng, logit)
    defaulted_day = np.where(defaulted, applied_day + rng.uniform(20, 60, applicants), np.inf)

    bureau = _bureau(
        rng, ids=ids, start=start, score=base_score, delinquent=base_delinquent,
        loans_=base_loans, defaulted_day=defaulted_day,
    )  # fmt: skip
    activity = _activity(
        rng, ids=ids, start=start, missed=base_missed, balance=balance,
        defaulted_day=defaulted_day,
    )  # fmt: skip
    applications = pl.DataFrame(
        {
            "applicant_id": ids,
            "timestamp": [start + dt.timedelta(days=float(d)) for d in applied_day],
            "amount": amount,
            "income": income,
            "defaulted": defaulted.astype(np.int64),
        }
    ).sort("timestamp")
    return bureau, activity, applications


def _bureau(
    rng: np.random.Generator,
    *,
    ids: np.ndarray,
    start: dt.datetime,
    score: np.ndarray,
    delinquent: np.ndarray,
    loans_: np.ndarray,
    defaulted_day: np.ndarray,
) -> pl.DataFrame:
    """Monthly reports; after a default the score falls and delinquencies rise."""
    offset = rng.uniform(0, REPORT_EVERY, len(ids))
    days = np.arange(0, HISTORY_DAYS, REPORT_EVERY)
    day = (offset[:, None] + days[None, :]).ravel()
    who = np.repeat(np.arange(len(ids)), len(days))
    keep = day <= HISTORY_DAYS
    day, who = day[keep], who[keep]
    lag = rng.uniform(1, 6, len(day))  # days until the report reaches us
    keep = day + lag <= HISTORY_DAYS  # only reports delivered by ``end``
    day, who, lag = day[keep], who[keep], lag[keep]
    after = day > defaulted_day[who]
    return pl.DataFrame(
        {
            "applicant_id": ids[who],
            "event_time": [start + dt.timedelta(days=float(d)) for d in day],
            "created_at": [
                start + dt.timedelta(days=float(d + g)) for d, g in zip(day, lag, strict=True)
            ],
            "credit_score": np.clip(
                np.round(score[who] + rng.normal(0, 12, len(day)) - 110 * after), 300, 850
            ),
            "delinquencies_12m": delinquent[who] + 2 * after,
            "open_loans": loans_[who] + after,
        }
    ).sort("event_time")


def _activity(
    rng: np.random.Generator,
    *,
    ids: np.ndarray,
    start: dt.datetime,
    missed: np.ndarray,
    balance: np.ndarray,
    defaulted_day: np.ndarray,
) -> pl.DataFrame:
    """Fortnightly account activity; after a default payments are missed."""
    offset = rng.uniform(0, ACTIVITY_EVERY, len(ids))
    days = np.arange(0, HISTORY_DAYS, ACTIVITY_EVERY)
    day = (offset[:, None] + days[None, :]).ravel()
    who = np.repeat(np.arange(len(ids)), len(days))
    keep = day <= HISTORY_DAYS
    day, who = day[keep], who[keep]
    after = day > defaulted_day[who]
    return pl.DataFrame(
        {
            "applicant_id": ids[who],
            "event_time": [start + dt.timedelta(days=float(d)) for d in day],
            "missed_payments_90d": missed[who] + 3 * after,
            "avg_balance": np.round(
                balance[who] * rng.lognormal(0, 0.2, len(day)) * np.where(after, 0.3, 1.0), 2
            ),
        }
    ).sort("event_time")


if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "loans_sample.csv"
    loans(2_000, seed=7).write_csv(out)
    print(f"wrote {out}")
