"""Running a pipeline: check the graph, then run each step whose cache key has no valid hit.

A step's cache key hashes, part by part (the *components*, kept with every step run so a
miss can be explained):

- ``code``: the step's source and the project-local functions, classes and modules it
  reaches (see :func:`keel.versioning.fingerprint_function`), so editing a helper
  invalidates the step;
- ``params``: its literal arguments; an external file or folder (a ``Path`` argument) by
  its content digest, so changed data re-runs the step even under the same path;
- ``inputs``: the digests of the upstream outputs it reads;
- ``environment``: the Python version and the installed versions of the third-party
  distributions its code uses (a new scikit-learn re-runs ``train``; DVC ignores this);
- ``contracts``: the contracts of its frame inputs and outputs and the checking mode.

A hit is used only when every cached output still exists and its bytes verify, and every
pickled output carries this project's seal (or the store is marked trusted; see
:class:`~keel.store.ObjectTrust`): an entry that fails is a miss, and the step re-runs. A pipeline
run is a tracked run (``keel runs list`` shows it) with one step-run record per step.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import blake3

from keel.errors import InputError, KeelError, StepFailedError, UsageError, did_you_mean
from keel.grammar import Reference
from keel.pipelines._events import (
    LineageEmitter,
    ParentRun,
    pipeline_event,
    step_end_event,
    step_start_event,
)
from keel.pipelines._execute import Executor, StepOutcome, StepTask, make_executor, step_ref
from keel.pipelines._graph import Graph, Node, Ref, Value
from keel.pipelines._step import Port
from keel.pipelines._values import load_value
from keel.store import ArtifactCorruptedError, ObjectTrust, StepIO, StepRunRecord
from keel.telemetry import Telemetry
from keel.tracking import Project, open_project, start_run
from keel.versioning import HashCache, fingerprint_function, hash_path

if TYPE_CHECKING:
    from keel.pipelines._pipeline import Pipeline  # it runs through here: types only

__all__ = ["PipelineResult", "StepEvent", "run_pipeline"]

CACHE_FORMAT = 1  # bump when the way values are stored changes
EventStatus = Literal["waiting", "running", "cached", "done", "failed"]


@dataclass(frozen=True)
class StepEvent:
    """A step changed state (for progress displays)."""

    step: str
    status: EventStatus
    duration: float | None = None
    explanation: str | None = None
    error: str | None = None


@dataclass
class PipelineResult:
    """What a pipeline run did, step by step; :meth:`value` loads an output."""

    run_id: str
    pipeline: str
    params: dict[str, Any]
    steps: list[StepRunRecord]
    project: Project = field(repr=False)
    graph: Graph = field(repr=False)

    @property
    def executed(self) -> list[str]:
        return [s.step for s in self.steps if s.status == "finished"]

    @functools.cached_property
    def trust(self) -> ObjectTrust:
        """Which stored pickles :meth:`value` may load (the project's rule, read once)."""
        return ObjectTrust.of(self.project.config)

    @property
    def cached(self) -> list[str]:
        return [s.step for s in self.steps if s.status == "cached"]

    def record(self, step: str) -> StepRunRecord:
        for record in self.steps:
            if record.step == step:
                return record
        raise UsageError(
            f"pipeline run {self.run_id} has no step {step!r}.",
            hint=did_you_mean(step, [s.step for s in self.steps]),
        )

    def value(self, step: str, output: int | str = 0) -> Any:
        """The value of a step's output, loaded from the artifact store (verified)."""
        record = self.record(step)
        node = self.graph.nodes[step]
        index = node.output_index(output)
        if index is None:
            raise UsageError(f"step {step!r} has no output {output!r}.")
        return load_value(
            record.outputs[index],
            node.step.outputs[index],
            self.project.artifacts,
            self.project.config.state_dir / "pipeline-files",
            trust=self.trust,
            where=f"output {node.step.outputs[index].name!r} of step {step!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "params": _jsonable(self.params),
            "steps": [step_to_dict(s) for s in self.steps],
        }

    def __repr__(self) -> str:
        failed = [s.step for s in self.steps if s.status == "failed"]
        broke = f", FAILED {', '.join(failed)}" if failed else ""
        return (
            f"<PipelineResult {self.pipeline!r} run {self.run_id[:8]}: {len(self.steps)} steps, "
            f"{len(self.executed)} executed, {len(self.cached)} cached{broke}>"
        )

    def to_html(self, *, title: str | None = None) -> str:
        """The run as a self-contained HTML page: its parameters and every step (status,
        duration, why it ran or came from the cache)."""
        from keel._html import facts, page, table

        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items()) or "no parameters"
        rows = [
            (s.step, s.status, round(s.duration, 3), s.error or s.explanation or "")
            for s in self.steps
        ]
        return page(
            title or f"Pipeline {self.pipeline}, run {self.run_id[:8]}",
            [
                facts(
                    f"{len(self.executed)} executed · {len(self.cached)} cached · "
                    f"{len(self.steps)} steps · {params}"
                ),
                table(("step", "status", "seconds", "detail"), rows),
            ],
        )

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())


