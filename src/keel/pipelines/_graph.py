"""Pipelines: the graph of step calls, built by running the pipeline function, and its checks.

A ``@keel.pipeline`` function is called once, with its parameters' values, while a *trace*
is active: each step call then records a node and returns placeholders for its outputs
instead of running. Python's own evaluation gives the order and the wiring, so there is no
graph language to learn. The same graph can be built explicitly (``Pipeline("name")`` and
:meth:`Pipeline.add` with :func:`ref`), which is also how a cycle or a reference to an
unknown step can arise; both forms are checked the same way before anything runs.

The check (:meth:`Graph.problems`) finds every problem, not the first: unknown steps,
cycles, unbound or unknown inputs, kinds that do not fit (a frame where a number is
expected), and, for frames, a consumer's contract that the producer's does not guarantee:
a required column missing, a type mismatch, a nullable column where nulls are not allowed.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from keel._hints import type_hints
from keel.contracts import Contract, DType
from keel.errors import PipelineDefinitionError, UsageError, did_you_mean
from keel.pipelines._step import MODES, NO_DEFAULT, Mode, Port, Step, as_step
from keel.pipelines._tracing import tracing
from keel.store import check_name

if TYPE_CHECKING:
    from keel.pipelines._runner import PipelineResult

__all__ = ["Graph", "Node", "Param", "Pipeline", "param", "pipeline", "ref"]

P = ParamSpec("P")
R = TypeVar("R")


# -- bindings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """An output of another step (``ref("split", 1)`` is the second output of ``split``)."""

    node: str
    output: int | str = 0


@dataclass(frozen=True)
class ParamRef:
    """A pipeline parameter, in an explicitly built pipeline."""

    name: str


@dataclass(frozen=True)
class Value:
    """A literal value (possibly a pipeline parameter's value, named by ``param``)."""

    value: Any
    param: str | None = None


Binding = Ref | ParamRef | Value


def ref(node: str, output: int | str = 0) -> Any:
    """The output of step ``node`` (by index or name), for :meth:`Pipeline.add`."""
    return Ref(node, output)


def param(name: str) -> Any:
    """The value of pipeline parameter ``name``, for :meth:`Pipeline.add`."""
    return ParamRef(name)


@dataclass
class Node:
    """One call of a step in a pipeline."""

    name: str
    step: Step
    bindings: dict[str, Binding]

    def refs(self) -> Iterator[tuple[str, Ref]]:
        for name, binding in self.bindings.items():
            if isinstance(binding, Ref):
                yield name, binding

    def output_index(self, output: int | str) -> int | None:
        if isinstance(output, int):
            return output if 0 <= output < len(self.step.outputs) else None
        names = [p.name for p in self.step.outputs]
        return names.index(output) if output in names else None


@dataclass
class Graph:
    """The checked-or-not graph of one pipeline with its parameter values."""

    pipeline: str
    nodes: dict[str, Node]
    params: dict[str, Any]
    contracts: Mode = "full"
    problems_found: list[str] = field(default_factory=list)  # found while tracing

    def problems(self) -> list[str]:
        """Every reason this graph cannot run (empty when it can)."""
        found = list(self.problems_found)
        for node in self.nodes.values():
            found += self._binding_problems(node)
        found += _cycles(self)
        return found

    def check(self) -> Graph:
        """Raise :class:`PipelineDefinitionError` listing every problem; return self."""
        problems = self.problems()
        if problems:
            raise PipelineDefinitionError(problems, where=repr(self.pipeline))
        return self

    def order(self) -> list[str]:
        """Node names, each after every node it reads from (the graph must be checked)."""
        done: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for _, binding in self.nodes[name].refs():
                visit(binding.node)
            done.append(name)

        for name in self.nodes:
            visit(name)
        return done

    def upstream(self, name: str) -> list[str]:
        return sorted({b.node for _, b in self.nodes[name].refs()})

    def downstream(self, names: set[str]) -> set[str]:
        """``names`` and every node that depends on them, directly or not."""
        found = set(names)
        changed = True
        while changed:
            changed = False
            for node in self.nodes.values():
                if node.name not in found and any(b.node in found for _, b in node.refs()):
                    found.add(node.name)
                    changed = True
        return found

    def contract_mode(self, node: Node) -> Mode:
        return node.step.options.contracts or self.contracts

    def _binding_problems(self, node: Node) -> list[str]:
        found: list[str] = []
        where = f"step {node.name!r}"
        for name, port in node.step.inputs.items():
            binding = node.bindings.get(name)
            if binding is None:
                if port.required:
                    found.append(f"{where}: input {name!r} is not bound to anything.")
                continue
            if isinstance(binding, ParamRef):
                found.append(f"{where}: input {name!r} names unknown parameter {binding.name!r}.")
            elif isinstance(binding, Ref):
                found += self._ref_problems(node, port, binding)
            else:
                found += _literal_problems(where, port, binding.value)
        return found

    def _ref_problems(  # noqa: PLR0911 - one return per kind of mismatch
        self, node: Node, port: Port, binding: Ref
    ) -> list[str]:
        where = f"step {node.name!r}"
        producer = self.nodes.get(binding.node)
        if producer is None:
            hint = did_you_mean(binding.node, self.nodes).split(" Known")[0]
            return [f"{where}: input {port.name!r} reads unknown step {binding.node!r}. {hint}"]
        index = producer.output_index(binding.output)
        if index is None:
            outputs = [p.name for p in producer.step.outputs] or ["(none: it returns None)"]
            return [
                f"{where}: input {port.name!r} reads output {binding.output!r} of step "
                f"{producer.name!r}, which has outputs {', '.join(outputs)}."
            ]
        out = producer.step.outputs[index]
        source = f"step {producer.name!r} output {out.name!r}"
        if port.kind == "frame" or out.kind == "frame":
            if port.kind != out.kind:
                return [
                    f"{where}: input {port.name!r} expects {port.describe()} but {source} "
                    f"is {out.describe()}."
                ]
            assert port.schema is not None
            assert out.schema is not None
            return [
                f"{where}: input {port.name!r} ({port.describe()}) from {source} "
                f"({out.describe()}): {problem}"
                for problem in contract_gaps(out.schema.__contract__, port.schema.__contract__)
            ]
        if port.kind == "file" and out.kind != "file":
            return [f"{where}: input {port.name!r} expects a Path but {source} is not one."]
        if port.kind == "json" and out.kind not in ("json", "object"):
            return [f"{where}: input {port.name!r} expects {port.describe()}; {source} is a file."]
        return []


def contract_gaps(producer: Contract, consumer: Contract) -> list[str]:
    """What ``consumer`` requires that ``producer`` does not guarantee (empty: compatible)."""
    gaps: list[str] = []
    offered = {c.name: c for c in producer.columns}
    for column in consumer.columns:
        have = offered.get(column.name)
        if have is None:
            gaps.append(
                f"column {column.name!r} is required by {consumer.name} but not guaranteed by "
                f"{producer.name} (it declares {', '.join(offered) or 'no columns'})."
            )
            continue
        if not _fits(have.dtype, column.dtype):
            gaps.append(
                f"column {column.name!r} is {have.dtype.value} in {producer.name} but "
                f"{column.dtype.value} in {consumer.name}."
            )
        if have.nullable and not column.nullable:
            gaps.append(
                f"column {column.name!r} may be null in {producer.name} but not in {consumer.name}."
            )
    if consumer.strict:
        extra = sorted(set(offered) - set(consumer.column_names))
        if extra:
            gaps.append(
                f"{consumer.name} is strict and {producer.name} adds columns it does not "
                f"declare: {', '.join(extra)}."
            )
    return gaps


def _fits(have: DType, want: DType) -> bool:
    widening = {(DType.INT, DType.FLOAT), (DType.CATEGORICAL, DType.STR)}
    return have == want or (have, want) in widening


def _literal_problems(where: str, port: Port, value: Any) -> list[str]:
    if port.kind == "frame":
        return [
            f"{where}: input {port.name!r} ({port.describe()}) is given a literal "
            f"{type(value).__name__}; data must come from a step.",
        ]
    if port.kind == "file" and not isinstance(value, (str, pathlib.PurePath)):
        return [f"{where}: input {port.name!r} expects a path, got {value!r}."]
    if port.kind == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            return [f"{where}: input {port.name!r} expects JSON-able data, got {value!r}."]
        if not value_fits(port.annotation, value):
            return [f"{where}: input {port.name!r} expects {port.describe()}, got {value!r}."]
    return []


def _cycles(graph: Graph) -> list[str]:
    found: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for _, binding in graph.nodes[name].refs():
            target = binding.node
            if target not in graph.nodes:
                continue
            if state.get(target) == 1:
                loop = [*path[path.index(target) :], target]
                found.append(f"cycle: {' -> '.join(loop)} (a step cannot depend on itself).")
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in graph.nodes:
        if name not in state:
            visit(name)
    return found


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


def value_fits(annotation: Any, value: Any) -> bool:  # noqa: PLR0911 - one return per type
    """Whether ``value`` is of the (simple) annotated type; unknown annotations accept all."""
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(value_fits(a, value) for a in args)
    if annotation is type(None) or annotation is None:
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and (
            not args or all(value_fits(args[0], v) for v in value)
        )
    if origin in (dict, Mapping):
        return isinstance(value, dict)
    if isinstance(annotation, type):
        if issubclass(annotation, pathlib.PurePath):
            return isinstance(value, (str, pathlib.PurePath))
        return isinstance(value, annotation)
    return True


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
        from keel.pipelines._runner import run_pipeline

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
