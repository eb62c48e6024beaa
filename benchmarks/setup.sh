#!/usr/bin/env bash
# Create the benchmark virtualenvs (idempotent: a stamp file records what was installed).
#
#   .venv-bench     pandera (Polars and pandas backends), dataframely, and Keel itself
#                   (editable), on the same Polars version as Keel's own .venv
#   .venv-bench-ge  Great Expectations 1.x (kept apart: it brings many dependencies of its own)
#   .venv-bench-store  mlflow-skinny and DVC, scikit-learn, skops and pandas (the registry
#                   benchmark), and Keel itself (editable)
#   .venv-bench-monitor  Evidently 0.7 and NannyML (the monitoring benchmark's peers; both
#                   need pandas < 3, so they are kept apart from Keel's pandas 3)
#   .venv-bench-serve  full MLflow (its scoring server, `mlflow models serve`) and
#                   scikit-learn at the version of Keel's .venv (the serving benchmark)
#   .venv-bench-features  Feast with its DuckDB offline store (the feature store benchmark)
#   .venv-bench-ui  full MLflow (its tracking server and web UI, `mlflow server`) over a SQLite
#                   store (the `keel ui` benchmark's peer; Keel's side runs in Keel's .venv)
#
# Keel's own virtualenv (.venv, made by the project's install step) runs Keel and the
# hand-written query; without it the benchmark uses .venv-bench for them.
#
# Usage: bash benchmarks/setup.sh [--force] [bench|ge|store|monitor|serve|features|ui ...]   (default: all seven)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
FORCE=""
ONLY=()
for arg in "$@"; do
    case "$arg" in
        --force) FORCE="--force" ;;
        bench | ge | store | monitor | serve | features | ui) ONLY+=("$arg") ;;
        *) echo "usage: bash benchmarks/setup.sh [--force] [bench|ge|store|monitor|serve|features|ui ...]" >&2; exit 2 ;;
    esac
done

wanted() {  # wanted NAME: no names given, or NAME among them
    [ "${#ONLY[@]}" -eq 0 ] || [[ " ${ONLY[*]} " == *" $1 "* ]]
}

# Pinned peers: the versions the figures in benchmarks/README.md were measured with.
PANDERA="pandera[polars,pandas]==0.35.0"
DATAFRAMELY="dataframely==3.1.2"
GREAT_EXPECTATIONS="great-expectations==1.24.1"
MLFLOW="mlflow-skinny==3.17.2"
DVC="dvc==3.67.1"
# the registry benchmark's model stack, at the versions of Keel's own .venv
SKLEARN="scikit-learn==1.9.1"
SKOPS="skops==0.16.0"
PANDAS="pandas==3.1.1"
# the monitoring benchmark's peers (pandas < 3: neither supports pandas 3 yet)
EVIDENTLY="evidently==0.7.23"
NANNYML="nannyml==0.13.1"
PANDAS2="pandas<3"
# the serving benchmark's peer: full MLflow, for its scoring server (uvicorn + FastAPI)
MLFLOW_SERVE="mlflow==3.17.2"
# the feature store benchmark's peer
FEAST="feast[duckdb]==0.67.0"
# the web UI benchmark's peer: full MLflow, for `mlflow server` (its REST API and web UI)
MLFLOW_UI="mlflow==3.17.2"

polars_pin() {
    # the Polars of Keel's venv, so that every Polars tool runs the same engine
    if [ -x "$ROOT/.venv/bin/python" ]; then
        local v
        v="$("$ROOT/.venv/bin/python" -c 'import polars; print(polars.__version__)' 2>/dev/null || true)"
        [ -n "$v" ] && { echo "polars==$v"; return; }
    fi
    echo "polars"
}

make_venv() {  # make_venv DIR STAMP_TEXT PACKAGE...
    local dir="$1" stamp_text="$2"
    shift 2
    local stamp="$dir/.keel-bench-stamp"
    if [ "$FORCE" != "--force" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ]; then
        echo "$dir is up to date"
        return
    fi
    echo "creating $dir"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    echo "$stamp_text" > "$stamp"
}

POLARS="$(polars_pin)"
PYPROJECT_HASH="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"

DIRS=()
if wanted bench; then
    make_venv "$ROOT/.venv-bench" "v1 $POLARS $PANDERA $DATAFRAMELY pyproject:$PYPROJECT_HASH" \
        "$POLARS" "$PANDERA" "$DATAFRAMELY" pandas pyarrow numpy -e "$ROOT"
    DIRS+=(.venv-bench)
fi
if wanted ge; then
    make_venv "$ROOT/.venv-bench-ge" "v1 $GREAT_EXPECTATIONS" \
        "$GREAT_EXPECTATIONS" pandas pyarrow
    DIRS+=(.venv-bench-ge)
fi
if wanted store; then
    make_venv "$ROOT/.venv-bench-store" \
        "v2 $MLFLOW $DVC $SKLEARN $SKOPS $PANDAS pyproject:$PYPROJECT_HASH" \
        "$MLFLOW" "$DVC" "$SKLEARN" "$SKOPS" "$PANDAS" -e "$ROOT"
    DIRS+=(.venv-bench-store)
fi
if wanted monitor; then
    make_venv "$ROOT/.venv-bench-monitor" "v1 $EVIDENTLY $NANNYML $PANDAS2" \
        "$EVIDENTLY" "$NANNYML" "$PANDAS2" pyarrow
    DIRS+=(.venv-bench-monitor)
fi
if wanted serve; then
    make_venv "$ROOT/.venv-bench-serve" "v1 $MLFLOW_SERVE $SKLEARN $PANDAS" \
        "$MLFLOW_SERVE" "$SKLEARN" "$PANDAS"
    DIRS+=(.venv-bench-serve)
fi

if wanted features; then
    make_venv "$ROOT/.venv-bench-features" "v1 $FEAST" "$FEAST"
    DIRS+=(.venv-bench-features)
fi
if wanted ui; then
    make_venv "$ROOT/.venv-bench-ui" "v1 $MLFLOW_UI" "$MLFLOW_UI"
    DIRS+=(.venv-bench-ui)
fi

for dir in "${DIRS[@]}"; do
    "$ROOT/$dir/bin/python" - "$dir" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
names = ["polars", "pandera", "dataframely", "mlkeel", "great_expectations", "pandas", "pyarrow",
         "mlflow", "mlflow-skinny", "dvc", "scikit-learn", "skops", "evidently", "nannyml",
         "feast", "duckdb"]
found = []
for name in names:
    try:
        found.append(f"{name} {version(name)}")
    except PackageNotFoundError:
        pass
print(f"{sys.argv[1]}: " + ", ".join(found))
EOF
done
