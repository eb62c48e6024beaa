"""A misspelled column is a type error."""

import keel


class Loan(keel.Schema):
    income: keel.Column[float | None]

    @keel.rule
    def positive(cls) -> keel.Check:
        wrong = cls.incme  # E: "Loan" has no attribute "incme"; maybe "income"?
        return keel.expression(wrong >= 0)


Loan.incme  # E: "type[Loan]" has no attribute "incme"
