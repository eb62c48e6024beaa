"""The loans contract as the data team reviewed it: the Python form of the handoff."""

from __future__ import annotations

import datetime as dt

import keel

STATES = ["CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO"]


class Loan(keel.Schema, contract_name="loans"):
    """One approved loan application, as the scoring model receives it."""

    loan_id: keel.Column[int] = keel.Field(unique=True)
    age: keel.Column[int] = keel.Field(ge=18, le=100)
    income: keel.Column[float | None] = keel.Field(ge=0, description="yearly, USD")
    amount: keel.Column[float] = keel.Field(gt=0)
    state: keel.Column[keel.Categorical] = keel.Field(isin=STATES)
    email: keel.Column[str] = keel.Field(pattern=r"^[^@\s]+@[^@\s]+$")
    q10: keel.Column[float] = keel.Field(ge=0, le=1)
    q50: keel.Column[float] = keel.Field(ge=0, le=1)
    q90: keel.Column[float] = keel.Field(ge=0, le=1)
    opened: keel.Column[dt.date]
    defaulted: keel.Column[bool]

    rules = (keel.rows(min=100), keel.null_fraction("income", max=0.05))

    @keel.rule
    def quantiles_ordered(cls) -> keel.Check:
        return keel.ordered(cls.q10, cls.q50, cls.q90)

    @keel.rule
    def amount_grows_with_income(cls) -> keel.Check:
        return keel.correlated(cls.income, cls.amount, min=0.0)
