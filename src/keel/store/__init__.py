"""Where Keel keeps things: the metadata store (runs, params, metrics, datasets) on SQLite or
PostgreSQL, and the content-addressed artifact store on any fsspec URL."""

from keel.errors import StoreUnavailableError as StoreUnavailableError
from keel.errors import StoreVersionError as StoreVersionError
from keel.store._artifacts import ArtifactCorruptedError as ArtifactCorruptedError
from keel.store._artifacts import ArtifactRef as ArtifactRef
from keel.store._artifacts import ArtifactStore as ArtifactStore
from keel.store._hashing import hash_bytes as hash_bytes
from keel.store._hashing import hash_file as hash_file
from keel.store._metadata import ArtifactRecord as ArtifactRecord
from keel.store._metadata import DatasetVersion as DatasetVersion
from keel.store._metadata import MetadataStore as MetadataStore
from keel.store._metadata import Metric as Metric
from keel.store._metadata import Run as Run
from keel.store._metadata import RunStatus as RunStatus

__all__ = [
    "ArtifactCorruptedError",
    "ArtifactRecord",
    "ArtifactRef",
    "ArtifactStore",
    "DatasetVersion",
    "MetadataStore",
    "Metric",
    "Run",
    "RunStatus",
    "StoreUnavailableError",
    "StoreVersionError",
    "hash_bytes",
    "hash_file",
]
