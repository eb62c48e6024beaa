"""Finding a contract by reference: a YAML/JSON file, or ``module:Class`` / ``file.py:Class``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from keel.contracts._contract import Contract
from keel.contracts._schema import Schema
from keel.contracts._yaml import read_contract
from keel.errors import InputError, UsageError

__all__ = ["load_contract"]

_FILES = {".yaml", ".yml", ".json"}


def load_contract(ref: str | Path) -> Contract:
    """Load ``contract.yaml``, ``contract.json``, ``package.module:Loan`` or ``schemas.py:Loan``."""
    text = str(ref)
    if Path(text).suffix.lower() in _FILES:
        return read_contract(text)
    module_ref, _, attribute = text.rpartition(":")
    if not module_ref or not attribute:
        raise UsageError(
            f"{text!r} is neither a contract file nor a Python reference.",
            hint="Pass contract.yaml, or module:Class such as myproject.schemas:Loan.",
        )
    module = _import(module_ref)
    schema = getattr(module, attribute, None)
    if not (isinstance(schema, type) and issubclass(schema, Schema)):
        raise UsageError(
            f"{module_ref} has no keel.Schema subclass named {attribute!r}.",
            hint="Name a class that subclasses keel.Schema.",
        )
    return schema.__contract__


def _import(module_ref: str) -> object:
    if module_ref.endswith(".py"):
        path = Path(module_ref)
        if not path.is_file():
            raise InputError(f"no Python file at {path}.", hint="Check the path.")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise InputError(f"cannot import {path}.", hint="Check that it is a Python module.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module_ref)
    except ImportError as exc:
        raise UsageError(
            f"cannot import {module_ref!r}: {exc}.",
            hint="Run from the project root, or install the package that defines the schema.",
        ) from exc
    finally:
        sys.path.remove(str(Path.cwd()))
