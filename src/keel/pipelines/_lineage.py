"""``keel lineage REF``: the upstream tree of a run, a step, an artifact or a dataset version.

The tree is read from the step-run records (what each step read and wrote, by digest), so
it needs no event parsing: an artifact's parent is the step run that wrote it, a step's
children are its inputs, and an input's child is the step that produced it, down to the
files and dataset versions the pipeline read from outside.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from rich.tree import Tree

from keel.errors import UsageError
from keel.grammar import Reference
from keel.store import StepIO, StepRunRecord
from keel.tracking import Project, dataset_version, open_project

__all__ = ["LineageNode", "lineage_tree", "to_dot", "to_rich"]

_HEX = re.compile(r"^[0-9a-f]{6,64}$")


@dataclass
class LineageNode:
    """One node of a lineage tree; ``children`` are what it was made from."""

    kind: str  # run, step, artifact, dataset, file
    label: str
    digest: str | None = None
    run_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    children: list[LineageNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "digest": self.digest,
            "run_id": self.run_id,
            "detail": self.detail,
            "children": [c.to_dict() for c in self.children],
        }

    def size(self) -> int:
        """How many nodes the tree has, this one included."""
        return 1 + sum(child.size() for child in self.children)

    def __repr__(self) -> str:
        digest = f" {self.digest[:12]}" if self.digest else ""
        return f"<LineageNode {self.kind} {self.label!r}{digest}: {self.size() - 1} nodes below>"

    def to_html(self, *, title: str | None = None) -> str:
        """The tree as a self-contained HTML page of nested lists (what ``keel lineage``
        prints), each node with its kind, label, status and digest."""
        from keel._html import facts, page

        return page(
            title or f"Lineage of {self.kind} {self.label}",
            [facts(f"{self.size() - 1} nodes below"), f"<ul>{_html_item(self)}</ul>"],
        )

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())


def _html_item(node: LineageNode) -> str:
    e = html.escape
    status = node.detail.get("status")
    extra = f" {e(str(status))}" if status else ""
    rows = node.detail.get("rows")
    extra += f", {rows:,} rows" if isinstance(rows, int) else ""
    digest = f' <span class="muted">{e(node.digest[:12])}</span>' if node.digest else ""
    children = "".join(_html_item(child) for child in node.children)
    nested = f"<ul>{children}</ul>" if children else ""
    return f"<li><strong>{e(node.kind)}</strong> {e(node.label)}{extra}{digest}{nested}</li>"


def lineage_tree(ref: str, *, project: Project | None = None) -> LineageNode:
    """The upstream tree of ``ref``: ``RUN_ID``, ``RUN_ID:STEP``, a digest, or a dataset
    version ``NAME/3``."""
    project = project or open_project()
    run_part, sep, step_part = ref.partition(":")
    if sep:
        run_id = project.metadata.resolve_run_id(run_part)
        records = project.metadata.pipelines.for_run(run_id)
        for record in records:
            if record.step == step_part:
                return _Walker(project, records).step(record)
        raise UsageError(
            f"run {run_id[:8]} has no step {step_part!r}.",
            hint="Steps: " + (", ".join(r.step for r in records) or "none (not a pipeline run)"),
        )
    if "/" in ref or "@" in ref:  # a dataset reference (NAME@3 is refused with its new form)
        return _dataset(project, ref)
    lowered = ref.lower()
    if _HEX.match(lowered):
        runs = project.metadata.run_ids(lowered)
        if len(runs) == 1:
            return _run(project, runs[0])
        producers = project.metadata.pipelines.producers(lowered)
        if producers:
            record = producers[0]
            item = next(o for o in record.outputs if o.digest.startswith(lowered))
            walker = _Walker(project, project.metadata.pipelines.for_run(record.run_id))
            return _artifact(item, [walker.step(record)])
    raise UsageError(
        f"{ref!r} is not a run, a step (RUN_ID:STEP), an artifact digest or a dataset "
        "version in this project.",
        hint="keel runs list shows runs; keel run --format json shows output digests.",
    )


def _run(project: Project, run_id: str) -> LineageNode:
    run = project.metadata.get_run(run_id)
    records = project.metadata.pipelines.for_run(run_id)
    node = LineageNode(
        "run",
        f"run {run.name} ({run.status})",
        run_id=run.id,
        detail={"pipeline": run.tags.get("keel.pipeline"), "started_at": str(run.started_at)},
    )
    consumed = {
        (i.detail.get("producer"), i.detail.get("output"))
        for r in records
        for i in r.inputs
        if i.kind != "external"
    }
    walker = _Walker(project, records)
    for record in records:
        if not any((record.step, o.name) in consumed for o in record.outputs):
            node.children.append(walker.step(record))  # a final step: nothing reads it
    for data in (run.fingerprint or {}).get("data") or []:
        if not records:
            node.children.append(
                LineageNode("dataset", _label(data["name"], data["version"]), data.get("digest"))
            )
    return node


def _dataset(project: Project, ref: str) -> LineageNode:
    found = dataset_version(ref, project=project)
    node = LineageNode(
        "dataset",
        _label(found.name, found.version),
        found.digest,
        found.run_id,
        {"rows": found.rows, "stored": found.stored},
    )
    if found.run_id:
        node.children.append(_run(project, found.run_id))
    return node


def _label(name: Any, version: Any) -> str:
    """How a dataset version is shown: ``NAME/3``."""
    return str(Reference("dataset", str(name), int(version)))


def _artifact(item: StepIO, children: list[LineageNode]) -> LineageNode:
    detail = {k: v for k, v in item.detail.items() if k in ("rows", "contract", "filename")}
    detail["kind"] = item.kind
    label = item.name
    if item.detail.get("producer"):  # an input: name where it came from, and what it became
        label = f"{item.detail['producer']}.{item.detail.get('output')} as {item.name}"
    return LineageNode("artifact", label, item.digest, detail=detail, children=children)


def step_node(record: StepRunRecord) -> LineageNode:
    """A step run as a lineage node (its children are added by the walk, either direction)."""
    return LineageNode(
        "step",
        f"{record.pipeline}.{record.step}",
        record.key,
        record.run_id,
        {
            "status": record.status,
            "duration": round(record.duration, 3),
            "explanation": record.explanation,
            "outputs": {o.name: o.digest for o in record.outputs},
        },
    )


class _Walker:
    def __init__(self, project: Project, records: list[StepRunRecord]) -> None:
        self.project = project
        self.by_step = {r.step: r for r in records}

    def step(self, record: StepRunRecord, depth: int = 0) -> LineageNode:
        node = step_node(record)
        if depth > 100:
            return node  # a cycle cannot be recorded, but never loop on bad data
        for item in record.inputs:
            if item.kind == "external":
                dataset = item.detail.get("dataset")
                node.children.append(
                    LineageNode(
                        "dataset" if dataset else "file",
                        str(dataset or item.detail.get("path", item.name)),
                        item.digest,
                        detail={"input": item.name, "path": item.detail.get("path")},
                    )
                )
                continue
            producer = self.by_step.get(str(item.detail.get("producer")))
            children = [self.step(producer, depth + 1)] if producer is not None else []
            node.children.append(_artifact(item, children))
        return node


def to_rich(root: LineageNode) -> Tree:
    """The tree for a terminal."""
    tree = Tree(_line(root))

    def add(branch: Tree, node: LineageNode) -> None:
        for child in node.children:
            add(branch.add(_line(child)), child)

    add(tree, root)
    return tree


def _line(node: LineageNode) -> str:
    digest = f" [dim]{node.digest[:12]}[/]" if node.digest else ""
    if node.kind == "step":
        status = node.detail.get("status", "")
        style = {"finished": "green", "cached": "cyan", "failed": "red"}.get(status, "white")
        return (
            f"[bold]step[/] {node.label} [{style}]{status}[/] "
            f"{node.detail.get('duration', 0)} s [dim]run {str(node.run_id)[:8]}[/]"
        )
    if node.kind == "artifact":
        rows = node.detail.get("rows")
        extra = f", {rows:,} rows" if isinstance(rows, int) else ""
        return f"[bold]{node.detail.get('kind', 'artifact')}[/] {node.label}{extra}{digest}"
    if node.kind == "run":  # its label reads "run NAME (status)" already
        return f"[bold]{node.label}[/]"
    return f"[bold]{node.kind}[/] {node.label}{digest}"


def to_dot(root: LineageNode, *, downstream: bool = False) -> str:
    """The tree as a Graphviz digraph, edges in the direction data flowed (``downstream``:
    a tree of :func:`keel.pipelines.lineage_downstream`, whose children were made from
    their parent)."""
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    ids: dict[tuple[str, str, str | None], str] = {}
    edges: set[tuple[str, str]] = set()

    def ident(node: LineageNode) -> str:
        key = (node.kind, node.label, node.digest)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            shape = {"step": "box", "run": "box3d"}.get(node.kind, "note")
            label = node.label.replace('"', r"\"")
            text = label if node.kind == "run" else f"{node.kind}: {label}"  # "run NAME"
            lines.append(f'  {ids[key]} [label="{text}", shape={shape}];')
        return ids[key]

    def walk(node: LineageNode) -> None:
        me = ident(node)
        for child in node.children:
            edges.add((me, ident(child)) if downstream else (ident(child), me))
            walk(child)

    walk(root)
    lines += [f"  {a} -> {b};" for a, b in sorted(edges)]
    lines.append("}")
    return "\n".join(lines) + "\n"
