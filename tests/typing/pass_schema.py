"""Must type-check cleanly: typed references, rules, frames."""

from typing import assert_type

import polars as pl

import keel


class Loan(keel.Schema):
    id: keel.Column[int] = keel.Field(unique=True)
    income: keel.Column[float | None] = keel.Field(ge=0)
    q10: keel.Column[float]
    q90: keel.Column[float]

    @keel.rule
    def quantiles(cls) -> keel.Check:
        return keel.ordered(cls.q10, cls.q90)


assert_type(Loan.income, keel.Column[float | None])
assert_type(Loan.validate(pl.DataFrame()), keel.Frame[Loan])
assert_type(Loan.check(pl.DataFrame()), keel.Report)
rule = keel.expression(Loan.q10 <= Loan.q90)


def train(data: keel.Frame[Loan]) -> int:
    return len(data)


train(Loan.validate(pl.DataFrame()))
assert_type(Loan.__contract__, keel.Contract)  # typed, no ignore needed to reach it
assert_type(Loan.__contract__.fingerprint, str)
