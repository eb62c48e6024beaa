"""Pipelines: the graph of steps and its checks, before anything runs.

A :class:`Graph` is built by a :class:`~keel.pipelines.Pipeline` (traced from a
``@keel.pipeline`` function, or added explicitly with :func:`ref` and :func:`param`); its
nodes bind each step input to another step's output (:class:`Ref`), a pipeline parameter
(:class:`ParamRef`) or a literal (:class:`Value`). Both forms are checked the same way.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from keel.contracts import Contract, DType
from keel.errors import PipelineDefinitionError, did_you_mean
from keel.pipelines._step import Mode, Port, Step

__all__ = [
    "Binding",
    "Graph",
    "Node",
    "ParamRef",
    "Ref",
    "Value",
    "contract_gaps",
    "param",
    "ref",
    "value_fits",
]


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
