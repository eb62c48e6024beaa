"""Running one step, in this process, a local process pool, or on a Dask cluster.

A :class:`StepTask` carries everything a worker needs and nothing it cannot pickle: where
to import the step from, the digests of its inputs and its literal arguments, and the
artifact store's URL. The worker loads the inputs from the store (verifying them), checks
them against the step's contracts, calls the function (with retries, backoff and a
timeout), checks and stores the outputs, and returns their digests. Only then does the
scheduler record a cache entry, so a worker that dies mid-step leaves nothing half-cached.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib
import importlib.util
import json
import multiprocessing
import pathlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from keel._traceback import format_error
from keel.errors import (
    ContractError,
    InputError,
    KeelError,
    MissingDependencyError,
    UsageError,
    first_line,
)
from keel.pipelines._step import Mode, Step
from keel.pipelines._values import check_frame, load_value, store_value
from keel.store import ArtifactStore, StepIO
from keel.versioning import hash_path

__all__ = ["Executor", "StepOutcome", "StepTask", "execute", "make_executor"]

ExecutorName = Literal["local", "process", "dask"]


@dataclass(frozen=True)
class StepRef:
    """Where a worker process finds a step: its module, its name in it, the module's file."""

    module: str
    qualname: str
    file: str | None = None


@dataclass(frozen=True)
class StepTask:
    pipeline: str
    node: str
    step: StepRef
    inputs: Mapping[str, StepIO]  # outputs of upstream steps, by input name
    literals: Mapping[str, Any]
    mode: Mode
    artifacts_url: str
    files_dir: str
    # the digest the caller hashed for each path argument (None: no file there), and whether
    # the worker must find the same bytes at that path (on a cluster of other machines)
    paths: Mapping[str, str | None] = field(default_factory=dict)
    check_paths: bool = False
    # the artifact store's fsspec options ([artifacts.storage_options]): a worker elsewhere
    # opens the same store the same way (they may hold a secret: kept out of the repr)
    artifacts_options: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class StepOutcome:
    outputs: tuple[StepIO, ...] = ()
    attempts: int = 1
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None
    error_kind: Literal["contract", "timeout", "error", "killed"] | None = None
    report: Mapping[str, Any] | None = None
    # formatted where the step ran (a worker's traceback cannot travel, its text can)
    traceback: str | None = None
    message: str | None = None  # the exception in one line: "KeyError: 'missing'"
    hint: str | None = None  # a hint that fits the cause (a missing input file), if known

    @property
    def ok(self) -> bool:
        return self.error is None


class StepTimeoutError(Exception):
    """An attempt ran longer than the step's timeout."""


# -- finding steps in another process -------------------------------------------------------
def step_ref(step: Step) -> StepRef:
    module = sys.modules.get(step.fn.__module__)
    file = getattr(module, "__file__", None)
    return StepRef(step.fn.__module__, step.fn.__qualname__, file)


def _find_step(ref: StepRef) -> Step:
    module = sys.modules.get(ref.module)
    if module is None:
        try:
            module = importlib.import_module(ref.module)
        except ImportError:
            if ref.file is None:
                raise
            folder = str(pathlib.Path(ref.file).parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # as keel run did, for the file's own imports
            spec = importlib.util.spec_from_file_location(ref.module, ref.file)
            if spec is None or spec.loader is None:
                raise
            module = importlib.util.module_from_spec(spec)
            sys.modules[ref.module] = module
            spec.loader.exec_module(module)
    found: Any = module
    for part in ref.qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, Step):
        raise UsageError(
            f"step {ref.qualname} cannot be found in module {ref.module} by a worker process.",
            hint="Define steps at module level (not inside functions) to run them in workers.",
        )
    return found


# -- running one step -----------------------------------------------------------------------
_STORES: dict[tuple[str, str], ArtifactStore] = {}
_STORES_LOCK = threading.Lock()


def _store(url: str, options: Mapping[str, Any]) -> ArtifactStore:
    key = (url, json.dumps(options, sort_keys=True, default=str))
    with _STORES_LOCK:
        if key not in _STORES:
            _STORES[key] = ArtifactStore(url, options)
        return _STORES[key]


