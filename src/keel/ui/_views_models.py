"""A model version's stored evaluations, as the version page and its JSON show them.

``keel models evaluate`` (:func:`keel.registry.evaluate_model`) appends each result to the
model's event log as an ``evaluation`` event of the version. Each item here is the object
``keel models evaluate --format json`` printed (``model``, ``version`` and
:meth:`keel.models.Evaluation.to_dict`: ``metrics`` and ``slices`` with their intervals,
``calibration``), plus where it came from: the event's ``id``, ``created_at``, ``actor``, the
``data`` it ran on (``dataset``: ``NAME/3`` when it was a registered dataset version),
``target`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel.store import ModelEvent

__all__ = ["EVALUATION", "evaluations"]

EVALUATION = "evaluation"
"""The event kind :func:`keel.registry.evaluate_model` records."""


def evaluations(events: Iterable[ModelEvent]) -> list[dict[str, Any]]:
    """The evaluations among ``events`` (one version's), newest first."""
    found = []
    for event in events:
        if event.kind != EVALUATION:
            continue
        shape = event.to_dict()
        detail = shape["detail"]
        result = detail.get("evaluation")
        if not isinstance(result, dict):
            continue
        found.append(
            {"model": event.name, "version": event.version}
            | result
            | {
                "id": event.id,
                "created_at": shape["created_at"],
                "actor": event.actor,
                "data": detail.get("data"),
                "dataset": detail.get("dataset"),
                "target": detail.get("target"),
                "seed": detail.get("seed"),
            }
        )
    return found[::-1]
