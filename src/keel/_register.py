"""``keel.register``: register a model version and, given ``reference=``, store its
reference profile with it.

The registry sits below monitoring and does not know about profiles, so the everyday facade
joins the two: :func:`keel.registry.register` registers, then
:func:`keel.monitor.store_model_reference`'s storage records the profile. The reference data is
profiled (and checked for the model's input columns) *before* anything is registered, so bad
reference data registers nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel.store import ModelVersion
    from keel.tracking import ActiveRun, Project

__all__ = ["register"]


def register(
    model: Any,
    name: str,
    *,
    contract: Any = None,
    output_contract: Any = None,
    run: ActiveRun | str | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str | None = None,
    sample: Any = None,
    trusted: bool = False,
    reference: Any = None,
    project: Project | None = None,
) -> ModelVersion:
    """Register ``model`` as the next immutable version of ``name``
    (:func:`keel.registry.register`).

    ``reference`` (a frame or a data path, typically the training data) is profiled on the
    contract's columns (every column without a contract) and stored as the version's
    reference profile, which ``keel monitor compare model:NAME/V CURRENT`` compares with.
    """
    from keel.registry import register as register_version
    from keel.tracking import open_project

    project = project or open_project()
    prepared = None
    if reference is not None:
        from keel.monitor._reference import contract_columns, prepare_reference

        columns = contract_columns(contract) if contract is not None else None
        prepared = prepare_reference(reference, columns, what=f"model {name!r}")
    version = register_version(
        model,
        name,
        contract=contract,
        output_contract=output_contract,
        run=run,
        metrics=metrics,
        description=description,
        sample=sample,
        trusted=trusted,
        project=project,
    )
    if prepared is not None:
        from keel.monitor._reference import save_model_reference, with_outputs

        save_model_reference(project, version, with_outputs(prepared, reference, project, version))
    return version
