"""A misspelled column is a type error."""

import keel


class Loan(keel.Schema):
    income: keel.Column[float | None]

    @keel.rule
    def positive(cls) -> keel.Check:
        return keel.expression(
            cls.incme >= 0
        )  # E: "Loan" has no attribute "incme"; maybe "income"?


Loan.incme  # E: "type[Loan]" has no attribute "incme"
