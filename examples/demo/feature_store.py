"""The demo's feature store part (``make demo``, steps 15-18).

The applicant features are views over timestamped history (features.py); the training set
is built point-in-time correct with ``keel features training-set`` and set beside what a
naive "latest row per applicant" join gives (rows fed from after the application, and the
AUC a model trained on them reports against the AUC it really has); then the latest
features are materialized and looked up online, as a server would. Last
(:func:`serve_with_online_features`), the honest model is registered with its feature
service and served: requests carry an applicant id and the application's fields, the
server looks the history features up online. Then new bureau reports arrive and nobody
materializes them: ``keel features skew`` replays the point-in-time join at the logged
request times and finds the stale values served since (exit 1), which a materialization
fixes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from make_sample import applicant_history
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from serving import _free_port, _wait_ready

import keel as kl

HERE = Path(__file__).parent
console = Console()
APPLICANTS = 3_000
# the model's inputs: the service's features (two views and a derived one)
FEATURES = [
    "credit_score",
    "delinquencies_12m",
    "open_loans",
    "missed_payments_90d",
    "avg_balance",
    "debt_to_income",
]
TRAIN_SHARE = 0.7  # the earliest 70% of applications train; the later 30% are held out


class ScoringInput(kl.Schema):
    """What the feature-store model reads: the service's features, looked up or derived."""

    credit_score: kl.Column[float] = kl.Field(ge=300, le=850)
    delinquencies_12m: kl.Column[int] = kl.Field(ge=0)
    open_loans: kl.Column[int] = kl.Field(ge=0)
    missed_payments_90d: kl.Column[int] = kl.Field(ge=0)
    avg_balance: kl.Column[float] = kl.Field(ge=0)
    debt_to_income: kl.Column[float] = kl.Field(gt=0)


@dataclass(frozen=True)
class Leakage:
    """What the naive join did, in numbers (the demo's closing summary states them)."""

    rows: int
    leaked_rows: int  # rows that got a feature row from after their application
    changed_rows: int  # rows whose credit score differs from the point-in-time one
    honest_auc: float  # point-in-time training, point-in-time held-out rows
    naive_reported_auc: float  # naive training, naive held-out rows: what it would report
    naive_real_auc: float  # the same model on what serving will see (point-in-time rows)


def feature_store(out: Path, keel: Callable[..., str]) -> Leakage:
    """Steps 15-17 in the project at ``out``; returns the leakage figures."""
    console.print(Rule("15. Applicant features as views; the training set, point-in-time"))
    end = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    bureau, activity, applications = write_history(out, end)
    console.print(
        f"history up to {end:%Y-%m-%d}: {bureau.height:,} bureau reports, {activity.height:,} "
        f"activity rows; {applications.height:,} loan applications (applicant, time, label)"
    )
    keel("features", "list")
    # a report reaches us 1-6 days after the bureau saw it: as known at the application
    keel(
        "features", "training-set", "data/applications.parquet", "--service", "loan_scoring",
        "--as-known-at", "-o", "training-set.parquet",
    )  # fmt: skip

    console.print(Rule("16. What a naive join (latest row per applicant) would have leaked"))
    honest = pl.read_parquet(out / "training-set.parquet")
    leakage = measure_leakage(honest, naive_join(applications, bureau, activity))
    _show(leakage)

    console.print(Rule("17. Materialize the latest features; look applicants up online"))
    keel("features", "materialize")
    for row in applications.head(2).iter_rows(named=True):
        request = [f"amount={row['amount']}", f"income={row['income']}"]
        found = keel(
            "features", "get", f"applicant_id={row['applicant_id']}", *request,
            "--service", "loan_scoring", "--format", "json",
        )  # fmt: skip
        status = json.loads(found)["status"][0]
        assert set(status.values()) == {"found"}, f"fresh history must be found: {status}"
    return leakage


def write_history(out: Path, end: datetime) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Write the applicant history up to ``end`` into the project at ``out`` (data/), with
    features.py beside it, named in keel.toml; returns (bureau, activity, applications)."""
    bureau, activity, applications = applicant_history(APPLICANTS, end)
    (out / "data").mkdir(exist_ok=True)
    bureau.write_parquet(out / "data" / "bureau.parquet")
    activity.write_parquet(out / "data" / "activity.parquet")
    applications.write_parquet(out / "data" / "applications.parquet")
    shutil.copy(HERE / "features.py", out / "features.py")
    config = out / "keel.toml"
    config.write_text(
        config.read_text().replace('# definitions = "features.py"', 'definitions = "features.py"')
    )
    return bureau, activity, applications


def naive_join(
    applications: pl.DataFrame, bureau: pl.DataFrame, activity: pl.DataFrame
) -> pl.DataFrame:
    """The join a notebook writes first: each applicant's latest row of each source."""
    latest_bureau = (
        bureau.sort("event_time")
        .group_by("applicant_id")
        .last()
        .rename({"event_time": "bureau_time"})
        .drop("created_at")
    )
    latest_activity = (
        activity.sort("event_time")
        .group_by("applicant_id")
        .last()
        .rename({"event_time": "activity_time"})
    )
    return (
        applications.join(latest_bureau, on="applicant_id", how="left")
        .join(latest_activity, on="applicant_id", how="left")
        .with_columns(debt_to_income=pl.col("amount") / pl.col("income"))
    )


