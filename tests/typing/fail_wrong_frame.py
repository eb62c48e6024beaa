"""A Frame[A] where a Frame[B] is expected is a type error."""

import polars as pl

import keel


class Loan(keel.Schema):
    id: int


class Features(keel.Schema):
    x: float


def train(data: keel.Frame[Features]) -> None: ...


train(Loan.validate(pl.DataFrame()))  # E: Argument 1 to "train" has incompatible type "Frame[Loan]"; expected "Frame[Features]"
