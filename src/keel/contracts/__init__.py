"""Typed data contracts: declared once, checked statically and at runtime in one pass."""

from keel.contracts._checks import Check as Check
from keel.contracts._contract import ColumnSpec as ColumnSpec
from keel.contracts._decorator import check_types as check_types
from keel.contracts._engine import check_data as check_data
from keel.contracts._io import read_data as read_data
from keel.contracts._contract import Contract as Contract
from keel.contracts._expr import Column as Column
from keel.contracts._expr import Expr as Expr
from keel.contracts._expr import col as col
from keel.contracts._expr import lit as lit
from keel.contracts._expr import parse_expr as parse_expr
from keel.contracts._field import Field as Field
from keel.contracts._field import FieldInfo as FieldInfo
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

__all__ = [
    "Categorical",
    "Check",
    "CheckResult",
    "Column",
    "ColumnSpec",
    "Contract",
    "DType",
    "Expr",
    "Field",
    "FieldInfo",
    "Frame",
    "Report",
    "Schema",
    "aggregate",
    "check_data",
    "check_types",
    "close",
    "col",
    "correlated",
    "expression",
    "fresh",
    "functional_dependency",
    "lit",
    "null_fraction",
    "ordered",
    "parse_expr",
    "read_data",
    "rows",
    "rule",
    "unique",
]
