"""The model registry: immutable versions, aliases, an append-only event log, gates."""

from keel.registry._features import FeatureServiceSnapshot as FeatureServiceSnapshot
from keel.registry._features import SnapshotFeature as SnapshotFeature
from keel.registry._features import SnapshotView as SnapshotView
from keel.registry._gate import evaluate_model as evaluate_model
from keel.registry._gate import gate as gate
from keel.registry._mlflow import export_mlflow as export_mlflow
from keel.registry._mlflow import import_mlflow as import_mlflow
from keel.registry._mlflow import mlflow_flavour as mlflow_flavour
from keel.registry._policy import Check as GateCheck
from keel.registry._policy import GatePolicy as GatePolicy
from keel.registry._policy import GateResult as GateResult
from keel.registry._registry import ModelRejectedError as ModelRejectedError
from keel.registry._registry import actor as actor
from keel.registry._registry import feature_snapshot as feature_snapshot
from keel.registry._registry import history as history
from keel.registry._registry import load as load
from keel.registry._registry import register as register
from keel.registry._registry import register_package as register_package
from keel.registry._registry import resolve as resolve
from keel.registry._registry import rollback as rollback
from keel.registry._registry import set_alias as set_alias
from keel.store import AliasConflictError as AliasConflictError

__all__ = [
    "AliasConflictError",
    "FeatureServiceSnapshot",
    "GateCheck",
    "GatePolicy",
    "GateResult",
    "ModelRejectedError",
    "SnapshotFeature",
    "SnapshotView",
    "actor",
    "evaluate_model",
    "export_mlflow",
    "feature_snapshot",
    "gate",
    "history",
    "import_mlflow",
    "load",
    "mlflow_flavour",
    "register",
    "register_package",
    "resolve",
    "rollback",
    "set_alias",
]
