"""The YAML side of the located reader (``keel.grammar.read_yaml``), imported only when a
YAML file is read so that ``import keel`` does not load PyYAML."""

from __future__ import annotations

from typing import Any

import yaml

from keel.errors import InvalidFileError, Problem
from keel.grammar._located import Document, KeyPath, Location, dotted

__all__ = ["parse"]

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where installed
_CORE = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(
    _CORE + name for name in ("null", "bool", "int", "float", "str", "timestamp", "binary")
)
_MAX_DEPTH = 64  # declarative files are shallow; this also stops alias cycles


def parse(text: str, source: str, *, what: str, error: type[InvalidFileError]) -> Document:
    """``keel.grammar.read_yaml``: compose with libyaml where installed, then build."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise error(source, [_syntax_problem(exc, source)], what=what) from exc
    except yaml.YAMLError as exc:
        problem = Problem(source, None, None, "", f"invalid YAML: {exc}", hint=_SYNTAX_HINT)
        raise error(source, [problem], what=what) from exc
    finally:
        loader.dispose()
    document = Document(source, None)
    if node is not None:
        document.data = _Builder(document, loader).build(node, ())
    return document


_SYNTAX_HINT = "Indent with spaces, not tabs; quote values that hold ': ' or ' #'."


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    context = f" ({exc.context})" if exc.context else ""
    hint = _SYNTAX_HINT
    if isinstance(exc, yaml.composer.ComposerError) and "another document" in str(exc.problem):
        hint = "The file holds one YAML document: remove the extra '---'."
    message = f"invalid YAML: {exc.problem or 'syntax error'}{context}"
    return Problem(source, line, column, "", message, hint=hint)


class _Builder:
    """Builds plain data from composed nodes, recording locations and problems.

    Aliased nodes are built once and shared, as a plain load shares them, so an alias bomb
    costs no more than the file's size."""

    def __init__(self, document: Document, loader: Any) -> None:
        self.document = document
        self.loader = loader
        self.built: dict[int, Any] = {}

    def locate(self, node: yaml.Node, path: KeyPath) -> None:
        mark = node.start_mark
        where = Location(self.document.source, mark.line + 1, mark.column + 1, path)
        self.document.locations.setdefault(path, where)

    def refuse(self, node: yaml.Node, path: KeyPath, message: str, hint: str) -> None:
        self.locate(node, path)
        self.document.problems.append(self.document.problem(path, message, hint=hint))

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.locate(node, path)
        if id(node) in self.built:
            return self.built[id(node)]
        if len(path) > _MAX_DEPTH:
            self.refuse(node, path, "nested too deeply", "Declarative files are shallow.")
            return None
        if isinstance(node, yaml.MappingNode) and node.tag == _CORE + "map":
            value: Any = self.mapping(node, path)
        elif isinstance(node, yaml.SequenceNode) and node.tag == _CORE + "seq":
            value = [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.ScalarNode) and node.tag in _PLAIN_TAGS:
            value = self.scalar(node, path)
        else:
            tag = "!!" + node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else node.tag
            self.refuse(
                node,
                path,
                f"the tag {tag!r} is not allowed",
                "Files hold plain values only (no tags); quote a value to keep it as text.",
            )
            value = None
        self.built[id(node)] = value
        return value

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        try:
            return self.loader.construct_object(node)
        except (ValueError, yaml.YAMLError) as exc:
            what = "date" if node.tag == _CORE + "timestamp" else node.tag.rsplit(":", 1)[-1]
            self.refuse(node, path, f"{node.value!r} is not a valid {what} ({exc})", _DATE_HINT)
            return node.value

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                merged.update(self.merge(value_node, path))
                continue
            key = self.key(key_node, path)
            here = (*path, str(key))
            if key in out:
                self.document.problems.append(
                    Problem(
                        self.document.source,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        dotted(here),
                        "duplicate key; YAML would silently keep the last",
                        hint="Keep one of the two.",
                    )
                )
            self.locate(key_node, here)
            out[key] = self.build(value_node, here)
        return {**{k: v for k, v in merged.items() if k not in out}, **out}

    def merge(self, node: yaml.Node, path: KeyPath) -> dict[Any, Any]:
        """``<<: *base`` (or a list of them): earlier maps win, explicit keys win over all."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[Any, Any] = {}
        for source in reversed(sources):
            built = self.build(source, path)
            if isinstance(built, dict):
                out.update(built)
        return out

    def key(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag in _PLAIN_TAGS:
            return self.scalar(node, path)
        self.refuse(node, path, "a key must be a plain value", "Write keys as plain text.")
        return str(node.start_mark)


_DATE_HINT = "Write a real date as YYYY-MM-DD, or quote the value to keep it as text."
