"""Serving one model over HTTP: `keel serve` against `mlflow models serve` (Keel issue 7).

One scikit-learn ``LogisticRegression`` on 20 float features (seeded data) is registered in a
fresh Keel project (``prepare_keel.py``, Keel's ``.venv``) and saved as an MLflow model
(``prepare_mlflow.py``, ``.venv-bench-serve``: same data, same coefficients). Then, in
turn, each server is started on a free loopback port, waited for, checked (it must predict
what the model predicts for 20 rows), and measured by ``loadgen.py`` (a closed-loop HTTP/1.1
keep-alive load generator on uvloop, its own process) with single-row requests:

==============  ==============================================  ===========================
server          command                                         measured
==============  ==============================================  ===========================
mlflow          ``mlflow models serve -m DIR --env-manager      ``/invocations``
                local`` (uvicorn, 1 worker: its default)        (``dataframe_split``) at 16
                                                                and 64
keel            ``keel serve bench`` (1 worker, micro-batching  ``/predict`` (records) at
                on: the default)                                16 and 64, ``/invocations``
                                                                (``dataframe_split``) at 16
keel-nobatch    ``keel serve bench --no-batching``              ``/predict`` at 16 and 64
==============  ==============================================  ===========================

By default every server runs on CPU 0 and the load generator on CPU 1 (``taskset``; the
server's child processes inherit it), so that each server gets the same single core and the
generator never competes with it; ``--pin none`` lets the scheduler place everything.
Run as root, the servers and the generator run at niceness -10 (``--nice``; their sessions'
autogroups too), so that other work on a shared machine disturbs them less (the same for
every server).

Each measurement: wait (60 s at most) until other processes leave the machine quiet, 3 s of
warm-up, then a 10 s window; repeated (twice at most) when other processes used more than
0.2 CPUs during the window. The whole suite runs ``--rounds`` times (default 3), the
servers' order rotated each round; the table shows the median of the rounds. Results (every
round) are written as JSON to ``benchmarks/data/serve/`` (git-ignored). Exit status 1 when a
server's predictions differ from the model's.

    bash benchmarks/setup.sh serve                       # once: .venv-bench-serve
    python3 benchmarks/serve/bench_serve.py              # about 8 minutes on a quiet machine

Standard library only: each side runs with its own interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
KEEL_VENV = ROOT / ".venv"
SERVE_VENV = ROOT / ".venv-bench-serve"
BUSY = 0.10  # others' share of the CPUs above which the machine is not quiet
DISTURBED = 0.2  # CPUs used by other processes during a window that make it be re-run
QUIET_WAIT = 60.0
CHECK_ROWS = 20


@dataclass(frozen=True)
class Case:
    server: str  # mlflow | keel | keel-nobatch
    path: str
    bodies: str  # records.jsonl | split.jsonl
    concurrency: int

    @property
    def key(self) -> str:
        return f"{self.server} {self.path} c{self.concurrency}"


CASES = [
    Case("mlflow", "/invocations", "split.jsonl", 16),
    Case("mlflow", "/invocations", "split.jsonl", 64),
    Case("keel", "/predict", "records.jsonl", 16),
    Case("keel", "/invocations", "split.jsonl", 16),
    Case("keel", "/predict", "records.jsonl", 64),
    Case("keel-nobatch", "/predict", "records.jsonl", 16),
    Case("keel-nobatch", "/predict", "records.jsonl", 64),
]
SERVERS = ["mlflow", "keel", "keel-nobatch"]


# --- the machine ---------------------------------------------------------------------------


def machine_busy() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit: float = QUIET_WAIT) -> float:
    """Wait (at most ``limit`` s) until the machine is quiet; the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = machine_busy()
        time.sleep(1.0)
        if (machine_busy() - before) / (os.cpu_count() or 1) < BUSY:
            break
    return time.monotonic() - start


def niced(nice: int) -> list[str]:
    """The ``nice`` prefix of a command (none at 0; a negative value needs root)."""
    return ["nice", "-n", str(nice)] if nice else []


