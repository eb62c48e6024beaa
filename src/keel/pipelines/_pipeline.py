"""Pipelines: a ``@keel.pipeline`` function (or steps added one by one) and its parameters.

A ``@keel.pipeline`` function is called once, with its parameters' values, while a *trace*
is active (:mod:`keel.pipelines._tracing`): each step call then records a node and returns
placeholders for its outputs instead of running. Python's own evaluation gives the order and
the wiring, so there is no graph language to learn. The same graph can be built explicitly
(``Pipeline("name")`` and :meth:`Pipeline.add` with :func:`~keel.pipelines.ref`), which is
also how a cycle or a reference to an unknown step can arise; both forms give a
:class:`~keel.pipelines._graph.Graph`, checked the same way before anything runs.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

from keel._hints import type_hints
from keel.errors import UsageError, did_you_mean
from keel.grammar import check_name
from keel.pipelines._graph import Binding, Graph, Node, ParamRef, Ref, Value, value_fits
from keel.pipelines._runner import PipelineResult, run_pipeline
from keel.pipelines._step import MODES, NO_DEFAULT, Mode, Port, Step, as_step
from keel.pipelines._tracing import tracing

__all__ = ["Param", "Pipeline", "pipeline"]

P = ParamSpec("P")
R = TypeVar("R")


# -- parameters -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """A pipeline parameter: overridable from the CLI with ``--param name=value``."""

    name: str
    annotation: Any
    default: Any = NO_DEFAULT

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def describe(self) -> str:
        return getattr(self.annotation, "__name__", None) or str(self.annotation)

    def parse(self, text: str) -> Any:
        """The value of ``--param name=text``, converted to the parameter's type."""
        value = _parse_text(self.annotation, text)
        if value is _INVALID or not value_fits(self.annotation, value):
            raise UsageError(
                f"--param {self.name}={text}: {text!r} is not a valid {self.describe()}.",
                hint=f"Give {self.name} a {self.describe()} value"
                + (f" (default: {self.default!r})." if not self.required else "."),
            )
        return value


_INVALID: Any = object()


def _parse_text(annotation: Any, text: str) -> Any:  # noqa: PLR0911 - one return per type
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if type(None) in args and text.strip().lower() in {"none", "null"}:
            return None
        for arg in args:
            if arg is not type(None):
                value = _parse_text(arg, text)
                if value is not _INVALID:
                    return value
        return _INVALID
    try:
        if annotation is bool:
            lowered = text.strip().lower()
            truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return truth.get(lowered, _INVALID)
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is str:
            return text
        if isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath):
            return pathlib.Path(text)
        return json.loads(text)
    except (ValueError, TypeError):
        return _INVALID


# -- tracing --------------------------------------------------------------------------------
class Output:
    """A step's output while a pipeline is being built: pass it to another step."""

    __slots__ = ("index", "node", "port")

    def __init__(self, node: str, index: int, port: Port) -> None:
        self.node, self.index, self.port = node, index, port

    def __repr__(self) -> str:
        return f"<output {self.port.name!r} of step {self.node!r}>"

    def __bool__(self) -> bool:
        raise UsageError(
            f"{self!r} has no value while the pipeline is being built.",
            hint="Pass step outputs to other steps; decide on them inside a step.",
        )

    def __iter__(self) -> Iterator[Any]:
        raise UsageError(
            f"{self!r} is one output; it cannot be unpacked.",
            hint="Annotate the step's return as tuple[A, B] to give it several outputs.",
        )


