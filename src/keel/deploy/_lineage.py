"""Deployments in downstream lineage: which deployment serves a model version.

A deployment is named after its model (``deploy/NAME.yaml``, or the default spec: the
champion alone) and serves the versions its aliases point at: the champion alias answers
requests, a rollout's challenger alias gets shadow or canary traffic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel.deploy._rollout import spec_file
from keel.deploy._spec import load_spec
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.pipelines import LineageNode
    from keel.tracking import Project

__all__ = ["with_deployments"]


def with_deployments(root: LineageNode, *, project: Project | None = None) -> LineageNode:
    """``root`` (a tree from :func:`keel.pipelines.lineage_downstream`) with, under each
    model version, the deployment that serves it (``kind`` ``"deployment"``; ``detail``:
    ``name``, ``role`` champion or challenger, ``alias``, ``spec``: the spec file or
    ``None`` for the default). Changes ``root`` in place and returns it."""
    from keel.pipelines import LineageNode
    from keel.tracking import open_project

    project = project or open_project()
    folder = project.config.root

    def visit(node: LineageNode) -> None:
        for child in node.children:
            visit(child)
        if node.kind != "model":
            return
        name, aliases = str(node.detail["name"]), list(node.detail.get("aliases") or [])
        try:
            spec = load_spec(name, root=folder)
        except KeelError as error:  # a broken spec is shown, not hidden
            node.children.append(LineageNode("deployment", name, detail={"error": error.message}))
            return
        roles = [("champion", spec.champion)]
        if spec.challenger is not None:
            roles.append(("challenger", spec.challenger.alias))
        for role, alias in roles:
            if alias in aliases:
                detail: dict[str, Any] = {"name": name, "role": role, "alias": alias}
                detail["spec"] = spec_file(name, root=folder)
                node.children.append(LineageNode("deployment", f"{name} ({role})", detail=detail))

    visit(root)
    return root