def step_to_dict(record: StepRunRecord) -> dict[str, Any]:
    """The documented JSON shape of one step run (``keel run --format json``)."""
    return {
        "step": record.step,
        "status": record.status,
        "duration": round(record.duration, 6),
        "attempts": record.attempts,
        "key": record.key,
        "explanation": record.explanation,
        "error": record.error,
        "outputs": [
            {"name": o.name, "kind": o.kind, "digest": o.digest, "size": o.size}
            for o in record.outputs
        ],
    }


@dataclass
class _Prepared:
    node: Node
    key: str
    components: dict[str, Any]
    inputs: tuple[StepIO, ...]
    task: StepTask
    id: str = ""  # the step run's id, from its START event on
    explanation: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def run_pipeline(
    pipeline: Pipeline,
    params: Mapping[str, Any] | None = None,
    *,
    texts: Mapping[str, str] | None = None,
    force: Iterable[str] = (),
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    contracts: Any = None,
    project: Project | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    log_format: str | None = None,
    tags: Mapping[str, str] | None = None,
    replace_inputs: Mapping[str, Mapping[str, Path]] | None = None,
) -> PipelineResult:
    """Run ``pipeline``: check it, then run what is not cached, in dependency order.

    ``params`` (values) and ``texts`` (``--param`` strings) override defaults. ``force``
    names steps to re-run with everything downstream (``"*"``: all). ``executor`` is
    ``local`` (this process), ``process`` (``workers`` processes) or ``dask`` (a cluster at
    ``address``, or a local one). Raises :class:`StepFailedError` when a step fails; the
    steps that finished stay cached, so the next run resumes after them.
    """
    project = project or open_project()
    if contracts is None and pipeline.contracts is None:
        contracts = project.config.pipeline_contracts  # keel.toml [pipeline] contracts
    graph = pipeline.build(params, texts=texts, contracts=contracts).check()
    forced = _forced(graph, force)
    telemetry = Telemetry(project.config, log_format=log_format)
    notify = on_event or (lambda event: None)
    scheduler = _Scheduler(
        graph=graph,
        project=project,
        forced=forced,
        telemetry=telemetry,
        notify=notify,
        replace_inputs=replace_inputs or {},
    )
    run_tags = {"keel.pipeline": pipeline.name, **(tags or {})}
    if pipeline.source:
        run_tags["keel.source"] = pipeline.source  # how keel reproduce finds it again
    chosen = make_executor(executor, workers, address)
    try:
        with start_run(
            pipeline.name, params=_jsonable(graph.params), tags=run_tags, project=project
        ) as run:
            scheduler.start(run.id)
            telemetry.log("pipeline.start", pipeline=pipeline.name, run_id=run.id)
            try:
                scheduler.run(chosen)
                metrics = scheduler.metrics()
                if metrics:
                    run.log_metrics(metrics)
            except BaseException as exc:  # interrupted, or the scheduler itself failed
                scheduler.end(exc)
                raise
            scheduler.end(scheduler.failure)
            if scheduler.failure is not None:
                raise scheduler.failure
    finally:
        chosen.close()
        telemetry.log(
            "pipeline.end",
            pipeline=pipeline.name,
            run_id=scheduler.run_id,
            status="failed" if scheduler.failure else "finished",
        )
        telemetry.shutdown()
    return PipelineResult(
        scheduler.run_id, pipeline.name, graph.params, scheduler.records, project, graph
    )


