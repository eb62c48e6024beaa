"""Where Keel keeps things: the metadata store (runs, params, metrics, datasets) on SQLite or
PostgreSQL, and the content-addressed artifact store on any fsspec URL."""

from keel.errors import StoreUnavailableError as StoreUnavailableError
from keel.errors import StoreValueError as StoreValueError
from keel.errors import StoreVersionError as StoreVersionError
from keel.errors import StoreWriteError as StoreWriteError
from keel.store._artifacts import ArtifactCorruptedError as ArtifactCorruptedError
from keel.store._artifacts import ArtifactRef as ArtifactRef
from keel.store._artifacts import ArtifactStore as ArtifactStore
from keel.store._hashing import hash_bytes as hash_bytes
from keel.store._hashing import hash_file as hash_file
from keel.store._listing import ListedFile as ListedFile
from keel.store._listing import Listing as Listing
from keel.store._listing import read_listing as read_listing
from keel.store._listing import write_listing as write_listing
from keel.store._metadata import ArtifactRecord as ArtifactRecord
from keel.store._metadata import DatasetVersion as DatasetVersion
from keel.store._metadata import MetadataStore as MetadataStore
from keel.store._metadata import Metric as Metric
from keel.store._metadata import Run as Run
from keel.store._metadata import RunStatus as RunStatus
from keel.store._metadata import metric_step as metric_step
from keel.store._models import AliasConflictError as AliasConflictError
from keel.store._models import AliasState as AliasState
from keel.store._models import ModelEvent as ModelEvent
from keel.store._models import ModelStore as ModelStore
from keel.store._models import ModelVersion as ModelVersion
from keel.store._models import RegisteredModel as RegisteredModel
from keel.store._paths import UnsafePathError as UnsafePathError
from keel.store._paths import check_relative_path as check_relative_path
from keel.store._paths import safe_join as safe_join
from keel.store._pipelines import LineageEvent as LineageEvent
from keel.store._pipelines import PipelineStore as PipelineStore
from keel.store._pipelines import StepIO as StepIO
from keel.store._pipelines import StepRunRecord as StepRunRecord
from keel.store._pipelines import StepStatus as StepStatus
from keel.store._references import ReferenceRecord as ReferenceRecord
from keel.store._references import ReferenceStore as ReferenceStore
from keel.store._references import Subject as ReferenceSubject
from keel.store._run_search import FILTER_HELP as RUN_FILTER_HELP
from keel.store._run_search import RunPage as RunPage
from keel.store._storage_errors import ArtifactStoreError as ArtifactStoreError
from keel.store._trust import ObjectTrust as ObjectTrust
from keel.store._trust import UntrustedObjectError as UntrustedObjectError

__all__ = [
    "RUN_FILTER_HELP",
    "AliasConflictError",
    "AliasState",
    "ArtifactCorruptedError",
    "ArtifactRecord",
    "ArtifactRef",
    "ArtifactStore",
    "ArtifactStoreError",
    "DatasetVersion",
    "LineageEvent",
    "ListedFile",
    "Listing",
    "MetadataStore",
    "Metric",
    "ModelEvent",
    "ModelStore",
    "ModelVersion",
    "ObjectTrust",
    "PipelineStore",
    "ReferenceRecord",
    "ReferenceStore",
    "ReferenceSubject",
    "RegisteredModel",
    "Run",
    "RunPage",
    "RunStatus",
    "StepIO",
    "StepRunRecord",
    "StepStatus",
    "StoreUnavailableError",
    "StoreValueError",
    "StoreVersionError",
    "StoreWriteError",
    "UnsafePathError",
    "UntrustedObjectError",
    "check_relative_path",
    "hash_bytes",
    "hash_file",
    "metric_step",
    "read_listing",
    "safe_join",
    "write_listing",
]
