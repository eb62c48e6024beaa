"""``keel.add_dataset``: register a dataset version and store its reference profile with it.

Tracking sits below monitoring and does not know about profiles, so the everyday facade
joins the two, as :func:`keel.register` does for models: :func:`keel.tracking.add_dataset`
records the version, then :func:`keel.monitor.store_dataset_reference` profiles tabular data
(Parquet, CSV, NDJSON), which ``keel monitor compare data:NAME@VERSION CURRENT`` compares
with. ``keel data add`` is this call.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.store import DatasetVersion
    from keel.tracking import Project

__all__ = ["ProfileWarning", "add_dataset"]


class ProfileWarning(UserWarning):
    """A dataset version was recorded without its reference profile (the profiling failed;
    the version is recorded either way)."""


def add_dataset(
    path: str | os.PathLike[str],
    name: str,
    *,
    contract: Any = None,
    reference_only: bool = False,
    profile: bool = True,
    project: Project | None = None,
) -> DatasetVersion:
    """Register the data at ``path`` as the next version of dataset ``name``
    (:func:`keel.tracking.add_dataset`) and, for tabular data unless ``profile=False``,
    store the version's reference profile.

    Unchanged data returns the version it matches, whose profile is stored already. A
    profile that cannot be computed warns (:class:`ProfileWarning`) instead of raising:
    the version is recorded either way, and ``keel monitor reference set data:NAME/3``
    can store the profile later.
    """
    from keel.tracking import add_dataset as add_version
    from keel.tracking import open_project

    project = project or open_project()
    version = add_version(
        path, name, contract=contract, reference_only=reference_only, project=project
    )
    if profile and version.schema is not None:
        _store_profile(project, version, path)
    return version


def _store_profile(project: Project, version: DatasetVersion, path: Any) -> None:
    if project.metadata.references.get("dataset", version.name, version.version):
        return  # unchanged data: its profile is stored already
    from keel.monitor import store_dataset_reference

    ref = f"{version.name}/{version.version}"
    try:
        store_dataset_reference(ref, data=path, project=project)
    except KeelError as error:
        warnings.warn(
            ProfileWarning(f"{ref} was recorded without a reference profile: {error.message}"),
            stacklevel=3,
        )