def autogroup(pid: int, nice: int) -> None:
    """Give the session of ``pid`` the niceness ``nice``: with the kernel's autogroup
    scheduling, a niceness counts only inside its session, and sessions share the CPUs
    equally, whatever their processes' niceness."""
    if nice:
        # without autogroup scheduling, or when not allowed, the plain niceness still applies
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- preparing the model -------------------------------------------------------------------


def prepare(work: Path) -> None:
    for python, script in (
        (KEEL_VENV / "bin" / "python", "prepare_keel.py"),
        (SERVE_VENV / "bin" / "python", "prepare_mlflow.py"),
    ):
        done = subprocess.run(
            [str(python), str(HERE / script), str(work)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"{script} failed:\n{done.stdout}{done.stderr}")
        print(f"  {script}: {done.stdout.strip().splitlines()[-1]}")


# --- servers -------------------------------------------------------------------------------


class Server:
    """One server process (its own session, so that its children stop with it)."""

    def __init__(self, name: str, work: Path, cpus: str | None, nice: int) -> None:
        self.name = name
        self.port = free_port()
        self.log = work / f"{name}.log"
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
        if name == "mlflow":
            # MLflow starts uvicorn by name: its venv's bin must come first on PATH
            env["PATH"] = f"{SERVE_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
            command = [str(SERVE_VENV / "bin" / "mlflow"), "models", "serve"]
            command += ["-m", str(work / "mlflow"), "--env-manager", "local"]
            command += ["-h", "127.0.0.1", "-p", str(self.port)]
            self.ready = "/ping"
            cwd = work
        else:
            command = [str(KEEL_VENV / "bin" / "keel"), "serve", "bench"]
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
            if name == "keel-nobatch":
                command.append("--no-batching")
            self.ready = "/v2/health/ready"
            cwd = work / "keel"
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        self.command = [*niced(nice), *command]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        autogroup(self.process.pid, nice)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 120.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url(self.ready), timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def predictions(payload: Any) -> list[Any]:
    """The predicted labels in a server's answer: MLflow's ``{"predictions": [...]}``, or
    Keel's (a list of values, or of records holding a ``prediction``)."""
    found = payload
    if isinstance(payload, dict):
        for key in ("predictions", "outputs", "data"):
            if key in payload:
                found = payload[key]
                break
    values = []
    for item in found:
        values.append(item.get("prediction", item) if isinstance(item, dict) else item)
    return values


def check(server: Server, work: Path) -> list[str]:
    """Problems: the server's predictions for the first rows against the model's."""
    expected = json.loads((work / "expected.json").read_text())[:CHECK_ROWS]
    problems = []
    for case in CASES:
        if case.server != server.name or case.concurrency != 16:
            continue
        bodies = (work / case.bodies).read_bytes().splitlines()[:CHECK_ROWS]
        got = []
        for body in bodies:
            try:
                got.extend(predictions(post(server.url(case.path), body)))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problems.append(f"{case.key}: {exc}")
                break
        if got != expected:
            problems.append(f"{case.key}: predicted {got[:8]}..., the model {expected[:8]}...")
    return problems


# --- measuring -----------------------------------------------------------------------------


def batch_sizes(server: Server) -> list[float]:
    """Keel's ``keel_batch_size`` histogram: [sum, count] (zeros for MLflow)."""
    if server.name == "mlflow":
        return [0.0, 0.0]
    totals = [0.0, 0.0]
    with urllib.request.urlopen(server.url("/metrics"), timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name == "keel_batch_size_sum":
                totals[0] += float(line.rsplit(" ", 1)[1])
            elif name == "keel_batch_size_count":
                totals[1] += float(line.rsplit(" ", 1)[1])
    return totals


def measure(server: Server, case: Case, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [*niced(args.nice), str(KEEL_VENV / "bin" / "python"), str(HERE / "loadgen.py")]
    command.append(server.url(case.path))
    command += ["--bodies", str(work / case.bodies), "--concurrency", str(case.concurrency)]
    command += ["--warmup", str(args.warmup), "--duration", str(args.duration)]
    command += ["--watch", str(server.process.pid)]
    if args.loadgen_cpu is not None:
        command += ["--cpu", str(args.loadgen_cpu)]
    best: dict[str, Any] | None = None
    for attempt in range(args.attempts):
        waited = wait_quiet(args.quiet_wait)
        generator = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        autogroup(generator.pid, args.nice)
        batches = batch_sizes(server)
        stdout, stderr = generator.communicate()
        batches = [b - a for a, b in zip(batches, batch_sizes(server), strict=True)]
        if generator.returncode != 0:
            raise RuntimeError(f"loadgen failed on {case.key}:\n{stderr}")
        result = json.loads(stdout)
        result["waited"] = waited
        # Keel's mean records per predict call over warm-up and window, from its /metrics
        result["mean_batch"] = batches[0] / batches[1] if batches[1] else None
        result["attempt"] = attempt + 1
        if best is None or result["others_cpu"] < best["others_cpu"]:
            best = result
        if result["others_cpu"] <= DISTURBED:
            break
    assert best is not None
    return best


def run_round(number: int, work: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    order = SERVERS[number % len(SERVERS) :] + SERVERS[: number % len(SERVERS)]
    order = [name for name in order if name in args.servers]
    results: dict[str, dict[str, Any]] = {}
    for name in order:
        server = Server(name, work, args.server_cpus, args.nice)
        try:
            ready = server.wait_ready()
            problems = check(server, work)
            if problems:
                print("\n".join(f"  PREDICTIONS DIFFER: {p}" for p in problems))
                args.failed = True
            for case in CASES:
                if case.server != name or case.concurrency not in args.concurrency:
                    continue
                result = measure(server, case, work, args)
                result["ready_seconds"] = ready
                results[case.key] = result
                print(
                    f"  round {number + 1}  {case.key:<32} {result['rps']:8.0f} req/s"
                    f"  p50 {result['p50_ms']:6.1f}  p99 {result['p99_ms']:6.1f} ms"
                    f"  errors {result['errors']}  server CPU {result['server_cpu_share']:.2f}"
                    f"  loadgen CPU {result['cpu_share']:.2f}  others {result['others_cpu']:.2f}"
                    + (f"  batch {result['mean_batch']:.1f}" if result["mean_batch"] else ""),
                    flush=True,
                )
        finally:
            server.stop()
    return results


# --- reporting -----------------------------------------------------------------------------


def median_of(rounds: list[dict[str, dict[str, Any]]], key: str, field: str) -> float:
    return statistics.median(r[key][field] for r in rounds if key in r)


def report(rounds: list[dict[str, dict[str, Any]]]) -> list[str]:
    keys = [c.key for c in CASES if any(c.key in r for r in rounds)]
    mlflow16 = "mlflow /invocations c16"
    base = {16: mlflow16, 64: "mlflow /invocations c64"}
    lines = [
        "| server | endpoint | concurrency | requests/s | p50 ms | p90 ms | p99 ms | errors"
        " | server CPU | load generator CPU | others' CPU | records per predict call"
        " | ÷ MLflow (req/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in keys:
        server, path, conc = key.split(" ")
        concurrency = int(conc[1:])
        rps = median_of(rounds, key, "rps")
        ratio = "—"
        if base[concurrency] in keys and not server.startswith("mlflow"):
            ratio = f"{rps / median_of(rounds, base[concurrency], 'rps'):.2f}x"
        errors = sum(r[key]["errors"] for r in rounds if key in r)
        batch = "—" if server == "mlflow" else f"{median_of(rounds, key, 'mean_batch'):.1f}"
        lines.append(
            f"| {server} | `{path}` | {concurrency} | {rps:,.0f} "
            f"| {median_of(rounds, key, 'p50_ms'):.1f} | {median_of(rounds, key, 'p90_ms'):.1f} "
            f"| {median_of(rounds, key, 'p99_ms'):.1f} | {errors} "
            f"| {median_of(rounds, key, 'server_cpu_share'):.2f} "
            f"| {median_of(rounds, key, 'cpu_share'):.2f} "
            f"| {median_of(rounds, key, 'others_cpu'):.2f} | {batch} | {ratio} |"
        )
    lines.append("")
    lines += targets(rounds, keys)
    return lines


def targets(rounds: list[dict[str, dict[str, Any]]], keys: list[str]) -> list[str]:
    lines = []
    mlflow = "mlflow /invocations c16"

    def med(key: str, field: str) -> float:
        return median_of(rounds, key, field)

    for keel in ("keel /predict c16", "keel /invocations c16"):
        if mlflow in keys and keel in keys:
            ratio = med(keel, "rps") / med(mlflow, "rps")
            p99, mp99 = med(keel, "p99_ms"), med(mlflow, "p99_ms")
            met = "met" if ratio >= 2 and p99 < mp99 else "MISSED"
            lines.append(
                f"- {keel} vs MLflow: {ratio:.2f}x the requests/s (target >= 2x), p99 "
                f"{p99:.1f} ms vs {mp99:.1f} ms (target lower): {met}"
            )
    on, off = "keel /predict c64", "keel-nobatch /predict c64"
    if on in keys and off in keys:
        ratio = med(on, "rps") / med(off, "rps")
        met = "met" if ratio >= 5 else "MISSED"
        lines.append(
            f"- micro-batching at concurrency 64: {ratio:.2f}x the requests/s of "
            f"--no-batching (target >= 5x): {met}"
        )
    return lines


def versions() -> dict[str, str]:
    script = (
        "import json, importlib.metadata as m\n"
        "names = ['mlflow', 'mlkeel', 'fastapi', 'starlette', 'uvicorn', 'uvloop', 'httptools',"
        " 'scikit-learn', 'numpy', 'pandas', 'orjson', 'polars']\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    found = {}
    for venv in (KEEL_VENV, SERVE_VENV):
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-c", script],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            found[venv.name] = json.loads(done.stdout)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"python": platform.python_version(), "commit": commit, "serve": fingerprint(), **found}


def fingerprint() -> str:
    """A digest of src/keel/serve/*.py: which server code was measured (it may be uncommitted)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "keel" / "serve").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--servers", default=",".join(SERVERS), help="mlflow,keel,keel-nobatch")
    parser.add_argument("--concurrency", default="16,64", help="which concurrencies")
    parser.add_argument(
        "--pin",
        default="0/1",
        help="SERVER_CPUS/LOADGEN_CPU for taskset (default 0/1), or none",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=QUIET_WAIT, help="seconds to wait for a quiet machine"
    )
    parser.add_argument(
        "--attempts", type=int, default=3, help="tries per measurement when others disturb it"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10 if os.geteuid() == 0 else 0,
        help="niceness of the servers and the load generator (default -10 as root, else 0)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args()
    args.servers = [s for s in args.servers.split(",") if s]
    args.concurrency = {int(c) for c in args.concurrency.split(",")}
    if args.pin == "none":
        args.server_cpus, args.loadgen_cpu = None, None
    else:
        cpus, _, loadgen = args.pin.partition("/")
        args.server_cpus, args.loadgen_cpu = cpus, int(loadgen)
    args.failed = False
    return args


def main() -> None:
    args = parse()
    for venv in (KEEL_VENV, SERVE_VENV):
        if not (venv / "bin" / "python").exists():
            sys.exit(f"{venv} is missing: run `bash benchmarks/setup.sh serve` first")
    info = versions()
    print(f"versions: {json.dumps(info)}")
    print(
        f"pinning: server CPUs {args.server_cpus}, load generator CPU {args.loadgen_cpu};"
        f" niceness {args.nice}"
    )
    # stopped by SIGTERM (a timeout): still stop the servers and remove the folder
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="keel-serve-bench-"))
    rounds = []
    try:
        print(f"preparing the model in {work}")
        prepare(work)
        for number in range(args.rounds):
            rounds.append(run_round(number, work, args))
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    lines = report(rounds)
    if fingerprint() != info["serve"]:
        lines.append(
            "- WARNING: src/keel/serve changed during the run; the rounds measured different code"
        )
    print()
    print(f"median of {len(rounds)} rounds, {args.duration:.0f} s windows:")
    print("\n".join(lines))
    out = ROOT / "benchmarks" / "data" / "serve"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    saved = {"versions": info, "pin": args.pin, "nice": args.nice, "rounds": rounds, "table": lines}
    (out / f"results-{stamp}.json").write_text(json.dumps(saved, indent=1))
    print(f"\nresults: {out / f'results-{stamp}.json'}")
    if args.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
