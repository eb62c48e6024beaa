"""The demo's training pipeline: ingest -> validate -> split -> featurize -> train -> evaluate.

Run it with ``keel run pipeline.py:training``; a second run is fully cached. Every handoff
is typed by a contract, so ``keel check pipeline.py:training`` proves the wiring before
anything runs, and each boundary is checked at run time.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
from schemas import Loan
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.model_selection import FixedThresholdClassifier, cross_val_predict

import keel

STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO"]
FEATURES = ["age", "log_income", "amount_to_income", "q50", *[f"state_{s.lower()}" for s in STATES]]


class RawLoan(keel.Schema):
    """A loan as it arrives: types known, nothing else promised."""

    loan_id: keel.Column[int]
    age: keel.Column[int | None]
    income: keel.Column[float | None]
    amount: keel.Column[float | None]
    state: keel.Column[str | None]
    email: keel.Column[str | None]
    q10: keel.Column[float | None]
    q50: keel.Column[float | None]
    q90: keel.Column[float | None]
    opened: keel.Column[str | None]
    defaulted: keel.Column[bool | None]


class Features(keel.Schema):
    """What the model sees: numeric, complete, one row per loan."""

    loan_id: keel.Column[int] = keel.Field(unique=True)
    age: keel.Column[float] = keel.Field(ge=18, le=100)
    log_income: keel.Column[float] = keel.Field(ge=0)
    amount_to_income: keel.Column[float] = keel.Field(ge=0)
    q50: keel.Column[float] = keel.Field(ge=0, le=1)
    state_ca: keel.Column[float]
    state_ny: keel.Column[float]
    state_tx: keel.Column[float]
    state_fl: keel.Column[float]
    state_wa: keel.Column[float]
    state_il: keel.Column[float]
    state_ma: keel.Column[float]
    state_co: keel.Column[float]
    defaulted: keel.Column[int] = keel.Field(isin=[0, 1])


class ModelInput(keel.Schema):
    """The columns the model reads, in order: the registered model's input contract."""

    age: keel.Column[float] = keel.Field(ge=18, le=100)
    log_income: keel.Column[float] = keel.Field(ge=0)
    amount_to_income: keel.Column[float] = keel.Field(ge=0)
    q50: keel.Column[float] = keel.Field(ge=0, le=1)
    state_ca: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_ny: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_tx: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_fl: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_wa: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_il: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_ma: keel.Column[float] = keel.Field(isin=[0.0, 1.0])
    state_co: keel.Column[float] = keel.Field(isin=[0.0, 1.0])


@keel.step
def ingest(source: Path) -> keel.Frame[RawLoan]:
    """Read the batch as delivered (CSV or Parquet)."""
    frame = pl.read_csv(source) if source.suffix == ".csv" else pl.read_parquet(source)
    return RawLoan.validate(frame.with_columns(pl.col("opened").cast(pl.String)))


@keel.step
def validate(raw: keel.Frame[RawLoan]) -> keel.Frame[Loan]:
    """Keep complete rows; the reviewed contract then guards everything downstream."""
    complete = raw.native.drop_nulls(["age", "amount", "state", "email", "q10", "q50", "q90"])
    return Loan.validate(
        complete.with_columns(pl.col("opened").str.to_date()),
        coerce=True,
    )


@keel.step
def split(
    loans: keel.Frame[Loan], test_fraction: float = 0.25, seed: int = 0
) -> tuple[keel.Frame[Loan], keel.Frame[Loan]]:
    """A reproducible random split into training and test rows."""
    shuffled = loans.to_polars().sample(fraction=1.0, shuffle=True, seed=seed)
    cut = int(shuffled.height * (1 - test_fraction))
    return Loan.validate(shuffled.head(cut)), Loan.validate(shuffled.tail(-cut))


@keel.step
def featurize(loans: keel.Frame[Loan]) -> keel.Frame[Features]:
    """Numeric features; missing incomes take the median."""
    frame = loans.to_polars()
    income = pl.col("income").fill_null(frame["income"].median())
    return Features.validate(
        frame.select(
            "loan_id",
            pl.col("age").cast(pl.Float64),
            (income + 1).log().alias("log_income"),
            (pl.col("amount") / (income + 1)).alias("amount_to_income"),
            "q50",
            *[(pl.col("state") == s).cast(pl.Float64).alias(f"state_{s.lower()}") for s in STATES],
            pl.col("defaulted").cast(pl.Int64),
        )
    )


@keel.step
def train(features: keel.Frame[Features], c: float = 1.0) -> FixedThresholdClassifier:
    """A logistic regression that flags a loan as a likely default above a tuned threshold.

    About 1 loan in 5 defaults, so the usual 0.5 would flag almost no one: the threshold is
    the one with the best F1 on out-of-fold predictions of the training rows (5 folds), so
    the held-out rows never choose it.
    """
    frame = features.to_polars()
    x, y = frame.select(FEATURES).to_numpy(), frame["defaulted"].to_numpy()
    model = LogisticRegression(C=c, max_iter=1000)
    scores = cross_val_predict(model, x, y, cv=5, method="predict_proba")[:, 1]
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision * recall / (precision + recall).clip(min=1e-12)
    threshold = float(thresholds[f1[:-1].argmax()])
    return FixedThresholdClassifier(model, threshold=threshold).fit(x, y)


@keel.step
def evaluate(model: FixedThresholdClassifier, test: keel.Frame[Features]) -> dict[str, float]:
    """Held-out quality (these become the run's metrics: evaluate.auc, ...)."""
    frame = test.to_polars()
    truth = frame["defaulted"].to_numpy()
    x = frame.select(FEATURES).to_numpy()
    scores = model.predict_proba(x)[:, 1]
    flagged = model.predict(x)
    auc = roc_auc_score(truth, scores) if len(set(truth)) > 1 else math.nan
    return {
        "auc": float(auc),
        "log_loss": float(log_loss(truth, scores, labels=[0, 1])),
        "accuracy": float(accuracy_score(truth, flagged)),
        "f1": float(f1_score(truth, flagged, zero_division=0.0)),
        "threshold": float(model.threshold),
    }


@keel.pipeline
def training(
    source: Path = Path("loans.csv"), test_fraction: float = 0.25, c: float = 1.0, seed: int = 0
) -> None:
    """Loans in, a default model and its held-out metrics out."""
    loans = validate(ingest(source))
    train_rows, test_rows = split(loans, test_fraction=test_fraction, seed=seed)
    model = train(featurize(train_rows), c=c)
    evaluate(model, featurize(test_rows))
