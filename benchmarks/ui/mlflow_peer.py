"""The MLflow side of ``bench_ui.py``: the same runs in MLflow's SQLite store, ``mlflow server``.

Runs in MLflow's own virtualenv (``bash benchmarks/setup.sh ui`` makes ``.venv-bench-ui``),
never in Keel's; ``bench_ui.py`` starts it and prints both sides together. Two commands:

- ``build DIR --runs N``: N runs in ``DIR/mlflow.db`` with the params and metrics that
  ``bench_ui.build`` logs into Keel (same names, same values; see :func:`build`);
- ``measure DIR --repeat N``: starts ``mlflow server`` over it (one worker, as ``keel ui`` is
  one process) and prints, as JSON, the cold start, resident memory, and the median wall
  time and server CPU time of the requests that match ``keel ui``'s: the REST search
  (``/api/2.0/mlflow/runs/search``) first page, ordered by a metric, filtered; the same
  search as the web UI sends it (``/ajax-api/...``, the experiment page's run table); and
  comparing 50 runs as the UI's compare page reads them (each run, and each run's history
  of the curve metric).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PARAMS = 50
METRICS = 50


def build(folder: Path, runs: int) -> None:
    """Runs are created by MLflow's store (its run rows and tags); their params, metrics and
    latest metrics go into MLflow's own tables (its ORM models) in batches of 500 runs, the
    rows ``log_batch`` writes (``log_batch`` run by run took 50 ms of CPU and 0.3 s of wall
    time per run here: an hour for 10,000). The last run is read back through MLflow."""
    import sqlalchemy as sa
    from mlflow.entities import RunStatus
    from mlflow.store.tracking.dbmodels import models
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder.mkdir(parents=True, exist_ok=True)
    store = SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"))
    # loading only (the server opens the file afresh): no fsync per commit, else a commit per
    # created run costs 40 ms of waiting on the disk here
    store.engine.dispose()
    sa.event.listen(store.engine, "connect", lambda c, _: c.execute("PRAGMA synchronous = OFF"))
    experiment = store.create_experiment("bench")
    start = time.perf_counter()
    batch: dict[str, list[dict[str, object]]] = {"params": [], "metrics": [], "latest": []}
    for i in range(runs):
        now = int(time.time() * 1000)
        run_id = store.create_run(experiment, "bench", now, [], f"run-{i}").info.run_id
        params = {f"p{k:02d}": str((i * 7 + k) % 97) for k in range(PARAMS)}
        params["model"] = ("rf", "lr", "gbm")[i % 3]
        batch["params"] += [{"key": k, "value": v, "run_uuid": run_id} for k, v in params.items()]
        values = [(f"m{k:02d}", ((i * 31 + k * 17) % 1000) / 1000, 0) for k in range(METRICS)]
        curve = [("loss", 1.0 / (s + 1 + i % 10), s) for s in range(3)]
        for key, value, step in values + curve:
            row = {"key": key, "value": value, "timestamp": now, "step": step}
            row |= {"is_nan": False, "run_uuid": run_id}
            batch["metrics"].append(row)
            if step == (2 if key == "loss" else 0):
                batch["latest"].append(row)
        if (i + 1) % 500 == 0 or i == runs - 1:
            with store.engine.begin() as conn:
                conn.execute(sa.insert(models.SqlParam.__table__), batch["params"])
                conn.execute(sa.insert(models.SqlMetric.__table__), batch["metrics"])
                conn.execute(sa.insert(models.SqlLatestMetric.__table__), batch["latest"])
                conn.execute(
                    sa.update(models.SqlRun.__table__)
                    .where(models.SqlRun.__table__.c.experiment_id == int(experiment))
                    .values(status=RunStatus.to_string(RunStatus.FINISHED), end_time=now + 1)
                )
            batch = {name: [] for name in batch}
        if i and i % 2000 == 0:
            print(f"  {i:,} runs logged ({time.perf_counter() - start:.0f} s)", flush=True)
    last = store.search_runs([experiment], "", 1, max_results=1)[0]  # as MLflow reads it back
    assert len(last.data.params) == PARAMS + 1
    assert len(last.data.metrics) == METRICS + 1
    (folder / "runs.txt").write_text(str(runs))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, body: dict[str, object] | None = None) -> tuple[float, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        content = response.read()
        assert response.status == 200, url
    return time.perf_counter() - start, content


def tree(pid: int) -> list[int]:
    """The process and all its descendants (``mlflow server`` runs uvicorn in a child)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree (children that exited included)."""
    total = 0.0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    total = 0
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def measure(folder: Path, repeat: int) -> dict[str, object]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    command += ["--default-artifact-root", str(folder / "artifacts")]
    # MLflow's background job runner (huey consumers for its GenAI jobs) is switched off: it is
    # not part of tracking, and it only adds processes and memory to MLflow's side
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    launched = time.perf_counter()
    server = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    try:
        while True:
            try:
                call(base + "/health")
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("mlflow server exited")
                time.sleep(0.01)
        cold = time.perf_counter() - launched
        cold_cpu = cpu_seconds(server.pid)
        worker = _uvicorn(server.pid)  # the process that answers: its CPU per request
        _, found = call(base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=bench")
        experiment = json.loads(found)["experiment"]["experiment_id"]

        def search(prefix: str, size: int, order: list[str], where: str = "") -> object:
            body = {"experiment_ids": [experiment], "max_results": size, "order_by": order}
            body |= {"filter": where, "run_view_type": "ACTIVE_ONLY"}
            return lambda: call(base + f"/{prefix}/2.0/mlflow/runs/search", body)

        _, newest = search("api", 50, ["attributes.start_time DESC"])()  # type: ignore[operator]
        fifty = [r["info"]["run_id"] for r in json.loads(newest)["runs"]]

        def compare() -> tuple[float, bytes]:
            # what MLflow's compare page reads: every run, and the curve metric's history
            total = 0.0
            for run_id in fifty:
                total += call(base + f"/ajax-api/2.0/mlflow/runs/get?run_id={run_id}")[0]
                history = (
                    f"/ajax-api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=loss"
                )
                total += call(base + history)[0]
            return total, b""

        where = "metrics.m03 > 0.5 and params.model = 'rf'"
        cases = {
            "first": search("api", 50, ["attributes.start_time DESC"]),
            "sorted": search("api", 50, ["metrics.m07 ASC"]),
            "filtered": search("api", 50, ["metrics.m03 ASC"], where),
            # the web UI's run table asks for 100 runs a page through /ajax-api
            "ui first": search("ajax-api", 100, ["attributes.start_time DESC"]),
            "ui sorted": search("ajax-api", 100, ["metrics.`m07` ASC"]),
            "compare": compare,
        }
        results: dict[str, object] = {}
        for label, request in cases.items():
            request()  # type: ignore[operator]  # warm-up
            used = cpu_seconds(worker)
            times = [request()[0] for _ in range(repeat)]  # type: ignore[operator]
            results[label] = {
                "wall_ms": statistics.median(times) * 1000,
                "cpu_ms": (cpu_seconds(worker) - used) / repeat * 1000,
            }
        memory = rss_mb(server.pid)
    finally:
        _stop(server)
    return {"cold_s": cold, "cold_cpu_s": cold_cpu, "rss_mb": memory, "requests": results}


def _uvicorn(pid: int) -> int:
    for member in tree(pid):
        try:
            if b"uvicorn" in Path(f"/proc/{member}/cmdline").read_bytes():
                return member
        except OSError:
            continue
    return pid


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop ``mlflow server`` and every process it started (its own process group)."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)
    except ProcessLookupError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "measure"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if args.command == "build":
        build(args.folder, args.runs)
    else:
        print(json.dumps(measure(args.folder, args.repeat)))


if __name__ == "__main__":
    main()
