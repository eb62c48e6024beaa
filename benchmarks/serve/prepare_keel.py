"""Train the benchmark's model, register it in a fresh Keel project, write the request bodies.

Run with Keel's interpreter (``.venv``), by ``bench_serve.py``::

    .venv/bin/python benchmarks/serve/prepare_keel.py WORKDIR

WORKDIR receives:

- ``data.npz``: the seeded training and probe rows (``prepare_mlflow.py`` trains on the same
  values), 20 float features ``x0`` … ``x19``;
- ``keel/``: a Keel project where ``bench`` version 1 (a scikit-learn ``LogisticRegression``
  fitted on the numpy array, input contract ``Features``: 20 ``float`` columns) is
  ``bench@champion``;
- ``records.jsonl``: one single-row request per line for Keel's ``/predict``
  (``[{"x0": ..., ...}]``), ``split.jsonl``: the same rows as MLflow scoring JSON
  (``{"dataframe_split": {"columns": [...], "data": [[...]]}}``) for ``/invocations``;
- ``expected.json``: the model's own predictions for those rows.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

FEATURES = [f"x{i}" for i in range(20)]
SEED = 20261127
TRAIN_ROWS = 5_000
PROBE_ROWS = 1_000


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(TRAIN_ROWS + PROBE_ROWS, len(FEATURES)))
    weights = rng.normal(size=len(FEATURES))
    y = (x @ weights + rng.normal(scale=1.0, size=len(x)) > 0).astype(np.int64)
    return x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:]


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    import keel
    from keel.config import init_project
    from keel.registry import set_alias

    work = Path(sys.argv[1]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    x, y, probe = data()
    np.savez(work / "data.npz", x=x, y=y, probe=probe)
    model = LogisticRegression(max_iter=1_000).fit(x, y)

    project = work / "keel"
    init_project(project, name="serve-bench")
    os.chdir(project)
    features = type(keel.Schema)(
        "Features",
        (keel.Schema,),
        {"__annotations__": dict.fromkeys(FEATURES, float), "__module__": __name__},
    )
    registered = keel.register(model, "bench", contract=features)
    set_alias("bench", "champion", registered.version)

    rows = probe.tolist()
    with open(work / "records.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps([dict(zip(FEATURES, row, strict=True))]) + "\n")
    with open(work / "split.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps({"dataframe_split": {"columns": FEATURES, "data": [row]}}) + "\n")
    expected = model.predict(probe).tolist()
    (work / "expected.json").write_text(json.dumps(expected))
    print(json.dumps({"version": registered.version, "rows": len(rows)}))


if __name__ == "__main__":
    main()