def execute(
    task: StepTask, step: Step | None = None, memo: dict[str, Any] | None = None
) -> StepOutcome:
    """Run one step task to an outcome; errors are captured in the outcome, never raised."""
    started = datetime.now(UTC)
    tries = [0]  # attempts made, updated as they happen

    def outcome(
        error: str, kind: Any, report: Mapping[str, Any] | None = None, **more: Any
    ) -> StepOutcome:
        return StepOutcome(
            (), max(tries[0], 1), started, datetime.now(UTC), error, kind, report, **more
        )

    try:
        step = step or _find_step(task.step)
        store = _store(task.artifacts_url, task.artifacts_options)
        kwargs = _arguments(task, step, store, memo)
        result = _call_with_retries(step, kwargs, tries)
        outputs = _store_outputs(task, step, result, store, memo)
        return StepOutcome(outputs, tries[0], started, datetime.now(UTC))
    except ContractError as exc:
        return outcome(str(exc), "contract", exc.report.to_dict())
    except StepTimeoutError as exc:
        hint = "Give the step more time (@keel.step(timeout=...)) or make it faster; the "
        hint += "traceback shows where it was when the time ran out."
        return outcome(str(exc), "timeout", traceback=format_error(exc), hint=hint)
    except KeelError as exc:
        message = exc.message.strip()
        return outcome(
            str(exc), "error", traceback=format_error(exc), message=message, hint=exc.hint
        )
    except Exception as exc:
        text = format_error(exc)
        line = f"{type(exc).__name__}: {first_line(exc)}" if str(exc) else type(exc).__name__
        return outcome(text, "error", traceback=text, message=line, hint=cause_hint(exc, task))


