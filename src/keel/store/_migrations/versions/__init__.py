"""Alembic revision scripts of the metadata store, applied by ``keel.store._migrations``."""
