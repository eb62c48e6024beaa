"""Train the same model for MLflow and save it as an MLflow model (``sklearn`` flavour).

Run with the serving benchmark's MLflow interpreter (``.venv-bench-serve``), after
``prepare_keel.py``, by ``bench_serve.py``::

    .venv-bench-serve/bin/python benchmarks/serve/prepare_mlflow.py WORKDIR

It fits ``LogisticRegression`` on the rows of ``WORKDIR/data.npz`` as a pandas DataFrame
with the column names ``x0`` … ``x19`` (MLflow's pyfunc hands the model a DataFrame; fitted
on a bare array, scikit-learn would warn on every request), and writes ``WORKDIR/mlflow/``
with a signature, so that ``mlflow models serve -m WORKDIR/mlflow --env-manager local``
serves it. The coefficients are those of the Keel model: same data, same solver.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

FEATURES = [f"x{i}" for i in range(20)]


def main() -> None:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    work = Path(sys.argv[1]).resolve()
    loaded = np.load(work / "data.npz")
    x = pd.DataFrame(loaded["x"], columns=FEATURES)
    model = LogisticRegression(max_iter=1_000).fit(x, loaded["y"])
    probe = pd.DataFrame(loaded["probe"], columns=FEATURES)
    predicted = model.predict(probe)
    mlflow.sklearn.save_model(
        model,
        str(work / "mlflow"),
        signature=infer_signature(probe.head(5), predicted[:5]),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
    )
    expected = json.loads((work / "expected.json").read_text())
    print(json.dumps({"same_as_keel": predicted.tolist() == expected}))


if __name__ == "__main__":
    main()