def measure_leakage(honest: pl.DataFrame, naive: pl.DataFrame) -> Leakage:
    """Train the same model on both sets (earliest 70% of applications) and score it."""
    naive = naive.sort("applicant_id")
    honest = honest.sort("applicant_id")
    future = (pl.col("bureau_time") > pl.col("timestamp")) | (
        pl.col("activity_time") > pl.col("timestamp")
    )
    cut = honest["timestamp"].sort()[int(honest.height * TRAIN_SHARE)]

    def split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        early = pl.col("timestamp") < cut
        return frame.filter(early), frame.filter(~early)

    honest_train, honest_test = split(honest)
    naive_train, naive_test = split(naive)
    honest_model = fit(honest_train)
    naive_model = fit(naive_train)
    return Leakage(
        rows=honest.height,
        leaked_rows=naive.filter(future).height,
        changed_rows=int((naive["credit_score"] != honest["credit_score"]).sum()),
        honest_auc=auc(honest_model, honest_test),
        naive_reported_auc=auc(naive_model, naive_test),
        naive_real_auc=auc(naive_model, honest_test),
    )


def matrix(frame: pl.DataFrame) -> np.ndarray:
    """The model's inputs: the service's features as they are served (the model scales)."""
    values: np.ndarray = frame.select(pl.col(FEATURES).cast(pl.Float64)).to_numpy()
    return values


def fit(frame: pl.DataFrame) -> Any:
    """A scaled logistic regression on the service's features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(matrix(frame), frame["defaulted"].to_numpy())


def auc(model: Any, frame: pl.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    scores = model.predict_proba(matrix(frame))[:, 1]
    return float(roc_auc_score(frame["defaulted"].to_numpy(), scores))


def _show(leakage: Leakage) -> None:
    console.print(
        f"the naive join fed {leakage.leaked_rows:,} of {leakage.rows:,} applications a feature "
        f"row from after the application ({leakage.changed_rows:,} got another credit score)"
    )
    table = Table(title="the same model, trained on each set", title_justify="left")
    for column in ("training set", "held-out AUC it reports", "AUC on what serving sees"):
        table.add_column(column)
    table.add_row("point-in-time (keel)", f"{leakage.honest_auc:.3f}", f"{leakage.honest_auc:.3f}")
    table.add_row(
        "naive latest join",
        f"{leakage.naive_reported_auc:.3f}",
        f"{leakage.naive_real_auc:.3f}",
    )
    console.print(table)
    console.print(
        "The naive model learned the marks a default leaves afterwards (a lower score, missed "
        "payments): its validation looks perfect; at serving time those marks are not there yet."
    )


def serve_with_online_features(
    out: Path, keel: Callable[..., str], leakage: Leakage, requests: int = 100
) -> None:
    """Step 18: register the point-in-time model with its feature service, serve it with
    online lookup (requests carry keys and request fields only), then measure skew."""
    from keel.models import save_model

    console.print(Rule("18. Serve with online features: keys in, features looked up; skew"))
    honest = pl.read_parquet(out / "training-set.parquet")
    save_model(  # trained on every application; its held-out AUC is step 16's
        fit(honest), out / "loan-scoring-model", contract=ScoringInput,
        metrics={"auc": leakage.honest_auc},
    )  # fmt: skip
    keel(
        "models", "register", "loan-scoring-model", "loans-features",
        "--feature-service", "loan_scoring", "--description", "point-in-time training set",
    )  # fmt: skip
    keel("models", "alias", "loans-features", "champion", "1")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", "loans-features", "--port", str(port)],
        cwd=out,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=open(out / "serve-features.log", "w"),  # noqa: SIM115  # closed with the process
    )
    applications = pl.read_parquet(out / "data" / "applications.parquet")
    # returning applicants apply again: an id and what the form says, never the features
    asked = applications.select("applicant_id", "amount", "income").head(requests)
    late = asked.head(requests // 4)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            _wait_ready(http, server)
            for i, body in enumerate(asked.iter_rows(named=True)):
                answer = http.post("/predict", json=body)
                answer.raise_for_status()
                if i == 0:
                    console.print(f"POST /predict {json.dumps(body)} -> {answer.json()}")
            console.print(f"{asked.height} applications scored with features looked up online")
            # the bureau's next reports arrive, and nobody materializes them
            arrived = new_reports(out, late)
            console.print(f"{arrived} new bureau reports arrive; the online store is not refreshed")
            for body in late.iter_rows(named=True):
                http.post("/predict", json=body).raise_for_status()
            console.print(f"{late.height} of those applicants apply again: served stale values")
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: the prediction log is flushed
        server.wait(timeout=60)
    # every served vector (logged with its prediction) against the offline join at its time
    keel("features", "skew", "loans-features", "--since", "1h", expect=1)
    keel("features", "materialize", "bureau")  # the fix: materialize on every new file


def new_reports(out: Path, applicants: pl.DataFrame, at: datetime | None = None) -> int:
    """Append a fresh bureau report (a new loan elsewhere, a lower score) for each applicant
    to the view's source, seen ``at`` (naive UTC; default now); returns how many."""
    path = out / "data" / "bureau.parquet"
    bureau = pl.read_parquet(path)
    now = at or datetime.now(UTC).replace(tzinfo=None)
    latest = (
        bureau.filter(pl.col("applicant_id").is_in(applicants["applicant_id"].implode()))
        .sort("event_time")
        .group_by("applicant_id")
        .last()
        .with_columns(
            event_time=pl.lit(now),
            created_at=pl.lit(now),
            credit_score=(pl.col("credit_score") - 40).clip(300, 850),
            open_loans=pl.col("open_loans") + 1,
        )
        .select(bureau.columns)
    )
    pl.concat([bureau, latest.cast(bureau.schema)]).write_parquet(path)
    return latest.height