def _forced(graph: Graph, force: Iterable[str]) -> set[str]:
    names = set(force)
    if "*" in names:
        return set(graph.nodes)
    unknown = sorted(names - set(graph.nodes))
    if unknown:
        raise UsageError(
            f"--force {unknown[0]}: pipeline {graph.pipeline!r} has no step {unknown[0]!r}.",
            hint=did_you_mean(unknown[0], graph.nodes),
        )
    return graph.downstream(names)


class _Scheduler:
    def __init__(
        self,
        *,
        graph: Graph,
        project: Project,
        forced: set[str],
        telemetry: Telemetry,
        notify: Callable[[StepEvent], None],
        replace_inputs: Mapping[str, Mapping[str, Path]],
    ) -> None:
        self.graph, self.project, self.forced = graph, project, forced
        self.telemetry, self.notify = telemetry, notify
        self.replace_inputs = replace_inputs
        self.run_id = ""
        self.lineage = LineageEmitter(project.metadata.pipelines, project.config.lineage_url)
        self.parent = ParentRun("", project.config.project_name, graph.pipeline)
        self.started: dict[str, _Prepared] = {}  # sent START, not yet their end
        self.datasets_used: set[str] = set()
        self.records: list[StepRunRecord] = []
        self.outputs: dict[str, tuple[StepIO, ...]] = {}
        self.failure: StepFailedError | None = None
        self.store = project.metadata.pipelines
        self.root = project.config.root
        self.hash_cache = HashCache(project.config.state_dir / "cache")
        self.trust = ObjectTrust.of(project.config)
        self.python = f"{sys.version_info.major}.{sys.version_info.minor}"

    # -- the pipeline run: the parent job of its step runs ---------------------------------
    def start(self, run_id: str) -> None:
        self.run_id = run_id
        self.parent = ParentRun(run_id, self.parent.namespace, self.parent.pipeline)
        self.lineage.emit(pipeline_event(self.parent, "START", datetime.now(UTC)))

    def end(self, error: BaseException | None) -> None:
        """Send the pipeline run's ``COMPLETE`` or ``FAIL`` (``ABORT`` for steps cut off)."""
        now = datetime.now(UTC)
        for prepared in self.started.values():  # never ended: the run stopped under them
            record = self._new_record(prepared, "failed", (), now)
            self.lineage.emit(step_end_event(self.parent, record, "ABORT"))
        self.started.clear()
        kind: Literal["COMPLETE", "FAIL"] = "COMPLETE" if error is None else "FAIL"
        self.lineage.emit(pipeline_event(self.parent, kind, now, error=error))

    # -- the loop -------------------------------------------------------------------------
    def run(self, executor: Executor) -> None:
        pending = self.graph.order()
        for name in pending:
            self.notify(StepEvent(name, "waiting"))
        running: dict[concurrent.futures.Future[StepOutcome], _Prepared] = {}
        while pending or running:
            launched = True
            while launched and self.failure is None:
                launched = False
                for name in list(pending):
                    if not all(up in self.outputs for up in self.graph.upstream(name)):
                        continue
                    if len(running) >= executor.slots:
                        break
                    pending.remove(name)
                    launched = True
                    prepared = self._prepare(self.graph.nodes[name])
                    if prepared is None:
                        continue  # a cache hit, recorded
                    self.notify(StepEvent(name, "running", explanation=prepared.explanation))
                    prepared.started_at = datetime.now(UTC)
                    self._send_start(prepared)
                    running[executor.submit(prepared.task, prepared.node.step)] = prepared
            if not running:
                break  # nothing runs and nothing can start: done, or stopped by a failure
            done, _ = concurrent.futures.wait(running, return_when="FIRST_COMPLETED")
            for future in done:
                self._finish(running.pop(future), _outcome(future))

    def metrics(self) -> dict[str, float]:
        """Flat numeric JSON outputs (``{"auc": 0.9}``) become run metrics ``step.auc``."""
        found: dict[str, float] = {}
        for record in self.records:
            for item in record.outputs:
                if item.kind != "json" or (item.size or 0) > 65_536:
                    continue
                value = json.loads(self.project.artifacts.get_bytes(item.digest))
                if isinstance(value, dict) and value and all(_is_number(v) for v in value.values()):
                    prefix = record.step if item.name == "out" else f"{record.step}.{item.name}"
                    found.update({f"{prefix}.{k}": float(v) for k, v in value.items()})
        return found

    # -- one step -------------------------------------------------------------------------
    def _prepare(self, node: Node) -> _Prepared | None:
        started = datetime.now(UTC)
        components, inputs, literals = self._components(node)
        key = blake3.blake3(json.dumps(components, sort_keys=True).encode()).hexdigest()
        task = StepTask(
            pipeline=self.graph.pipeline,
            node=node.name,
            step=step_ref(node.step),
            inputs={i.name: i for i in inputs if i.kind != "external"},
            literals=literals,
            paths={
                name: value["digest"]
                for name, value in components["params"].items()
                if node.step.inputs[name].kind == "file" and isinstance(value, dict)
            },
            mode=self.graph.contract_mode(node),
            artifacts_url=self.project.config.artifacts_url,
            artifacts_options=self.project.config.artifacts_options,
            files_dir=str(self.project.config.state_dir / "pipeline-files"),
        )
        prepared = _Prepared(
            node, key, components, inputs, task, id=self.store.new_id(), started_at=started
        )
        hit_problem = None
        if node.name not in self.forced and node.step.options.cache:
            hit = self.store.cached(key)
            if hit is not None:
                hit_problem = self._unusable(hit)
                if hit_problem is None:
                    self._record(prepared, "cached", hit.outputs, explanation="cached")
                    return None
        prepared.explanation = self._explain(node, components, hit_problem)
        return prepared

    def _components(self, node: Node) -> tuple[dict[str, Any], tuple[StepIO, ...], dict[str, Any]]:
        step = node.step
        code = fingerprint_function(step.fn, self.root)
        params: dict[str, Any] = {}
        literals: dict[str, Any] = {}
        inputs: list[StepIO] = []
        for name, binding in sorted(node.bindings.items()):
            port = step.inputs[name]
            if isinstance(binding, Ref):
                producer = self.graph.nodes[binding.node]
                index = producer.output_index(binding.output)
                assert index is not None  # the graph is checked
                item = self.outputs[binding.node][index]
                detail = {**item.detail, "producer": producer.name, "output": item.name}
                inputs.append(StepIO(name, item.kind, item.digest, item.size, detail))
            elif isinstance(binding, Value):
                value = binding.value
                if port.kind == "file" and value is not None:
                    given = self.replace_inputs.get(node.name, {}).get(name, Path(value))
                    # resolved once, here, from this process's folder: the path hashed is
                    # the path the step opens, whatever folder a worker runs in
                    path = Path(given).absolute()
                    external = self._external(node.name, name, path, shown=str(given))
                    if external is not None:
                        inputs.append(external)
                    params[name] = {"path": str(binding.value), "digest": _digest_of(external)}
                    literals[name] = str(path)
                else:
                    params[name] = _jsonable(value)
                    literals[name] = value
        frame_ports = [p for p in (*step.inputs.values(), *step.outputs) if p.kind == "frame"]
        environment = {"python": self.python, **code.packages}
        if frame_ports:
            import polars

            environment["polars"] = polars.__version__  # how frames are stored
        components = {
            "format": CACHE_FORMAT,
            "code": dict(code.parts),
            "params": params,
            "inputs": {i.name: i.digest for i in inputs if i.kind != "external"},
            "environment": environment,
            "contracts": {
                "mode": self.graph.contract_mode(node),
                **{p.name: _contract_digest(p) for p in frame_ports},
            },
        }
        return components, tuple(inputs), literals

    def _external(self, step: str, name: str, path: Path, *, shown: str) -> StepIO | None:
        """A file or folder a step reads from outside the pipeline, by content digest.

        ``path`` is hashed; ``shown`` (the path as the pipeline gave it) is what is recorded,
        in the step's inputs and in the run's data fingerprint (``keel runs compare``).
        """
        if not path.exists():
            return None
        try:
            found = hash_path(path, cache=self.hash_cache)
        except InputError:
            return None
        detail: dict[str, Any] = {"path": shown}
        self.project.metadata.add_run_file(self.run_id, step, name, shown, found.digest)
        versions = self.project.metadata.dataset_versions_with_digest(found.digest)
        if versions:
            version = versions[-1]
            detail["dataset"] = str(Reference("dataset", version.name, version.version))
            if detail["dataset"] not in self.datasets_used:  # the run's data fingerprint
                self.datasets_used.add(detail["dataset"])
                self.project.metadata.add_run_input(
                    self.run_id, version.name, version.version, version.digest
                )
        return StepIO(name, "external", found.digest, found.size, detail)

    def _unusable(self, hit: StepRunRecord) -> str | None:
        """Why a cache hit cannot be used (an output untrusted, gone or corrupted), or None."""
        for item in hit.outputs:
            untrusted = self.trust.problem(item)
            if untrusted is not None:  # never unpickled: a pickle can run any code
                return f"cached output {item.name!r} is not trusted ({untrusted})"
            try:
                for _ in self.project.artifacts.read_chunks(item.digest):
                    pass
            except ArtifactCorruptedError:
                # the bytes under this name are wrong: drop them so the re-run stores the
                # right ones (a store keeps the first copy of a digest it is given)
                self.project.artifacts.delete(item.digest)
                return f"cached output {item.name!r} is corrupted"
            except InputError:
                return f"cached output {item.name!r} is missing from the artifact store"
        return None

    def _explain(self, node: Node, components: Mapping[str, Any], hit_problem: str | None) -> str:
        name = node.name
        if name in self.forced:
            return f"{name} re-ran: forced (--force)"
        if not node.step.options.cache:
            return f"{name} ran: caching is off for this step"
        if hit_problem is not None:
            return f"{name} re-ran: {hit_problem}"
        previous = self.store.previous(self.graph.pipeline, name)
        if previous is None:
            return f"{name} ran: no earlier run"
        reasons = explain_change(previous.components, components)
        return f"{name} re-ran: " + ("; ".join(reasons) or "its cached outputs were not found")

    def _send_start(self, prepared: _Prepared) -> None:
        """The step is handed to its executor: a lineage server sees it running from now."""
        self.started[prepared.id] = prepared
        self.lineage.emit(
            step_start_event(
                self.parent,
                prepared.id,
                step=prepared.node.name,
                key=prepared.key,
                inputs=prepared.inputs,
                when=prepared.started_at,
            )
        )

    def _finish(self, prepared: _Prepared, outcome: StepOutcome) -> None:
        if outcome.ok:
            outputs = tuple(self.trust.sealed(item) for item in outcome.outputs)
            self._record(prepared, "finished", outputs, outcome=outcome)
            return
        status_error = outcome.error or "failed"
        self._record(prepared, "failed", (), outcome=outcome, error=status_error)
        name = prepared.node.name
        what = {
            "contract": "broke a contract",
            "timeout": "timed out",
            "killed": "was killed",
        }.get(outcome.error_kind or "", "raised an error")
        detail = outcome.message or status_error.strip()
        if outcome.error_kind == "error" and outcome.message is None:
            detail = detail.splitlines()[-1]
        self.failure = StepFailedError(
            f"step {name!r} of pipeline {self.graph.pipeline!r} {what} after "
            f"{outcome.attempts} attempt(s): {detail}",
            step=name,
            run_id=self.run_id,
            hint=outcome.hint,
            traceback=outcome.traceback,
        )

    def _record(
        self,
        prepared: _Prepared,
        status: Literal["finished", "cached", "failed"],
        outputs: tuple[StepIO, ...],
        *,
        outcome: StepOutcome | None = None,
        explanation: str | None = None,
        error: str | None = None,
    ) -> None:
        record = self._new_record(
            prepared,
            status,
            outputs,
            outcome.ended_at if outcome else datetime.now(UTC),
            outcome=outcome,
            explanation=explanation,
            error=error,
        )
        started, ended = record.started_at, record.ended_at
        events = [step_end_event(self.parent, record)]
        if self.started.pop(prepared.id, None) is None:  # a cache hit: it starts as it ends
            events.insert(0, step_end_event(self.parent, record, "START"))
        self.lineage.emit(*events, records=[record])
        self.records.append(record)
        if status != "failed":
            self.outputs[record.step] = outputs
        trace_id = self.telemetry.record_span(
            self.graph.pipeline,
            record.step,
            run_id=self.run_id,
            start=started,
            end=ended,
            attributes={"keel.status": status, "keel.cache_key": record.key},
            error=error,
        )
        shown: EventStatus = "done" if status == "finished" else status
        self.telemetry.log(
            "step.end",
            pipeline=self.graph.pipeline,
            step=record.step,
            run_id=self.run_id,
            status=status,
            duration=round(record.duration, 6),
            explanation=record.explanation,
            error=error,
            trace_id=trace_id,
        )
        self.notify(StepEvent(record.step, shown, record.duration, record.explanation, error))

    def _new_record(
        self,
        prepared: _Prepared,
        status: Literal["finished", "cached", "failed"],
        outputs: tuple[StepIO, ...],
        ended: datetime,
        *,
        outcome: StepOutcome | None = None,
        explanation: str | None = None,
        error: str | None = None,
    ) -> StepRunRecord:
        return StepRunRecord(
            id=prepared.id,
            run_id=self.run_id,
            pipeline=self.graph.pipeline,
            step=prepared.node.name,
            key=prepared.key,
            status=status,
            started_at=outcome.started_at if outcome else prepared.started_at,
            ended_at=ended,
            attempts=outcome.attempts if outcome else 0,
            explanation=explanation or prepared.explanation,
            error=error,
            components=prepared.components,
            inputs=prepared.inputs,
            outputs=outputs,
        )


