"""The churn models of the model and drift journeys: trained on the README's ``curl`` fields
(age, income, rate), with a planted signal so that evaluation and the gate see a real
difference between a model of noise and a model of the signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import keel
from keel.models import save_model


class Customer(keel.Schema):
    age: keel.Column[int] = keel.Field(ge=18, le=100)
    income: keel.Column[float] = keel.Field(ge=0)
    rate: keel.Column[float] = keel.Field(ge=0, le=1)


FEATURES = ["age", "income", "rate"]


def customers(rows: int, seed: int, *, rate_shift: float = 0.0) -> pl.DataFrame:
    """Customers whose churn rises with the rate they pay (and falls with age)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    rate = np.clip(rng.uniform(0, 0.6, rows) + rate_shift, 0, 1)
    logit = 6 * (rate - 0.3) - 0.03 * (age - 45)
    churned = rng.uniform(0, 1, rows) < 1 / (1 + np.exp(-logit))
    income = np.round(rng.normal(50_000, 12_000, rows).clip(0), 2)
    return pl.DataFrame({"age": age, "income": income, "rate": rate, "churned": churned})


def fit(frame: pl.DataFrame, *, shuffled: bool = False, seed: int = 0) -> Pipeline:
    """A scaled logistic regression of churn; ``shuffled`` learns from permuted labels."""
    y = frame["churned"].to_numpy().astype(int)
    if shuffled:
        y = np.random.default_rng(seed).permutation(y)
    x = frame.select(FEATURES).to_numpy().astype(float)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)


def save(model: Pipeline, folder: Path) -> None:
    save_model(model, folder, contract=Customer)
