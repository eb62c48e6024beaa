"""Where Keel keeps things: a content-addressed artifact store (the metadata store follows)."""

from keel.store._artifacts import ArtifactRef as ArtifactRef
from keel.store._artifacts import ArtifactStore as ArtifactStore
from keel.store._hashing import hash_bytes as hash_bytes
from keel.store._hashing import hash_file as hash_file

__all__ = ["ArtifactRef", "ArtifactStore", "hash_bytes", "hash_file"]
