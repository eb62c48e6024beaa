"""Keel's end-to-end demo (``make demo``). Grows with each capability.

Data contracts: infer a contract from the shipped sample, validate today's clean batch
(passes) and a corrupted batch (a report of every failure), validate against the reviewed
class-based contract, and classify the changes between the two contracts. Versioning:
register both batches as dataset versions and track two training runs. Pipelines: check
and run ingest -> validate -> split -> featurize -> train -> evaluate on the registered
batch, run it again (fully cached), and print the lineage of the trained model. Models:
register, gate and evaluate them; compare a drifted month with the training data. Serving
(serving.py): serve the champion, send traffic with a drifted segment and bad requests,
roll out a faulty retrained challenger as a canary that the guardrails roll back on their
own, and monitor the prediction log. Feature store (feature_store.py): the applicant
features as views over timestamped history, a point-in-time training set beside what a naive
join leaks, materialized and looked up online; the model served with online lookup (requests
carry an applicant id and the form's fields), and the skew a materialization lag causes.
Quality at a glance: the KPIs (keel kpis) and the whole project as a static web site (keel
ui --export). Safety: a dataset restore refuses to overwrite what is at its destination, and
a run whose process was SIGKILLed is shown as killed.

The data has a planted, documented signal and drift (make_sample.py), so the figures are
true: the closing summary states the champion's held-out AUC and F1, what the gate's
decision rested on, and what the naive feature join leaked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.rule import Rule

sys.path.insert(0, str(Path(__file__).parent))
from feature_store import (  # steps 15-18: the feature store
    Leakage,
    feature_store,
    serve_with_online_features,
)
from make_sample import next_month  # the planted drift
from schemas import Loan  # the demo's reviewed contract, beside this script
from serving import serve_and_monitor  # steps 11-14: serving, canary, monitoring

HERE = Path(__file__).parent
OUT = Path.cwd() / "demo-output"
console = Console()


def keel(*args: str, expect: int = 0) -> str:
    """Run one ``keel`` command as a user would, show it, and check its exit code."""
    console.print(f"\n[bold cyan]$ keel {' '.join(args)}[/]")
    done = subprocess.run(
        [sys.executable, "-m", "keel", *args], capture_output=True, text=True, cwd=OUT, check=False
    )
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode != expect:
        console.print(f"[bold red]expected exit {expect}, got {done.returncode}[/]")
        sys.exit(1)
    console.print(f"[dim](exit {done.returncode}, as expected)[/]")
    return done.stdout


def batches(sample: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Today's batch (drawn from the sample's population) and a corrupted copy of it.

    1,000 rows: the pipeline holds 250 out, enough for the gate to tell models apart."""
    clean = sample.sample(1_000, seed=1, shuffle=True)
    bad = clean.with_row_index("_i").with_columns(
        age=pl.when(pl.col("_i") == 3).then(7).otherwise(pl.col("age")),
        income=pl.when(pl.col("_i") == 5).then(-100.0).otherwise(pl.col("income")),
        state=pl.when(pl.col("_i").is_in([8, 9])).then(pl.lit("ZZ")).otherwise(pl.col("state")),
        email=pl.when(pl.col("_i") == 11).then(pl.lit("not-an-email")).otherwise(pl.col("email")),
        q10=pl.when(pl.col("_i") == 12).then(pl.col("q90")).otherwise(pl.col("q10")),
        loan_id=pl.when(pl.col("_i") == 20)
        .then(pl.col("loan_id").first())
        .otherwise(pl.col("loan_id")),
        amount=pl.when(pl.col("_i") == 30).then(None).otherwise(pl.col("amount")),
    )
    return clean, bad.drop("_i")


def models_and_monitoring(clean: pl.DataFrame) -> None:
    """Register, gate and evaluate the pipeline's models; then watch the data drift."""
    console.print(Rule("9. Register the trained models; gate each against the champion"))
    register_models()
    gate = ["--data", "holdout.parquet", "--target", "defaulted", "--promote"]
    keel("models", "gate", "loans-default", "--candidate", "1", *gate)  # first: no baseline
    keel("models", "gate", "loans-default", "--candidate", "2", *gate, expect=GATE_V2)
    keel(
        "models", "evaluate", "loans-default@champion", "--data", "holdout.parquet",
        "--target", "defaulted", "--slice", "state_ca", "--html", "model-report.html",
    )  # fmt: skip
    keel("models", "history", "loans-default")

    console.print(Rule("10. A month later: the applicants changed. Monitoring says which way"))
    drifted(clean).write_parquet(OUT / "batch_next_month.parquet")
    keel(
        "monitor", "compare", "batch_clean.parquet", "batch_next_month.parquet",
        "--contract", "schemas.py:Loan", "--html", "drift-report.html", expect=1,
    )  # fmt: skip
    console.print(f"[bold]Drift report:[/] {OUT / 'drift-report.html'}")