class _Trace:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.problems: list[str] = []

    def call(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = step.name
        count = 2
        while name in self.nodes:
            name, count = f"{step.name}_{count}", count + 1
        names = list(step.inputs)
        given: dict[str, Any] = dict(zip(names, args, strict=False))
        if len(args) > len(names):
            self.problems.append(
                f"step {name!r} takes {len(names)} input(s) but was given {len(args)}."
            )
        for key, value in kwargs.items():
            if key not in step.inputs:
                hint = did_you_mean(key, names).split(" Known")[0]
                self.problems.append(f"step {name!r} has no input {key!r}. {hint}".rstrip())
            elif key in given:
                self.problems.append(f"step {name!r} got input {key!r} twice.")
            else:
                given[key] = value
        bindings: dict[str, Binding] = {}
        for key, value in given.items():
            is_output = isinstance(value, Output)
            bindings[key] = Ref(value.node, value.index) if is_output else Value(value)
        for key, port in step.inputs.items():
            if key not in bindings and not port.required:
                bindings[key] = Value(port.default)
        self.nodes[name] = Node(name, step, bindings)
        outputs = tuple(Output(name, i, p) for i, p in enumerate(step.outputs))
        if not step.outputs:
            return None
        return outputs if step.multiple else outputs[0]


# -- pipelines ------------------------------------------------------------------------------
class Pipeline:
    """A pipeline: a ``@keel.pipeline`` function, or steps added with :meth:`add`."""

    def __init__(
        self,
        name: str | None = None,
        fn: Callable[..., Any] | None = None,
        *,
        contracts: Mode | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if contracts is not None and contracts not in MODES:
            raise UsageError(
                f"contracts={contracts!r} is not a contract mode.",
                hint="Use 'full', 'schema' or 'off'.",
            )
        if fn is None and name is None:
            raise UsageError("a pipeline needs a name.", hint='keel.Pipeline("training")')
        self.fn = fn
        self.name: str = check_name(name or (fn.__name__ if fn else ""), "pipeline")
        self.contracts = contracts
        self.source: str | None = None  # how keel run found it ("file.py:fn"), for reproduce
        self._added: dict[str, tuple[Step, dict[str, Any]]] = {}
        self.params: dict[str, Param] = _params(fn) if fn else {}
        for key, default in (params or {}).items():
            self.params[key] = Param(key, type(default) if default is not None else Any, default)
        if fn is not None:
            self.__doc__ = fn.__doc__
            self.__wrapped__ = fn

    def add(self, name: str, step: Any, /, **inputs: Any) -> None:
        """Add a step as node ``name``; inputs are values, :func:`ref` or :func:`param`."""
        check_name(name, "step")
        found = as_step(step)
        if found is None:
            raise UsageError(
                f"Pipeline.add({name!r}, {step!r}): not a step.",
                hint="Decorate the function with @keel.step.",
            )
        if self.fn is not None:
            raise UsageError(
                f"pipeline {self.name!r} is defined by a function; it cannot also add steps.",
                hint="Call the step inside the pipeline function instead.",
            )
        if name in self._added:
            raise UsageError(f"pipeline {self.name!r} already has a step named {name!r}.")
        self._added[name] = (found, inputs)

    def resolve_params(
        self, given: Mapping[str, Any] | None = None, *, texts: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Parameter values: defaults, then ``given`` values, then ``texts`` (CLI strings)."""
        values = {k: p.default for k, p in self.params.items() if not p.required}
        for source in (given or {}), (texts or {}):
            for key, value in source.items():
                if key not in self.params:
                    raise UsageError(
                        f"pipeline {self.name!r} has no parameter {key!r}.",
                        hint=did_you_mean(key, self.params) if self.params else "It has none.",
                    )
                spec = self.params[key]
                if source is texts:
                    values[key] = spec.parse(value)
                    continue
                if not value_fits(spec.annotation, value):
                    raise UsageError(
                        f"parameter {key!r} of pipeline {self.name!r} must be "
                        f"{spec.describe()}, got {value!r}.",
                        hint=f"Pass a {spec.describe()}.",
                    )
                values[key] = value
        missing = [k for k in self.params if k not in values]
        if missing:
            raise UsageError(
                f"pipeline {self.name!r} needs parameter(s) {', '.join(missing)}.",
                hint=" ".join(f"--param {k}=..." for k in missing),
            )
        return values

    def build(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        texts: Mapping[str, str] | None = None,
        contracts: Mode | None = None,
    ) -> Graph:
        """The graph for these parameter values (not yet checked: see :meth:`Graph.check`)."""
        values = self.resolve_params(params, texts=texts)
        mode: Mode = contracts or self.contracts or "full"
        if self.fn is None:
            return self._explicit_graph(values, mode)
        trace = _Trace()
        try:
            with tracing(trace):
                self.fn(**values)
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(
                f"pipeline {self.name!r} raised while being built: {type(exc).__name__}: {exc}",
                hint="A pipeline function only calls steps; compute inside steps.",
            ) from exc
        if not trace.nodes and not trace.problems:
            trace.problems.append("it calls no step (decorate the functions with @keel.step).")
        return Graph(self.name, trace.nodes, values, mode, trace.problems)

    def check(self, params: Mapping[str, Any] | None = None, **kw: Any) -> Graph:
        """Build and check the graph without running anything (``keel check``)."""
        return self.build(params, **kw).check()

    def run(self, params: Mapping[str, Any] | None = None, **options: Any) -> PipelineResult:
        """Run the pipeline (see :func:`keel.pipelines.run_pipeline` for the options)."""
        return run_pipeline(self, params, **options)

    def __call__(self, **params: Any) -> PipelineResult:
        return self.run(params)

    def __repr__(self) -> str:
        return f"<keel pipeline {self.name}>"

    def _explicit_graph(self, values: dict[str, Any], mode: Mode) -> Graph:
        nodes: dict[str, Node] = {}
        problems: list[str] = []
        for name, (step, inputs) in self._added.items():
            bindings: dict[str, Binding] = {}
            for key, value in inputs.items():
                if key not in step.inputs:
                    problems.append(
                        f"step {name!r} has no input {key!r}. "
                        + did_you_mean(key, step.inputs).split(" Known")[0]
                    )
                elif isinstance(value, ParamRef):
                    bindings[key] = (
                        Value(values[value.name], value.name) if value.name in values else value
                    )
                elif isinstance(value, Ref):
                    bindings[key] = value
                else:
                    bindings[key] = Value(value)
            for key, port in step.inputs.items():
                if key not in bindings and not port.required:
                    bindings[key] = Value(port.default)
            nodes[name] = Node(name, step, bindings)
        return Graph(self.name, nodes, values, mode, problems)


def _params(fn: Callable[..., Any]) -> dict[str, Param]:
    hints = type_hints(fn, f"pipeline {fn.__qualname__}")
    found: dict[str, Param] = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        annotation = hints.get(name)
        if annotation is None:
            default = parameter.default
            annotation = type(default) if default not in (parameter.empty, None) else Any
        found[name] = Param(
            name,
            annotation,
            NO_DEFAULT if parameter.default is parameter.empty else parameter.default,
        )
    return found


@overload
def pipeline(fn: Callable[P, R], /) -> Pipeline: ...


@overload
def pipeline(
    *, name: str | None = None, contracts: Mode | None = None
) -> Callable[[Callable[P, R]], Pipeline]: ...


def pipeline(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    contracts: Mode | None = None,
) -> Pipeline | Callable[[Callable[P, R]], Pipeline]:
    """Make a function that calls steps a pipeline; its parameters are the pipeline's.

    ``contracts`` sets how frames are checked at step boundaries (``full`` by default,
    ``schema``, ``off``); a step's own setting wins.
    """

    def wrap(function: Callable[P, R]) -> Pipeline:
        return Pipeline(name, function, contracts=contracts)

    return wrap(fn) if fn is not None else wrap