def explain_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why two step keys differ, part by part, in words ("src/features.py changed")."""
    reasons: list[str] = []
    old_code, new_code = old.get("code") or {}, new.get("code") or {}
    files = sorted(
        {label.split(":")[0] for label in set(old_code) | set(new_code)
         if old_code.get(label) != new_code.get(label)}
    )  # fmt: skip
    if files:
        reasons.append(f"{', '.join(files)} changed")
    old_params, new_params = old.get("params") or {}, new.get("params") or {}
    for key in sorted(set(old_params) | set(new_params)):
        before, after = old_params.get(key), new_params.get(key)
        if before != after:
            reasons.append(_param_change(key, before, after))
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    changed = sorted(
        k for k in set(old_inputs) | set(new_inputs) if old_inputs.get(k) != new_inputs.get(k)
    )
    if changed:
        reasons.append(f"input {', '.join(changed)} changed")
    old_env, new_env = old.get("environment") or {}, new.get("environment") or {}
    for package in sorted(set(old_env) | set(new_env)):
        if old_env.get(package) != new_env.get(package):
            before, after = old_env.get(package, "absent"), new_env.get(package, "absent")
            reasons.append(f"{package} {before} -> {after}")
    if (old.get("contracts") or {}) != (new.get("contracts") or {}):
        reasons.append("a contract or the contract mode changed")
    if old.get("format") != new.get("format"):
        reasons.append("Keel's cache format changed")
    return reasons


def _param_change(key: str, before: Any, after: Any) -> str:
    """Why one param part differs: a file param is its path and its content's digest, and
    either or both may have changed (a new path is named as the param change it is)."""
    old_file = isinstance(before, dict) and "digest" in before
    new_file = isinstance(after, dict) and "digest" in after
    if not (old_file and new_file):
        shown = [
            v.get("path") if isinstance(v, dict) and "digest" in v else v for v in (before, after)
        ]
        return f"param {key} changed ({_short(shown[0])} -> {_short(shown[1])})"
    if before.get("path") == after.get("path"):
        return f"data at {after.get('path')} changed"
    change = f"param {key} changed ({_short(before.get('path'))} -> {_short(after.get('path'))})"
    if before.get("digest") == after.get("digest"):
        return change + ", same content"
    return change + ", and the data differs"


def _outcome(future: concurrent.futures.Future[StepOutcome]) -> StepOutcome:
    try:
        return future.result()
    except concurrent.futures.process.BrokenProcessPool:
        return StepOutcome(
            error="the worker process running the step died (killed, or out of memory).",
            error_kind="killed",
        )
    except KeelError as exc:
        return StepOutcome(error=str(exc), error_kind="error", message=exc.message, hint=exc.hint)
    except Exception as exc:  # the executor itself failed (a lost Dask worker, say)
        return StepOutcome(error=f"{type(exc).__name__}: {exc}", error_kind="killed")


def _contract_digest(port: Port) -> str:
    assert port.schema is not None
    return port.schema.__contract__.fingerprint


def _digest_of(item: StepIO | None) -> str | None:
    return item.digest if item is not None else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
