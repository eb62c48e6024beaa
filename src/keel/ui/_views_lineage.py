"""What the pipeline DAG and lineage pages show, as JSON-ready data (see :mod:`keel.ui._views`).

The trees are those of ``keel lineage REF --format json`` (upstream,
:func:`keel.pipelines.lineage_tree`) and ``keel lineage REF --downstream --format json``
(:func:`keel.pipelines.lineage_downstream` with :func:`keel.deploy.with_deployments`); the
page adds their drawing (:func:`keel.ui._graph.layout`), never a second shape of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from keel.deploy import with_deployments
from keel.pipelines import LineageNode, lineage_downstream, lineage_tree
from keel.tracking import run_to_dict
from keel.ui._found import NotFoundError
from keel.ui._found import found as _found
from keel.ui._graph import GraphNode, layout
from keel.ui._views import _step, _upstream

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["lineage", "pipeline_dag"]


def pipeline_dag(project: Project, run_id: str) -> dict[str, Any]:
    """A pipeline run's steps as a DAG: ``run`` (``keel runs show``), ``steps`` (each with
    ``upstream``, the steps it read from, and ``inputs`` from outside), ``lineage`` (``keel
    lineage RUN_ID --format json``) and ``graph``, its drawing: the data read from outside
    on top, each step below the steps it read."""
    store = project.metadata
    full = _found(functools.partial(store.resolve_run_id, run_id))
    records = store.pipelines.for_run(full)
    if not records:
        raise NotFoundError(
            f"run {full[:8]} ran no pipeline steps.", hint=f"Its page: /runs/{full}"
        )
    made_by = {o.digest: r.step for r in records for o in r.outputs}
    steps = [_step(r) | {"upstream": _upstream(r, made_by)} for r in records]
    nodes: dict[str, GraphNode] = {}
    edges: list[tuple[str, str]] = []
    for step in steps:
        key = "step:" + step["step"]
        nodes[key] = GraphNode(
            key,
            step["step"],
            "step",
            sub=_step_sub(step["status"], step["duration_s"]),
            status=step["status"],
            title=_why(step),
            link=f"#step-{step['step']}",
        )
        edges += [("step:" + up, key) for up in step["upstream"]]
        for item in step["inputs"]:
            if item["kind"] == "external":
                source = _source(records, step["step"], item["name"])
                nodes.setdefault(source.key, source)
                edges.append((source.key, key))
    run = store.get_run(full)
    return {
        "run": run_to_dict(run, store.list_artifacts(full)),
        "pipeline": records[0].pipeline,
        "steps": steps,
        "lineage": lineage_tree(full, project=project).to_dict(),
        "graph": layout(list(nodes.values()), edges),
    }


def _step_sub(status: str, seconds: float) -> str:
    """A step node's second line: its status, cache hit or miss, and its time."""
    cache = "" if status == "failed" else (" · hit" if status == "cached" else " · miss")
    return f"{status}{cache} · {seconds:.3f} s"


def _why(step: dict[str, Any]) -> str:
    cache = "cache hit" if step["status"] == "cached" else "cache miss"
    return f"{step['step']}: {cache}. {step['explanation'] or step['error'] or ''}".strip()


def _source(records: Any, step: str, name: str) -> GraphNode:
    """The data from outside that ``step`` read as input ``name``: a dataset version (linked
    to its page) or a file."""
    record = next(r for r in records if r.step == step)
    item = next(i for i in record.inputs if i.name == name)
    dataset = item.detail.get("dataset")
    path = str(item.detail.get("path") or item.name)
    if dataset:
        return GraphNode(
            f"dataset:{dataset}",
            str(dataset),
            "dataset",
            sub=path,
            title=f"dataset {dataset} ({path}), {item.digest[:12]}",
            link=f"data/{dataset}",
        )
    return GraphNode(f"file:{path}", path, "file", sub=item.digest[:12], title=path)


