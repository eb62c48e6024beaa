"""The demo's applicant features (keel.toml: ``[features] definitions = "features.py"``).

Two views over the applicant history make_sample.py writes to data/: monthly credit-bureau
reports (seen by the bureau at ``event_time``, delivered to us at ``created_at``) and
fortnightly account activity; a derived feature from two request fields; and the service
the default model reads. There is no apply step: every ``keel features`` command reads this
file afresh.
"""

from __future__ import annotations

import datetime as dt

import keel
from keel.features import derived

applicant = keel.Entity("applicant", keys={"applicant_id": int})


class BureauReport(keel.Schema):
    """One monthly credit-bureau report about an applicant."""

    applicant_id: int
    event_time: dt.datetime
    created_at: dt.datetime
    credit_score: float = keel.Field(ge=300, le=850)
    delinquencies_12m: int = keel.Field(ge=0)
    open_loans: int = keel.Field(ge=0)


class Activity(keel.Schema):
    """An applicant's account activity, every two weeks."""

    applicant_id: int
    event_time: dt.datetime
    missed_payments_90d: int = keel.Field(ge=0)
    avg_balance: float = keel.Field(ge=0)


bureau = keel.FeatureView(
    "bureau",
    entity=applicant,
    source="data/bureau.parquet",
    schema=BureauReport,
    event_time="event_time",
    created_time="created_at",
    ttl="45d",  # a report a month: older than 45 days means the bureau stopped reporting
)

activity = keel.FeatureView(
    "activity",
    entity=applicant,
    source="data/activity.parquet",
    schema=Activity,
    event_time="event_time",
    ttl="30d",
)


@derived
def debt_to_income(amount: float, income: float) -> float:
    """The loan asked for over the yearly income (both request fields of the application)."""
    return amount / income


loan_scoring = keel.FeatureService("loan_scoring", features=[bureau, activity, debt_to_income])
