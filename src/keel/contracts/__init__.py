"""Typed data contracts: declared once, checked statically and at runtime in one pass.

Declaring contracts does not import Polars; checking data (``check_data``, ``read_data``,
``Schema.validate``) does, on first use.
"""

from typing import TYPE_CHECKING, Any

from keel.contracts._backends import require_unique_columns as require_unique_columns
from keel.contracts._checks import Check as Check
from keel.contracts._codegen import codegen as codegen
from keel.contracts._contract import ColumnKind as ColumnKind
from keel.contracts._contract import ColumnSpec as ColumnSpec
from keel.contracts._contract import Contract as Contract
from keel.contracts._decorator import check_types as check_types
from keel.contracts._diff import Change as Change
from keel.contracts._diff import ContractDiff as ContractDiff
from keel.contracts._diff import diff_contracts as diff_contracts
from keel.contracts._dtype_map import TypeMap as TypeMap
from keel.contracts._dtype_map import arrow_type as arrow_type
from keel.contracts._dtype_map import dtype_from_mlflow as dtype_from_mlflow
from keel.contracts._dtype_map import polars_type as polars_type
from keel.contracts._dtype_map import type_map as type_map
from keel.contracts._expr import Column as Column
from keel.contracts._expr import Expr as Expr
from keel.contracts._expr import col as col
from keel.contracts._expr import lit as lit
from keel.contracts._expr import parse_expr as parse_expr
from keel.contracts._field import Field as Field
from keel.contracts._field import FieldInfo as FieldInfo
from keel.contracts._infer import infer_contract as infer_contract
from keel.contracts._jsonschema import to_json_schema as to_json_schema
from keel.contracts._load import ContractLike as ContractLike
from keel.contracts._load import as_contract as as_contract
from keel.contracts._load import load_contract as load_contract
from keel.contracts._records import CheckedBatch as CheckedBatch
from keel.contracts._records import RecordChecker as RecordChecker
from keel.contracts._records import record_checker as record_checker
from keel.contracts._regex import translate as translate_pattern
from keel.contracts._report import CheckResult as CheckResult
from keel.contracts._report import Report as Report
from keel.contracts._rules import aggregate as aggregate
from keel.contracts._rules import close as close
from keel.contracts._rules import correlated as correlated
from keel.contracts._rules import expression as expression
from keel.contracts._rules import fresh as fresh
from keel.contracts._rules import functional_dependency as functional_dependency
from keel.contracts._rules import null_fraction as null_fraction
from keel.contracts._rules import ordered as ordered
from keel.contracts._rules import rows as rows
from keel.contracts._rules import rule as rule
from keel.contracts._rules import unique as unique
from keel.contracts._schema import Frame as Frame
from keel.contracts._schema import Schema as Schema
from keel.contracts._types import Categorical as Categorical
from keel.contracts._types import DType as DType
from keel.contracts._types import parse_annotation as parse_annotation
from keel.contracts._yaml import contract_from_dict as contract_from_dict
from keel.contracts._yaml import contract_to_dict as contract_to_dict
from keel.contracts._yaml import dump_yaml as dump_yaml
from keel.contracts._yaml import load_yaml as load_yaml
from keel.contracts._yaml import read_contract as read_contract

__all__ = [
    "Categorical",
    "Change",
    "Check",
    "CheckResult",
    "CheckedBatch",
    "Column",
    "ColumnKind",
    "ColumnSpec",
    "Contract",
    "ContractDiff",
    "ContractLike",
    "DType",
    "Expr",
    "Field",
    "FieldInfo",
    "Frame",
    "RecordChecker",
    "Report",
    "Schema",
    "TypeMap",
    "aggregate",
    "arrow_type",
    "as_contract",
    "check_data",
    "check_types",
    "checked_data",
    "close",
    "codegen",
    "col",
    "contract_from_dict",
    "contract_to_dict",
    "correlated",
    "diff_contracts",
    "dtype_from_mlflow",
    "dump_yaml",
    "expression",
    "fresh",
    "functional_dependency",
    "infer_contract",
    "lit",
    "load_contract",
    "load_yaml",
    "null_fraction",
    "open_data",
    "ordered",
    "parse_annotation",
    "parse_expr",
    "polars_type",
    "read_contract",
    "read_data",
    "record_checker",
    "require_unique_columns",
    "rows",
    "rule",
    "to_json_schema",
    "translate_pattern",
    "type_map",
    "unique",
]

if TYPE_CHECKING:
    from keel.contracts._engine import check_data as check_data
    from keel.contracts._engine import checked_data as checked_data
    from keel.contracts._io import open_data as open_data
    from keel.contracts._io import read_data as read_data

_LAZY = {
    "check_data": "keel.contracts._engine",
    "checked_data": "keel.contracts._engine",
    "open_data": "keel.contracts._io",
    "read_data": "keel.contracts._io",
}


def __getattr__(name: str) -> Any:
    """Load the engine (and Polars) only when data is first checked or read."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keel.contracts' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, so completion (IPython, Jupyter, the REPL) offers them."""
    return sorted({*globals(), *__all__})