def drifted(batch: pl.DataFrame) -> pl.DataFrame:
    """Next month's applicants: richer, asking for more, a third from Texas, where defaults
    rose (same contract; outcomes drawn from the planted model, make_sample.next_month)."""
    return next_month(batch)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    shutil.copy(HERE / "schemas.py", OUT / "schemas.py")
    shutil.copy(HERE / "pipeline.py", OUT / "pipeline.py")
    sample_path = HERE / "data" / "loans_sample.csv"
    clean, bad = batches(pl.read_csv(sample_path, try_parse_dates=True))
    clean.write_parquet(OUT / "batch_clean.parquet")
    bad.write_parquet(OUT / "batch_corrupted.parquet")

    console.print(Rule("Keel demo · data contracts"))
    keel("--version")
    keel("init", ".", "--name", "loans-demo")

    console.print(Rule("1. Infer a contract from the shipped sample (2,000 rows)"))
    keel("contract", "infer", str(sample_path), "-o", "contract.yaml", "--name", "loans")
    console.print((OUT / "contract.yaml").read_text())

    console.print(Rule("2. Today's batch passes"))
    keel("validate", "contract.yaml", "batch_clean.parquet")

    console.print(Rule("3. A corrupted batch: every failure, with failing rows"))
    keel("validate", "contract.yaml", "batch_corrupted.parquet", expect=1)

    console.print(Rule("4. The reviewed contract (Python class with cross-column rules)"))
    keel("validate", "schemas.py:Loan", "batch_corrupted.parquet", "--examples", "2", expect=1)

    console.print(Rule("5. What changed between the inferred and the reviewed contract?"))
    keel("contract", "export", "schemas.py:Loan", "--to", "yaml", "-o", "reviewed.yaml")
    keel("contract", "diff", "contract.yaml", "reviewed.yaml", expect=1)

    console.print(Rule("6. Versioned data and tracked runs"))
    keel("data", "add", "batch_clean.parquet", "--name", "loans", "--contract", "schemas.py:Loan")
    corrupted = ("batch_corrupted.parquet", "--name", "loans", "--contract", "schemas.py:Loan")
    keel("data", "add", *corrupted, expect=1)  # registered as failing: exit 1
    keel("data", "list", "loans")
    ids = [train(clean, smoothing) for smoothing in (0.0, 10.0)]
    keel("runs", "compare", *ids)

    console.print(Rule("7. A pipeline: wiring checked, then run, then run again (all cached)"))
    keel("check", "pipeline.py:training")
    source = ["--param", "source=batch_clean.parquet"]
    keel("run", "pipeline.py:training", *source)
    keel("run", "pipeline.py:training", *source)
    keel("run", "pipeline.py:training", *source, "--param", "c=0.1")  # only train, evaluate
    console.print(Rule("8. Where did the model come from? (lineage of the last run's train step)"))
    from keel.tracking import open_project

    last = open_project(OUT).metadata.list_runs(limit=1)[0].id
    keel("lineage", f"{last[:8]}:train")

    safety()
    models_and_monitoring(clean)
    served = clean.head(500)  # half the batch is enough traffic, and keeps the demo short
    serve_and_monitor(OUT, keel, _features, served, drifted(served))
    keel("runs", "list")
    leakage = feature_store(OUT, keel)
    serve_with_online_features(OUT, keel, leakage)
    quality_at_a_glance()
    summary(leakage)
    console.print(Rule("Demo finished: outputs in demo-output/"))


def summary(leakage: Leakage) -> None:
    """The figures the demo's story rests on, read back from the registry."""
    from keel.tracking import open_project

    console.print(Rule("Summary: what the figures say"))
    models = open_project(OUT).metadata.models
    champion = models.get_version("loans-default", 1).metrics
    healthy = 1 - float(pl.read_parquet(OUT / "holdout.parquet")["defaulted"].mean() or 0)
    over = models.get_version("loans-default", 2).metrics
    gate = next(
        e for e in reversed(models.events("loans-default")) if e.kind == "gate" and e.version == 2
    )
    auc_check = next(c for c in gate.detail["checks"] if c["name"] == "auc.significance")
    lines = [
        f"champion (version 1, C=1.0): held-out AUC {champion['auc']:.3f}, F1 "
        f"{champion['f1']:.3f} at threshold {champion['threshold']:.2f} (accuracy "
        f"{champion['accuracy']:.3f}; flagging no loan at all would score {healthy:.3f})",
        f"version 2 (C=0.1): held-out AUC {over['auc']:.3f}, F1 {over['f1']:.3f}; the gate "
        f"refused it: {auc_check['detail']}",
        f"feature store: point-in-time AUC {leakage.honest_auc:.3f}; the naive join leaked "
        f"future rows into {leakage.leaked_rows:,} of {leakage.rows:,} applications and "
        f"reported AUC {leakage.naive_reported_auc:.3f}, which is {leakage.naive_real_auc:.3f} "
        "on what serving sees",
    ]
    for line in lines:
        console.print(f"- {line}", highlight=False)