def lineage(project: Project, ref: str) -> dict[str, Any]:
    """Where ``ref`` (a dataset version ``NAME/3``, a run, ``RUN_ID:STEP`` or an artifact
    digest) came from and what was made from it: ``upstream`` (``keel lineage REF --format
    json``), ``downstream`` (``keel lineage REF --downstream --format json``), ``graph``:
    both drawn as one DAG in the direction data flowed, and ``nodes``: its nodes as a list."""
    up = _found(lambda: lineage_tree(ref, project=project))
    down = with_deployments(
        _found(lambda: lineage_downstream(ref, project=project)), project=project
    )
    nodes: dict[str, GraphNode] = {}
    edges: list[tuple[str, str]] = []
    for parent, child in _pairs(up):
        edges.append((_add(nodes, child), _add(nodes, parent)))  # made from: flows up
    for parent, child in _pairs(down):
        edges.append((_add(nodes, parent), _add(nodes, child)))
    root = _add(nodes, up)
    _add(nodes, down)
    graph = layout(list(nodes.values()), edges)
    for drawn in graph["nodes"]:
        drawn["root"] = drawn["key"] == root
    listed = sorted(graph["nodes"], key=lambda n: (n["layer"], n["x"]))
    return {
        "ref": ref,
        "upstream": up.to_dict(),
        "downstream": down.to_dict(),
        "graph": graph,
        "nodes": [{k: n[k] for k in ("kind", "label", "sub", "link", "title")} for n in listed],
    }


def _pairs(node: LineageNode) -> Iterator[tuple[LineageNode, LineageNode]]:
    for child in node.children:
        yield node, child
        yield from _pairs(child)


def _add(nodes: dict[str, GraphNode], node: LineageNode) -> str:
    """The graph key of a tree node, added to ``nodes`` on first sight: an artifact is its
    bytes (the upstream tree names an output as its step wrote it, the downstream one as
    ``STEP.OUTPUT``), anything else its kind, label, digest and run."""
    if node.kind == "artifact" and node.digest:
        key = f"artifact:{node.digest}"
    else:
        key = f"{node.kind}:{node.label}:{node.digest or ''}:{node.run_id or ''}"
    if key not in nodes:
        nodes[key] = _graph_node(key, node)
    return key


def _graph_node(key: str, node: LineageNode) -> GraphNode:
    detail = node.detail
    digest = (node.digest or "")[:12]
    sub, link = digest, None
    if node.kind == "dataset":
        link = f"data/{node.label}"
        rows = detail.get("rows")
        sub = f"{rows:,} rows · {digest}" if isinstance(rows, int) else digest
    elif node.kind == "run" and node.run_id:
        link = f"runs/{node.run_id}"
        sub = node.run_id[:8] + (
            f" · pipeline {detail['pipeline']}" if detail.get("pipeline") else ""
        )
    elif node.kind == "step" and node.run_id:
        step = node.label.rpartition(".")[2]
        link = f"pipelines/{node.run_id}#step-{step}"
        sub = _step_sub(str(detail.get("status", "")), float(detail.get("duration", 0)))
    elif node.kind == "model":
        link = f"models/{detail['name']}/{detail['version']}"
        sub = ", ".join(detail.get("aliases") or []) or digest
    elif node.kind == "deployment":
        sub = str(detail.get("spec") or detail.get("error") or "default spec")
    elif node.kind == "artifact":
        rows = detail.get("rows")
        sub = f"{detail.get('kind', '')} · " + (
            f"{rows:,} rows" if isinstance(rows, int) else digest
        )
    title = f"{node.kind} {node.label}" + (f" ({node.digest})" if node.digest else "")
    if detail.get("explanation"):
        title += f": {detail['explanation']}"
    return GraphNode(
        key,
        node.label,
        node.kind,
        sub=sub,
        status=str(detail.get("status", "")),
        title=title,
        link=link,
    )