def cause_hint(exc: BaseException, task: StepTask) -> str | None:
    """A hint for what a step raised when the cause is plain: a file it was given or opened
    does not exist, a module it imports is not installed. ``None``: the step's own error."""
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        missing = pathlib.Path(str(exc.filename))
        for name, value in task.literals.items():
            if isinstance(value, str | pathlib.PurePath) and _same_path(value, missing):
                return (
                    f"The file {value} (input {name!r} of step {task.node!r}) does not exist: "
                    f"create it, or run the pipeline with another path (keel run ... --param "
                    f"NAME=PATH for the parameter that sets {name!r})."
                )
        return (
            f"The step opened {missing}, which does not exist: create it, or fix the path "
            "the step opens."
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (
            f"The step imports {exc.name!r}, which is not installed where it ran: install it "
            "(on every Dask worker too, when it runs there)."
        )
    return None


def _same_path(value: str | pathlib.PurePath, missing: pathlib.Path) -> bool:
    try:
        return pathlib.Path(value).absolute() == missing.absolute()
    except (OSError, ValueError):
        return False


def _arguments(
    task: StepTask, step: Step, store: ArtifactStore, memo: dict[str, Any] | None
) -> dict[str, Any]:
    """The step's keyword arguments: literals, and inputs loaded and checked."""
    kwargs = dict(task.literals)
    for name, port in step.inputs.items():
        if name in kwargs and port.kind == "file" and kwargs[name] is not None:
            kwargs[name] = pathlib.Path(kwargs[name])
            if task.check_paths:
                _check_path(task, name, kwargs[name])
    for name, item in task.inputs.items():
        port = step.inputs[name]
        if memo is not None and item.kind == "frame" and item.digest in memo:
            value = memo[item.digest].clone()  # O(1); a step may change its frame in place
        else:
            # trust=None: the scheduler checked every object's seal before naming its digest
            value = load_value(item, port, store, pathlib.Path(task.files_dir), trust=None)
        if port.kind == "frame":
            where = f"step {task.node!r} input {name!r}"
            value = check_frame(value, port, task.mode, where=where)
        kwargs[name] = value
    return kwargs


def _check_path(task: StepTask, name: str, path: pathlib.Path) -> None:
    """Fail unless this worker sees, at ``path``, the bytes the caller hashed and recorded.

    A worker on another machine may have no file there, or another file of the same name:
    running the step on it would record the caller's data and cache a result of other data.
    """
    expected = task.paths.get(name)
    host = socket.gethostname()
    where = f"step {task.node!r} input {name!r}"
    hint = (
        "Put the data where every worker sees it at the same absolute path (a shared "
        "volume), or run the pipeline with --executor local or process."
    )
    if not path.exists():
        if expected is None:
            return  # the caller saw no file there either: the step says what that means
        raise UsageError(
            f"{where}: the Dask worker on {host} cannot see {path}; the caller hashed the "
            f"data there as {expected[:12]}.",
            hint=hint,
        )
    try:
        found: str | None = hash_path(path).digest
    except InputError as exc:
        raise UsageError(f"{where}: the Dask worker on {host}: {exc}", hint=hint) from exc
    if found != expected:
        caller = expected[:12] if expected else "no file"
        raise UsageError(
            f"{where}: the Dask worker on {host} sees other data at {path} than the caller: "
            f"expected {caller}, got {(found or '')[:12]}.",
            hint=hint,
        )


def _call_with_retries(step: Step, kwargs: dict[str, Any], tries: list[int]) -> Any:
    options = step.options
    while True:
        tries[0] += 1
        try:
            return _call(step.fn, kwargs, options.timeout)
        except ContractError:
            raise  # deterministic: a retry cannot fix the data
        except Exception:
            if tries[0] > options.retries:
                raise
            time.sleep(options.retry_delay * options.backoff ** (tries[0] - 1))


def _store_outputs(
    task: StepTask, step: Step, result: Any, store: ArtifactStore, memo: dict[str, Any] | None
) -> tuple[StepIO, ...]:
    where = f"step {task.node!r}"
    values = tuple(result) if step.multiple else (result,)
    if len(values) != len(step.outputs):
        raise UsageError(
            f"{where} returned {len(values)} value(s) but declares {len(step.outputs)}.",
            hint="Return exactly what the return annotation says.",
        )
    outputs = []
    for port, returned in zip(step.outputs, values, strict=True):
        value = returned
        if port.kind == "frame":
            value = check_frame(returned, port, task.mode, where=f"{where} output {port.name!r}")
        item = store_value(value, port, store, where=f"{where} output {port.name!r}")
        outputs.append(item)
        if memo is not None and port.kind == "frame":
            # only frames are shared (as copy-on-write clones): other values are read back
            # from the store, so no step sees another's in-place changes, as on a process pool
            memo[item.digest] = value.to_polars()
    return tuple(outputs)


def _call(fn: Callable[..., Any], kwargs: dict[str, Any], timeout: float | None) -> Any:
    if timeout is None:
        return fn(**kwargs)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):

        def expire(signum: int, frame: Any) -> None:
            raise StepTimeoutError(f"the step ran longer than its timeout of {timeout:g} s.")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return fn(**kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    # not on a main thread (Dask workers): wait for a helper thread instead
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(**kwargs)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise StepTimeoutError(f"the step ran longer than its timeout of {timeout:g} s.")
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- executors ------------------------------------------------------------------------------
class Executor(Protocol):
    name: str
    slots: int

    def submit(self, task: StepTask, step: Step) -> concurrent.futures.Future[StepOutcome]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Steps run one at a time in this process; frames pass between steps in memory."""

    name, slots = "local", 1

    def __init__(self) -> None:
        self.memo: dict[str, Any] = {}

    def submit(self, task: StepTask, step: Step) -> concurrent.futures.Future[StepOutcome]:
        future: concurrent.futures.Future[StepOutcome] = concurrent.futures.Future()
        future.set_result(execute(task, step, self.memo))
        return future

    def close(self) -> None:
        self.memo.clear()


class ProcessExecutor:
    """A pool of ``workers`` processes (spawned, so Polars' threads are never forked)."""

    name = "process"

    def __init__(self, workers: int) -> None:
        self.slots = workers
        context = multiprocessing.get_context("spawn")
        self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)

    def submit(self, task: StepTask, step: Step) -> concurrent.futures.Future[StepOutcome]:
        return self.pool.submit(execute, task)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Steps as tasks on a Dask cluster (a LocalCluster of ``workers`` when no address)."""

    name = "dask"

    def __init__(self, workers: int, address: str | None) -> None:
        try:
            distributed: Any = importlib.import_module("distributed")  # untyped
        except ImportError:
            raise MissingDependencyError(
                "distributed", extra="dask", purpose="Running steps on Dask (--executor dask)"
            ) from None
        self._cluster: Any = None
        self.client: Any
        if address:
            self.client = distributed.Client(address, timeout="10s")
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.client = distributed.Client(self._cluster)
        self.slots = max(1, sum(self.client.nthreads().values()))

    def submit(self, task: StepTask, step: Step) -> concurrent.futures.Future[StepOutcome]:
        future: concurrent.futures.Future[StepOutcome] = concurrent.futures.Future()
        if self._cluster is None:  # workers elsewhere: they must see the caller's files
            task = dataclasses.replace(task, check_paths=True)
        remote = self.client.submit(execute, task, pure=False)

        def done(finished: Any) -> None:
            try:
                future.set_result(finished.result())
            except BaseException as exc:
                future.set_exception(exc)

        remote.add_done_callback(done)
        return future

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(name: str, workers: int, address: str | None = None) -> Executor:
    """The executor called ``name``; ``local`` with more than one worker means ``process``."""
    if workers < 1:
        raise UsageError(f"--workers {workers}: need at least one.", hint="--workers 2")
    if name == "local" and workers > 1:
        name = "process"
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers, address)
    raise UsageError(
        f"unknown executor {name!r}.", hint="Use 'local' (default), 'process' or 'dask'."
    )
