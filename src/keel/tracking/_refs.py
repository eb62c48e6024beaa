"""Dataset references resolved to the versions they name (``NAME/3``, or ``NAME``: the
latest); the grammar itself is :func:`keel.grammar.parse_reference`'s."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from keel._json import json_safe
from keel.grammar import Reference, parse_reference
from keel.tracking._project import Project, open_project

if TYPE_CHECKING:
    from keel.store import DatasetVersion

__all__ = ["dataset_version", "dataset_version_to_dict"]


def dataset_version(ref: str | Reference, *, project: Project | None = None) -> DatasetVersion:
    """The registered dataset version ``ref`` names (``NAME/3``, or ``NAME`` for the latest).

    A reference that breaks the grammar raises :class:`keel.grammar.InvalidNameError`; an
    unknown dataset or version a ``UsageError`` naming ``keel data list``.
    """
    if isinstance(ref, Reference):
        found = Reference("dataset", ref.name, ref.version, ref.alias)
    else:
        found = parse_reference(ref, kind="dataset")
    project = project or open_project()
    return project.metadata.get_dataset_version(found.name, found.version)


def dataset_version_to_dict(version: DatasetVersion) -> dict[str, Any]:
    """The documented JSON of one dataset version (``keel data list/show --format json``)."""
    data = dataclasses.asdict(version)
    data["contract_passed"] = (version.contract or {}).get("passed")
    return dict(json_safe(data))
