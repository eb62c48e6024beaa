"""``@keel.step``: a plain typed function that a pipeline can wire, check, cache and run.

A step's parameters are its inputs and its return annotation its outputs. Each has a
*kind*, read from the annotation, that says how the value is checked and stored:

- ``frame``: ``keel.Frame[S]``: data under the contract ``S``, stored as Parquet;
- ``file``: ``pathlib.Path``: a file, stored by content;
- ``json``: ``int``, ``float``, ``str``, ``bool``, lists and dicts of them: canonical JSON;
- ``object``: anything else (a fitted model, say): pickled. Cached objects come from this
  project's own store, never from a request.

A step returning ``tuple[A, B]`` (or a ``NamedTuple``) has one output per element. Called
outside a pipeline a step is just its function, so it stays unit-testable as it is.
"""

from __future__ import annotations

import inspect
import pathlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar, overload

from keel._hints import type_hints
from keel.contracts import Frame, Schema
from keel.errors import UsageError
from keel.pipelines._tracing import active_tracer

__all__ = ["Kind", "Mode", "Port", "Step", "step"]

Kind = Literal["frame", "file", "json", "object"]
Mode = Literal["full", "schema", "off"]
MODES: tuple[Mode, ...] = ("full", "schema", "off")

P = ParamSpec("P")
R = TypeVar("R")

_JSON_SCALARS = (int, float, str, bool, type(None))


class _NoDefault:
    def __repr__(self) -> str:
        return "<required>"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Port:
    """One input (a parameter) or output (an element of the return value) of a step."""

    name: str
    kind: Kind
    annotation: Any
    schema: type[Schema] | None = None
    default: Any = NO_DEFAULT

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def describe(self) -> str:
        if self.schema is not None:
            return f"Frame[{self.schema.__name__}]"
        return getattr(self.annotation, "__name__", None) or str(self.annotation)


@dataclass(frozen=True)
class StepOptions:
    contracts: Mode | None = None  # None: the pipeline's setting
    retries: int = 0
    retry_delay: float = 1.0
    backoff: float = 2.0
    timeout: float | None = None
    cache: bool = True


class Step:
    """A function made into a pipeline step (see :func:`step`)."""

    def __init__(self, fn: Callable[..., Any], options: StepOptions) -> None:
        self.fn = fn
        self.name: str = fn.__name__
        self.options = options
        self.inputs, self.outputs, self.multiple = _ports(fn)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<keel step {self.name}>"


@overload
def step(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def step(
    *,
    contracts: Mode | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    backoff: float = 2.0,
    timeout: float | None = None,
    cache: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    contracts: Mode | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    backoff: float = 2.0,
    timeout: float | None = None,
    cache: bool = True,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a typed function a pipeline step.

    ``contracts`` checks frames at this step's boundary (``full``, ``schema`` or ``off``;
    default: the pipeline's). A failing step is tried ``retries`` more times, waiting
    ``retry_delay`` seconds, then ``backoff`` times longer each time; ``timeout`` (seconds)
    fails an attempt that runs longer. ``cache=False`` always runs the step.
    """
    if contracts is not None and contracts not in MODES:
        raise UsageError(
            f"@keel.step(contracts={contracts!r}) is not a contract mode.",
            hint="Use 'full', 'schema' or 'off'.",
        )
    if retries < 0 or retry_delay < 0 or backoff < 1 or (timeout is not None and timeout <= 0):
        raise UsageError(
            f"@keel.step(retries={retries}, retry_delay={retry_delay}, backoff={backoff}, "
            f"timeout={timeout}) is out of range.",
            hint="retries >= 0, retry_delay >= 0, backoff >= 1, timeout > 0 (seconds) or None.",
        )
    options = StepOptions(contracts, retries, retry_delay, backoff, timeout, cache)

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        return typing.cast(Callable[P, R], Step(function, options))

    return wrap(fn) if fn is not None else wrap


def as_step(obj: object) -> Step | None:
    return obj if isinstance(obj, Step) else None


# -- reading annotations -------------------------------------------------------------------
def _ports(fn: Callable[..., Any]) -> tuple[dict[str, Port], tuple[Port, ...], bool]:
    where = f"step {fn.__qualname__}"
    hints = type_hints(fn, where)
    inputs: dict[str, Port] = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise UsageError(
                f"{where}: *{name} / **{name} cannot be wired.",
                hint="Give a step named parameters only.",
            )
        if name not in hints:
            raise UsageError(
                f"{where}: parameter {name!r} has no type annotation.",
                hint="Annotate it (keel.Frame[Schema], Path, int, str, a model class...).",
            )
        kind, schema = _kind(hints[name])
        default = NO_DEFAULT if parameter.default is parameter.empty else parameter.default
        inputs[name] = Port(name, kind, hints[name], schema, default)
    if "return" not in hints:
        raise UsageError(
            f"{where} has no return annotation.",
            hint="Annotate what it returns (-> keel.Frame[Schema], -> dict[str, float], -> None).",
        )
    returned = hints["return"]
    if returned is None or returned is type(None):
        return inputs, (), False
    elements = _tuple_elements(returned)
    if elements is None:
        kind, schema = _kind(returned)
        return inputs, (Port("out", kind, returned, schema),), False
    names, types_ = elements
    outputs = tuple(
        Port(name, _kind(t)[0], t, _kind(t)[1]) for name, t in zip(names, types_, strict=True)
    )
    return inputs, outputs, True


def _tuple_elements(annotation: Any) -> tuple[list[str], list[Any]] | None:
    """Names and types of a tuple return (``tuple[A, B]`` or a NamedTuple), else None."""
    if isinstance(annotation, type) and issubclass(annotation, tuple):
        fields = getattr(annotation, "__annotations__", None)
        if hasattr(annotation, "_fields") and fields:
            hints = typing.get_type_hints(annotation)
            return list(annotation._fields), [hints[f] for f in annotation._fields]
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and args[-1] is not Ellipsis:
            return [f"out{i}" for i in range(len(args))], list(args)
    return None


def _kind(annotation: Any) -> tuple[Kind, type[Schema] | None]:
    if typing.get_origin(annotation) is Frame:
        (schema,) = typing.get_args(annotation)
        if not (isinstance(schema, type) and issubclass(schema, Schema)):
            raise UsageError(
                f"keel.Frame[{schema!r}] needs a keel.Schema class.",
                hint="Declare the schema: class Features(keel.Schema): ...",
            )
        return "frame", schema
    if annotation is Frame:
        raise UsageError(
            "a step annotation says keel.Frame without a schema.",
            hint="Write keel.Frame[YourSchema], so the pipeline can check the handoff.",
        )
    if isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath):
        return "file", None
    if _is_json(annotation):
        return "json", None
    return "object", None


def _is_json(annotation: Any) -> bool:
    if annotation in _JSON_SCALARS or annotation is Any:
        return annotation is not Any
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, typing.Union, types.UnionType):
        return all(a is Ellipsis or _is_json(a) for a in args)
    if origin is dict or origin is Mapping:
        return len(args) == 2 and args[0] is str and _is_json(args[1])
    return annotation in (list, dict)
