"""Turning what a user passes as a contract into a :class:`Contract`: one way, used by every
API that takes one (registering a model, a reference profile, an MLflow import...).

A contract may be given as a ``keel.Schema`` class, a ``Contract``, or a reference: the path
of a YAML/JSON file, or ``module:Class`` / ``file.py:Class`` naming a schema class.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TypeAlias, TypeGuard

from keel.contracts._contract import Contract
from keel.contracts._schema import Schema
from keel.contracts._yaml import read_contract
from keel.errors import InputError, UsageError

__all__ = ["ContractLike", "as_contract", "load_contract"]

_FILES = {".yaml", ".yml", ".json"}

ContractLike: TypeAlias = type[Schema] | Contract | str | os.PathLike[str]
"""What every ``contract=`` parameter takes: a ``keel.Schema`` class, a ``Contract``, the path
of a ``contract.yaml``/``.json`` file, or a ``module:Class`` / ``file.py:Class`` reference."""

_FORMS = "a keel.Schema class, a Contract, a contract.yaml/.json path or a module:Class reference"


def as_contract(value: ContractLike, *, what: str = "contract") -> Contract:
    """The :class:`Contract` that ``value`` (:data:`ContractLike`) stands for.

    ``what`` names the parameter in the error a value of another kind raises.
    """
    if isinstance(value, Contract):
        return value
    if isinstance(value, str | os.PathLike):
        return load_contract(os.fspath(value))
    if _is_schema(value):
        return value.__contract__
    raise UsageError(
        f"{what}={value!r} is not a contract: expected {_FORMS}, got a {type(value).__name__}.",
        hint=f'Pass the schema class of the data, e.g. {what}=Features, or {what}="contract.yaml".',
    )


def _is_schema(value: object) -> TypeGuard[type[Schema]]:
    """A subclass of ``keel.Schema`` (the base class declares no contract of its own)."""
    return isinstance(value, type) and issubclass(value, Schema) and value is not Schema


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