def quality_at_a_glance() -> None:
    """The KPIs CI would hold the project to, and the whole project as a static web site."""
    console.print(Rule("19. Is this ML system healthy? KPIs, and keel ui"))
    keel("kpis", expect=1)  # the corrupted batch failed its contract: red, as CI would see
    keel("ui", "--export", "ui-site")
    console.print(
        f"[bold]Web UI:[/] open {OUT / 'ui-site' / 'index.html'}, or run "
        f"[bold]cd {OUT} && keel ui[/] and browse http://127.0.0.1:8765"
    )


def safety() -> None:
    """Nothing a user owns is lost: restores never overwrite, killed runs are marked."""
    console.print(Rule("8b. Restoring data never overwrites what is there; killed runs say so"))
    keel("data", "get", "loans@1", "restored.parquet", expect=2)  # old form: names loans/1
    keel("data", "get", "loans/1", "restored.parquet")
    keel("data", "get", "loans/1", "restored.parquet", expect=2)  # occupied: refused
    keel("data", "get", "loans/1", "restored.parquet", "--force")  # regular files only
    script = (
        "import time, keel\n"
        "with keel.start_run('crashes'):\n"
        "    print('started', flush=True)\n"
        "    time.sleep(60)\n"
    )
    crashing = subprocess.Popen(
        [sys.executable, "-c", script], cwd=OUT, stdout=subprocess.PIPE, text=True
    )
    assert crashing.stdout is not None
    crashing.stdout.readline()  # the run is recorded as running
    crashing.kill()  # SIGKILL: no chance to record its end
    crashing.wait()
    shown = keel("runs", "list", "--format", "json")
    assert '"killed"' in shown, "a SIGKILLed run must be shown as killed"


# C=0.1 shrinks the unscaled features' weights until most of the signal is gone: on the same
# 250 held-out rows its AUC is clearly lower (DeLong's interval of the difference is below
# zero), so the default policy (at most 0.01 worse, shown non-inferior) refuses it (exit 1).
GATE_V2 = 1


def register_models() -> None:
    """Register the models of the last two pipeline runs (C=1.0, then C=0.1)."""
    import os

    import keel as kl
    from keel.pipelines import load_pipeline, run_pipeline
    from keel.tracking import open_project

    here = Path.cwd()
    os.chdir(OUT)  # the pipeline reads its data relative to the project
    try:
        project = open_project(OUT)
        training = load_pipeline("pipeline.py:training")
        for c in (1.0, 0.1):
            result = run_pipeline(training, {"source": Path("batch_clean.parquet"), "c": c},
                                  project=project)  # fmt: skip
            if c == 1.0:
                result.value("featurize_2").write_parquet(OUT / "holdout.parquet")
            version = kl.register(
                result.value("train"),
                "loans-default",
                contract=_model_input(),
                run=result.run_id,
                metrics=result.value("evaluate"),
                description=f"logistic regression, C={c}",
                reference=result.value("featurize"),  # monitoring compares with it
                project=project,
            )
            console.print(f"registered loans-default version {version.version} (C={c})")
    finally:
        os.chdir(here)


def _pipeline_module() -> Any:
    """The demo's pipeline module, as keel loaded it from pipeline.py."""
    return next(m for n, m in sys.modules.items() if n.startswith("keel_pipeline_pipeline"))


def _model_input() -> type:
    """The pipeline module's ModelInput schema: the registered model's input contract."""
    found: type = _pipeline_module().ModelInput
    return found


def _features(batch: pl.DataFrame) -> pl.DataFrame:
    """The pipeline's featurize step, called as a plain function on a batch of applicants."""
    frame: pl.DataFrame = _pipeline_module().featurize(Loan.validate(batch)).to_polars()
    return frame


def train(batch: pl.DataFrame, smoothing: float) -> str:
    """A deliberately tiny model (default rate per state), recorded as a run."""
    import keel as kl
    from keel.tracking import open_project

    with kl.start_run(
        "default-rate", params={"smoothing": smoothing}, seed=0, project=open_project(OUT)
    ) as run:
        run.use_dataset("loans/1")  # the clean batch, versioned above
        Loan.validate(batch)  # the reviewed contract guards the training input
        overall = batch["defaulted"].mean()
        rates = batch.group_by("state").agg(
            ((pl.col("defaulted").sum() + smoothing * overall) / (pl.len() + smoothing)).alias(
                "rate"
            )
        )
        scored = batch.join(rates, on="state")
        brier = ((scored["rate"] - scored["defaulted"].cast(pl.Float64)) ** 2).mean()
        run.log_metrics({"brier": float(brier), "base_rate": float(overall)})
        run.log_artifact(dict(zip(rates["state"], rates["rate"], strict=True)), "rates.json")
    return run.id


if __name__ == "__main__":
    main()
