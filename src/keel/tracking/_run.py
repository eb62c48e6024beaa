"""``keel.start_run``: one tracked run, with its params, metrics, artifacts and fingerprint.

Metrics are buffered and written in batches (at 500 values, on ``flush()`` and when the run
ends), so logging inside a training loop costs a list append. A run that raises is marked
``failed`` with its traceback, and the exception propagates. Runs opened inside a run are
nested (``parent_id``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import math
import os
import random
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from keel._traceback import chain_text, format_error
from keel.errors import InputError, StepFailedError, StoreValueError, UsageError
from keel.store import ArtifactRef, DatasetVersion, Metric, RunStatus, metric_step
from keel.tracking._project import Project, open_project
from keel.tracking._refs import dataset_version
from keel.versioning import EnvironmentFingerprint, code_fingerprint, environment_fingerprint

__all__ = ["ActiveRun", "active_run", "start_run"]

_ACTIVE: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "keel_active_run", default=None
)
_BATCH = 500


class ActiveRun:
    """The run being recorded. Obtain it from ``keel.start_run``; do not construct it."""

    def __init__(self, project: Project, run_id: str, name: str | None) -> None:
        self.project = project
        self.id = run_id
        self.name = name
        self._metrics: list[Metric] = []

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (JSON values; a param, once logged, cannot change)."""
        self.project.metadata.log_params(self.id, params)

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Record one metric value (NaN and infinities are kept as such)."""
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError) as exc:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise UsageError(
                f"metric {key!r} must be a number that fits a float, got "
                f"{type(value).__name__} {shown} ({exc}).",
                hint="Log numbers (up to about 1.8e308); put text or huge integers in tags "
                "or params.",
            ) from None
        self._metrics.append(Metric(key, number, metric_step(key, step), time.time()))
        if len(self._metrics) >= _BATCH:
            self.flush()

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def set_tag(self, key: str, value: str) -> None:
        self.project.metadata.set_tags(self.id, {key: str(value)})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.project.metadata.set_tags(self.id, {k: str(v) for k, v in tags.items()})

    def log_artifact(self, item: Any, name: str | None = None) -> ArtifactRef:
        """Store a file (a path), bytes, or a JSON-able object, and link it to the run."""
        data, default = _artifact_bytes(item)
        store = self.project.artifacts
        ref = store.put_file(data) if isinstance(data, Path) else store.put_bytes(data)
        self.project.metadata.add_artifact(self.id, name or default, ref.digest, ref.size)
        return ref

    def use_dataset(self, ref: str) -> DatasetVersion:
        """Declare that this run reads dataset ``NAME/3`` (``NAME``: the latest); return it.

        The version becomes part of the run's fingerprint, so ``keel runs compare`` can say
        whether two runs saw the same data.
        """
        found = dataset_version(ref, project=self.project)
        self.project.metadata.add_run_input(self.id, found.name, found.version, found.digest)
        return found

    def flush(self) -> None:
        """Write buffered metrics now."""
        if self._metrics:
            batch, self._metrics = self._metrics, []
            self.project.metadata.log_metrics(self.id, batch)

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.name!r})"


def active_run() -> ActiveRun | None:
    """The innermost run being recorded in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def start_run(
    name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    experiment: str | None = None,
    seed: int | None = None,
    project: Project | None = None,
) -> Iterator[ActiveRun]:
    """Record a run: ``with keel.start_run("train", params={"lr": 0.1}) as run: ...``.

    The run's fingerprint (git commit and uncommitted diff, or a hash of the sources;
    Python, platform and installed packages; ``seed``) is recorded when it starts; the diff
    is stored as the artifact ``code.diff``. ``seed`` also seeds ``random`` (and NumPy when
    installed). Inside another run, the new run is its child.
    """
    project = project or open_project()
    parent = _ACTIVE.get()
    if seed is not None:
        _seed_everything(seed)
    code = code_fingerprint(project.config.root)
    fingerprint = {
        "code": code.to_dict(),
        "environment": _environment().to_dict(),
        "seed": seed,
    }
    run_id = project.metadata.create_run(
        name,
        experiment=experiment,
        parent_id=parent.id if parent else None,
        tags=dict(tags or {}),
        fingerprint=fingerprint,
        params=params,
    )
    run = ActiveRun(project, run_id, name)
    token = _ACTIVE.set(run)
    try:
        if code.diff:
            ref = project.artifacts.put_bytes(code.diff)
            project.metadata.add_artifact(run_id, "code.diff", ref.digest, ref.size)
        yield run
    except BaseException as exc:
        _finish(run, "failed", _error_text(exc))
        raise
    else:
        _finish(run, "finished", None)
    finally:
        _ACTIVE.reset(token)


def _error_text(exc: BaseException) -> str:
    """What a failed run records: its traceback, after the failed step's own (formatted where
    the step ran) when a pipeline step failed, so ``keel runs show`` points at the user's code."""
    if isinstance(exc, StepFailedError) and exc.traceback:
        return chain_text(exc.traceback, exc)
    return format_error(exc)


def _finish(run: ActiveRun, status: RunStatus, error: str | None) -> None:
    """Write the last buffered metrics and the final status in one transaction.

    When the store refuses a buffered metric (a key too long for its column, say), the run
    is still ended, as ``failed`` with that error and without those metrics, and the error
    propagates: a run is never left ``running`` by a value the store cannot hold.
    """
    pending, run._metrics = run._metrics, []  # the run's own module
    try:
        run.project.metadata.finish_run(run.id, status, error, metrics=pending)
    except StoreValueError as refused:
        text = f"{error}\n{refused}" if error else str(refused)
        run.project.metadata.finish_run(run.id, "failed", text)
        raise


@functools.cache
def _environment() -> EnvironmentFingerprint:
    """The environment cannot change inside one process: take its fingerprint once."""
    return environment_fingerprint()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(seed)  # the legacy global generator many libraries use


def _artifact_bytes(item: Any) -> tuple[Path | bytes, str]:
    if isinstance(item, str | os.PathLike):
        path = Path(item)
        if not path.is_file():
            raise InputError(
                f"no file to log at {path}.",
                hint="Pass a file path, bytes, or a JSON-able object (dict, list, number).",
            )
        return path, path.name
    if isinstance(item, bytes | bytearray):
        return bytes(item), "artifact.bin"
    try:
        text = json.dumps(item, indent=2, sort_keys=True, allow_nan=True, default=_refuse)
    except TypeError as exc:
        raise UsageError(
            f"cannot log an object of type {type(item).__name__} as an artifact: {exc}.",
            hint="Save it to a file first (a model package, Parquet...) and log the path.",
        ) from None
    return text.encode(), "artifact.json"


def _refuse(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")
