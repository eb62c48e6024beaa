"""``keel lineage REF --downstream``: what was made from a dataset version, an artifact, a
step or a run, down to the model versions registered from the runs that used it.

The mirror of :func:`keel.pipelines.lineage_tree`, read from the same records, with
``children`` meaning *what was made from* the node: a dataset version's children are the
runs that read it (a pipeline step that read its bytes, or a run that declared it with
``run.use_dataset``); a run's are its steps that read the data and the model versions
registered from it; a step's are its outputs; an output's are the steps of the same run
that read it. Deployments serving those model versions are added by
:func:`keel.deploy.with_deployments` (this package does not know deployments).
"""

from __future__ import annotations

from keel.errors import UsageError
from keel.pipelines._lineage import _HEX, LineageNode, _artifact, _label, step_node
from keel.store import ModelVersion, StepRunRecord
from keel.tracking import Project, dataset_version, open_project

__all__ = ["lineage_downstream"]

_DEPTH = 100  # a recorded graph has no cycle; never loop on bad data


def lineage_downstream(ref: str, *, project: Project | None = None) -> LineageNode:
    """The downstream tree of ``ref``: ``RUN_ID``, ``RUN_ID:STEP``, an output digest (or a
    unique prefix), or a dataset version ``NAME/3``: the refs :func:`lineage_tree` takes."""
    project = project or open_project()
    run_part, sep, step_part = ref.partition(":")
    if sep:
        run_id = project.metadata.resolve_run_id(run_part)
        walker = _Walker(project, run_id)
        for record in walker.records:
            if record.step == step_part:
                return walker.step(record)
        raise UsageError(
            f"run {run_id[:8]} has no step {step_part!r}.",
            hint="Steps: " + (", ".join(r.step for r in walker.records) or "none"),
        )
    if "/" in ref or "@" in ref:
        return _dataset(project, ref)
    lowered = ref.lower()
    if _HEX.match(lowered):
        runs = project.metadata.run_ids(lowered)
        if len(runs) == 1:
            return _run(project, runs[0], set(), _registered(project))
        producers = project.metadata.pipelines.producers(lowered)
        if producers:
            record = producers[0]
            item = next(o for o in record.outputs if o.digest.startswith(lowered))
            return _Walker(project, record.run_id).output(record, item.name, 0)
    raise UsageError(
        f"{ref!r} is not a run, a step (RUN_ID:STEP), an artifact digest or a dataset "
        "version in this project.",
        hint="keel runs list shows runs; keel data list NAME shows dataset versions.",
    )


def _dataset(project: Project, ref: str) -> LineageNode:
    found = dataset_version(ref, project=project)
    label = _label(found.name, found.version)
    node = LineageNode(
        "dataset",
        label,
        found.digest,
        found.run_id,
        {"rows": found.rows, "stored": found.stored},
    )
    store = project.metadata
    by_run: dict[str, list[StepRunRecord]] = {}
    for record in store.pipelines.consumers(found.digest):
        by_run.setdefault(record.run_id, []).append(record)
    declared = store.runs_reading(found.name, found.version)
    registered = _registered(project)
    for run_id in [*by_run, *(r for r in declared if r not in by_run)]:
        readers = by_run.get(run_id, [])
        node.children.append(_run(project, run_id, {r.id for r in readers}, registered))
    return node


def _run(
    project: Project,
    run_id: str,
    readers: set[str],
    registered: dict[str, list[ModelVersion]],
) -> LineageNode:
    """A run, and what was made in it: from the steps in ``readers`` (every first step
    when empty and the run is the root), and the model versions registered from it."""
    store = project.metadata
    run = store.get_run(run_id)
    node = LineageNode(
        "run",
        f"run {run.name} ({run.status})",
        run_id=run.id,
        detail={"pipeline": run.tags.get("keel.pipeline"), "started_at": str(run.started_at)},
    )
    walker = _Walker(project, run_id)
    starts = [r for r in walker.records if r.id in readers] or (
        [] if readers else walker.first_steps()
    )
    node.children.extend(walker.step(r) for r in starts)
    for version in registered.get(run_id, []):
        node.children.append(
            LineageNode(
                "model",
                f"{version.name}/{version.version}",
                version.manifest,
                run_id,
                {
                    "name": version.name,
                    "version": version.version,
                    "aliases": list(version.aliases),
                },
            )
        )
    return node


def _registered(project: Project) -> dict[str, list[ModelVersion]]:
    """Every model version by the run it was registered from (read once per tree)."""
    models = project.metadata.models
    found: dict[str, list[ModelVersion]] = {}
    for model in models.models():
        for version in models.versions(model.name):
            if version.run_id:
                found.setdefault(version.run_id, []).append(version)
    return found


class _Walker:
    """Down from a step of one pipeline run, along the inputs that name their producer."""

    def __init__(self, project: Project, run_id: str) -> None:
        self.records = project.metadata.pipelines.for_run(run_id)

    def first_steps(self) -> list[StepRunRecord]:
        """The steps that read no other step's output: where the run starts."""
        return [r for r in self.records if all(i.kind == "external" for i in r.inputs)]

    def step(self, record: StepRunRecord, depth: int = 0) -> LineageNode:
        node = step_node(record)
        if depth <= _DEPTH:
            node.children.extend(self.output(record, o.name, depth) for o in record.outputs)
        return node

    def output(self, record: StepRunRecord, name: str, depth: int) -> LineageNode:
        """Output ``name`` of ``record``, and the steps of the run that read it."""
        item = next(o for o in record.outputs if o.name == name)
        readers = [
            self.step(r, depth + 1)
            for r in self.records
            if any(
                i.detail.get("producer") == record.step and i.detail.get("output") == name
                for i in r.inputs
            )
        ]
        node = _artifact(item, readers)
        node.label = f"{record.step}.{name}"
        return node
