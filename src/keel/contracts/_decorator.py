"""``@keel.check_types``: validate ``Frame[S]``-annotated arguments and return values."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from keel._hints import type_hints
from keel.contracts._schema import Frame, Schema
from keel.errors import ContractError

__all__ = ["check_types"]

P = ParamSpec("P")
R = TypeVar("R")


def check_types(fn: Callable[P, R]) -> Callable[P, R]:
    """Validate every ``Frame[S]`` argument and a ``Frame[S]`` return value at call time.

    A raw frame (Polars, pandas...) passed where ``Frame[S]`` is annotated is validated
    against ``S`` and handed to the function as a ``Frame[S]``; a ``Frame`` already validated
    against ``S`` (or a subclass) passes through without a second scan. A returned raw frame
    is validated and wrapped the same way. Violations raise ``ContractError`` naming the
    function and the argument.
    """
    hints = _frame_hints(fn)
    signature = inspect.signature(fn)
    returns = hints.pop("return", None)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        for name, schema in hints.items():
            if name in bound.arguments:
                where = f"argument {name!r} of {fn.__qualname__}()"
                bound.arguments[name] = _ensure(bound.arguments[name], schema, where)
        result = fn(*bound.args, **bound.kwargs)
        if returns is not None:
            return typing.cast(R, _ensure(result, returns, f"return value of {fn.__qualname__}()"))
        return result

    return wrapper


def _frame_hints(fn: Callable[..., Any]) -> dict[str, type[Schema]]:
    hints = type_hints(fn, f"{fn.__qualname__}()")
    found: dict[str, type[Schema]] = {}
    for name, hint in hints.items():
        if typing.get_origin(hint) is Frame:
            (schema,) = typing.get_args(hint)
            if isinstance(schema, type) and issubclass(schema, Schema):
                found[name] = schema
    return found


def _ensure(value: Any, schema: type[Schema], where: str) -> Frame[Any]:
    if isinstance(value, Frame) and issubclass(value.schema, schema):
        return value
    data = value.native if isinstance(value, Frame) else value
    try:
        return schema.validate(data)
    except ContractError as exc:
        raise ContractError(exc.report, where=where) from None
