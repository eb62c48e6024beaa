"""The ``keel`` command: a thin Typer layer over the library (one module per command group)."""

from keel.cli._app import app as app
from keel.cli._app import main as main

__all__ = ["app", "main"]
