"""The code a function runs: its source and every project function it reaches (a step's cache key).

The function-level sibling of :func:`~keel.versioning.code_fingerprint` (which fingerprints a
whole work tree for a run): pipelines use it for the code part of each step's cache key.

A step's result depends on more than its own body: on the helpers it calls, their helpers in
other files, the module constants they read, and the versions of the libraries they use. Hashing
only the step's own source gives false cache hits when a helper changes (ZenML's bug); hashing
the whole repository re-runs everything on any edit. So we walk the step's closure: the global
names its bytecode loads (through nested functions, lambdas and comprehensions) and its closure
cells, resolved to the objects they name. A project-local function or class is hashed by its
normalized source (``ast.dump`` of its definition, so comments and formatting do not count) and
walked in turn; a project-local module used as a namespace (``import helpers``) is hashed whole
and its imports from other project files are walked; simple constants (``THRESHOLD = 0.5``,
config tuples, lists and dicts of literals) are hashed by value into the part that reads them;
anything from an installed distribution is recorded as ``{distribution: version}`` rather than
hashed, and the standard library is ignored. Each part is labelled ``<path>:<qualname>`` or
``<path>`` relative to the project root, so a changed key can be explained as "src/features.py
changed". Code without a source file (``exec``, a REPL) falls back to its bytecode. Parsed files
are cached by (path, mtime, size), so a repeated fingerprint costs a few ``stat`` calls and a
walk over names, never a re-parse of unchanged files.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import inspect
import json
import os
import sys
import textwrap
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import blake3

from keel.errors import UsageError
from keel.store import hash_bytes
from keel.versioning._site import site_index

__all__ = ["FunctionFingerprint", "fingerprint_function"]

_KEEL = "keel"
_KEEL_DISTRIBUTION = "mlkeel"
# Folders holding installed code, never the project's own, even when they sit inside the root.
_ENVIRONMENT_DIRS = frozenset({"site-packages", "dist-packages", ".venv", "venv", ".tox"})
_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_CONSTANT_ITEMS = 10_000  # a bigger module-level container is data, not configuration
_CONSTANT_DEPTH = 16  # nesting deeper than this is data too (and may be a cycle)
_MAX_UNWRAP = 100  # decorator chains are short; a longer one is a __wrapped__ cycle
_MISSING_SOURCE = "<source file missing>"

_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda


@dataclass(frozen=True)
class FunctionFingerprint:
    """The code a step runs: hashed project sources and the versions of the libraries it uses.

    ``parts`` maps a label (``"src/features.py:clean"`` for a function or class,
    ``"src/helpers.py"`` for a whole module) to the BLAKE3 digest of its normalized source;
    ``packages`` maps a distribution name to its installed version.
    """

    parts: Mapping[str, str]
    packages: Mapping[str, str]

    @property
    def digest(self) -> str:
        """One BLAKE3 digest over ``parts`` and ``packages`` (canonical JSON)."""
        payload = json.dumps(
            {"packages": dict(self.packages), "parts": dict(self.parts)},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )
        return _hash(payload)


def fingerprint_function(fn: Callable[..., Any], root: Path) -> FunctionFingerprint:
    """Fingerprint ``fn`` and the project code it reaches; ``root`` bounds the project."""
    closure = _Closure(Path(root).resolve())
    closure.add_root(fn)
    closure.walk()
    return FunctionFingerprint(
        parts=dict(sorted(closure.parts.items())), packages=_versions(closure.imports)
    )


# -- the walk -------------------------------------------------------------------------------
class _Closure:
    """Collects parts and third-party imports reachable from one callable."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts: dict[str, str] = {}
        self.imports: set[str] = set()  # top-level module names of installed code
        self._pending: list[object] = []
        self._seen: set[int] = set()
        self._alive: list[object] = []  # keeps every seen object alive so ids stay unique

    def add_root(self, fn: Callable[..., Any]) -> None:
        """Fingerprint ``fn`` itself even if it is not project code (its part is the step's)."""
        target = _unwrap(fn)
        bound: dict[str, str] = {}  # a partial's arguments count as the step's own constants
        if isinstance(target, functools.partial):
            self._refer_values([("partial", target)], bound, "bound")
            target = _unwrap(target.func)
        if isinstance(target, types.MethodType):
            self._pending.append(target.__self__)
            target = _unwrap(target.__func__)
        if inspect.isroutine(target) and not isinstance(target, types.FunctionType):
            raise UsageError(
                f"cannot fingerprint {fn!r}: it is not a Python function, so there is no "
                "source to hash.",
                hint="Make the step a function defined with `def` that calls it.",
            )
        if not isinstance(target, types.FunctionType | type):
            target = type(target)  # a callable instance: its class holds the code
        if self._first_visit(target):
            if isinstance(target, types.FunctionType):
                self._function(target, root=True, bound=bound)
            else:
                self._class(target, root=True, bound=bound)

    def walk(self) -> None:
        """Visit everything reachable from what was added, each object once."""
        while self._pending:
            obj = _unwrap(self._pending.pop())
            if self._first_visit(obj):
                self._visit(obj)

    def _first_visit(self, obj: object) -> bool:
        if id(obj) in self._seen:
            return False
        self._seen.add(id(obj))
        self._alive.append(obj)
        return True

    def _visit(self, obj: object) -> None:
        if isinstance(obj, types.ModuleType):
            self._module(obj)
        elif isinstance(obj, types.FunctionType):
            self._function(obj, root=False, bound={})
        elif isinstance(obj, type):
            self._class(obj, root=False, bound={})
        elif isinstance(obj, types.MethodType):
            self._pending.extend([obj.__func__, obj.__self__])
        elif isinstance(obj, functools.partial):
            self._pending.extend([obj.func, *obj.args, *obj.keywords.values()])
        elif isinstance(obj, types.BuiltinFunctionType):
            self._external(_module_name(obj))
        else:
            self._pending.append(type(obj))  # an instance: its class holds the code

    def _function(self, fn: types.FunctionType, *, root: bool, bound: dict[str, str]) -> None:
        code = fn.__code__
        module = _module_name(fn)
        prefix = self._prefix(module, code.co_filename)
        if prefix is None:
            self._external(module)
            if not root:
                return
        source = _function_source(fn)
        names = set(_code_names(code))
        if source is not None:
            names.update(source.names)
        constants = dict(bound)
        self._refer(names, fn.__globals__, constants, "global")
        self._refer_values(_nonlocals(fn), constants, "nonlocal")
        dump = source.dump if source is not None else _bytecode(code)
        label = f"{prefix or module or '?'}:{fn.__qualname__}"
        self.parts[label] = _part_digest(dump, constants)

    def _class(self, cls: type, *, root: bool, bound: dict[str, str]) -> None:
        module_name = _module_name(cls)
        module = sys.modules.get(module_name) if module_name else None
        filename = _module_file(module)
        prefix = self._prefix(module_name, filename)
        if prefix is None:
            self._external(module_name)
            if not root:
                return
        methods = list(_methods(cls))
        source = _class_source(cls, filename)
        names: set[str] = set(source.names) if source is not None else set()
        for method in methods:
            names.update(_code_names(method.__code__))
        constants = dict(bound)
        self._refer(names, vars(module) if module is not None else {}, constants, "global")
        self._pending.extend(base for base in cls.__bases__ if base is not object)
        dump = source.dump if source is not None else _class_bytecode(methods)
        label = f"{prefix or module_name or '?'}:{cls.__qualname__}"
        self.parts[label] = _part_digest(dump, constants)

    def _module(self, module: types.ModuleType) -> None:
        name = module.__name__
        filename = _module_file(module)
        prefix = None if filename is None or _is_keel(name) else _relative(filename, self.root)
        if prefix is None or filename is None:
            self._external(name)
            return
        source = _source_file(filename)
        self.parts[prefix] = source.digest() if source is not None else _hash(_MISSING_SOURCE)
        # The file's own definitions are in its digest; follow what it brings in from elsewhere.
        for value in list(vars(module).values()):
            target = _unwrap(value)
            if isinstance(target, types.ModuleType) or (
                isinstance(target, types.FunctionType | type) and _module_name(target) != name
            ):
                self._pending.append(target)

    def _refer(
        self, names: Iterable[str], namespace: Mapping[str, Any], into: dict[str, str], kind: str
    ) -> None:
        found = (
            (name, namespace[name])
            for name in sorted(names)
            if name in namespace and not _is_dunder(name)  # __file__ would tie keys to a path
        )
        self._refer_values(found, into, kind)

    def _refer_values(
        self, values: Iterable[tuple[str, object]], into: dict[str, str], kind: str
    ) -> None:
        for name, value in values:
            literal = _literal(value)
            if literal is None:
                self._pending.append(value)
            else:
                into[f"{kind} {name}"] = literal.text
                self._pending.extend(literal.references)

    def _prefix(self, module_name: str | None, filename: str | None) -> str | None:
        """The label prefix of project code (its relative path), ``None`` for anything else."""
        if module_name is not None and _is_keel(module_name):
            return None
        module_file = _module_file(sys.modules.get(module_name)) if module_name else None
        for candidate in (filename, module_file):
            relative = _relative(candidate, self.root) if candidate else None
            if relative is not None:
                return relative
        if module_name == "__main__" and module_file is None:
            return "__main__"  # typed into a REPL or a notebook: the user's own code
        return None

    def _external(self, module_name: str | None) -> None:
        if not module_name:
            return
        top = module_name.partition(".")[0]
        if top not in sys.stdlib_module_names and top != "__main__":
            self.imports.add(top)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _is_keel(module_name: str) -> bool:
    return module_name == _KEEL or module_name.startswith(_KEEL + ".")


def _unwrap(obj: object) -> object:
    """The function under decorators: ``__wrapped__`` chains and keel's ``Step.fn``."""
    for _ in range(_MAX_UNWRAP):
        inner = _attribute(obj, "fn") if type(obj).__name__ == "Step" else None
        if not isinstance(inner, types.FunctionType):
            inner = _attribute(obj, "__wrapped__")
        if inner is None or inner is obj:
            return obj
        obj = inner
    return obj


def _attribute(obj: object, name: str) -> object | None:
    try:
        return getattr(obj, name, None)
    except Exception:  # a user object's __getattr__ may raise anything; it is just not a wrapper
        return None


def _module_name(obj: object) -> str | None:
    name = _attribute(obj, "__module__")
    return name if isinstance(name, str) else None


def _module_file(module: object) -> str | None:
    filename = _attribute(module, "__file__") if module is not None else None
    return filename if isinstance(filename, str) else None


def _nonlocals(fn: types.FunctionType) -> Iterator[tuple[str, object]]:
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            yield name, cell.cell_contents
        except ValueError:  # the cell is empty: the variable is not assigned yet
            continue


def _methods(cls: type) -> Iterator[types.FunctionType]:
    """The Python functions in a class body: plain, static, class methods and properties."""
    for value in vars(cls).values():
        inner: list[object] = [value]
        if isinstance(value, staticmethod | classmethod):
            inner = [value.__func__]
        elif isinstance(value, property):
            inner = [value.fget, value.fset, value.fdel]
        elif isinstance(value, functools.cached_property):
            inner = [value.func]
        for item in inner:
            target = _unwrap(item)
            if isinstance(target, types.FunctionType):
                yield target


def _code_names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by ``code`` and the code objects nested in it."""
    names: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return names


# -- locality -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _relative(filename: str, root: Path) -> str | None:
    """``filename`` relative to ``root`` (posix) if it is project code, else ``None``."""
    if filename.startswith("<"):  # "<string>", "<stdin>": no file behind it
        return None
    try:
        path = Path(filename).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root):
        return None
    if any(path.is_relative_to(prefix) for prefix in _environment_prefixes(root)):
        return None
    relative = path.relative_to(root)
    if _ENVIRONMENT_DIRS.intersection(relative.parts[:-1]):
        return None
    return relative.as_posix()


@functools.cache
def _environment_prefixes(root: Path) -> tuple[Path, ...]:
    """Python installations inside ``root`` (a project's own virtualenv).

    An installation that *contains* the root (a project under /usr/local in a container) is
    left out: excluding it would make no file of the project local.
    """
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return tuple(sorted(p for p in prefixes if p != root and p.is_relative_to(root)))


# -- sources --------------------------------------------------------------------------------
class _Source(NamedTuple):
    dump: str  # ast.dump of the definition: blind to comments, formatting and line numbers
    names: frozenset[str]  # names its decorators, defaults (or, for a class, body) read


@dataclass
class _SourceFile:
    """One parsed file, with its definitions indexed by qualified name and dumps memoized."""

    tree: ast.Module | None  # None when the file is not Python source (a compiled extension)
    raw_digest: str
    _digest: str | None = None
    _index: dict[str, list[_Definition]] | None = None
    _found: dict[tuple[str, int | None], _Source | None] = field(default_factory=dict)

    def digest(self) -> str:
        if self._digest is None:
            self._digest = self.raw_digest if self.tree is None else _hash(ast.dump(self.tree))
        return self._digest

    def definition(self, qualname: str, first_line: int | None) -> _Source | None:
        """The definition named ``qualname`` starting on ``first_line`` (any line if None)."""
        key = (qualname, first_line)
        if key not in self._found:
            nodes = self._definitions().get(qualname, [])
            if first_line is not None:
                nodes = [node for node in nodes if _first_line(node) == first_line]
            self._found[key] = _describe(nodes) if nodes else None
        return self._found[key]

    def _definitions(self) -> dict[str, list[_Definition]]:
        if self._index is None:
            self._index = _index(self.tree) if self.tree is not None else {}
        return self._index


_FILES: dict[str, tuple[tuple[int, int], _SourceFile]] = {}


def _source_file(filename: str) -> _SourceFile | None:
    """The parsed file, re-read only when its mtime or size changed."""
    try:
        stat = os.stat(filename)
    except (OSError, ValueError):
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _FILES.get(filename)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        raw = Path(filename).read_bytes()
    except OSError:
        return None
    try:
        tree: ast.Module | None = ast.parse(raw, filename=filename)
    except (SyntaxError, ValueError):
        tree = None
    parsed = _SourceFile(tree=tree, raw_digest=hash_bytes(raw))
    _FILES[filename] = (key, parsed)
    return parsed


def _index(tree: ast.Module) -> dict[str, list[_Definition]]:
    """Every function, class and lambda in ``tree`` under its ``__qualname__``."""
    index: dict[str, list[_Definition]] = {}
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = prefix
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qualname = prefix + child.name
                index.setdefault(qualname, []).append(child)
                inner = qualname + ("." if isinstance(child, ast.ClassDef) else ".<locals>.")
            elif isinstance(child, ast.Lambda):
                qualname = prefix + "<lambda>"
                index.setdefault(qualname, []).append(child)
                inner = qualname + ".<locals>."
            stack.append((child, inner))
    return index


def _first_line(node: _Definition) -> int:
    """The line ``co_firstlineno`` points at: the first decorator's, if any."""
    decorators = [] if isinstance(node, ast.Lambda) else node.decorator_list
    return min([node.lineno, *(d.lineno for d in decorators)])


def _describe(nodes: list[_Definition]) -> _Source:
    """Dump and names of one definition (all of them, in order, if the name is ambiguous)."""
    ordered = sorted(nodes, key=lambda node: (node.lineno, node.col_offset))
    dump = "\n".join(ast.dump(node) for node in ordered)
    names: set[str] = set()
    for node in ordered:
        names.update(_definition_names(node))
    return _Source(dump, frozenset(names))


def _definition_names(node: ast.AST) -> set[str]:
    """Names evaluated around a definition: a class's whole body; a function's decorators and
    defaults (its body's globals come from the bytecode)."""
    if isinstance(node, ast.ClassDef):
        roots: list[ast.AST] = [node]
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        roots = [*node.decorator_list, *node.args.defaults]
        roots.extend(d for d in node.args.kw_defaults if d is not None)
    elif isinstance(node, ast.Lambda):
        roots = [*node.args.defaults]
        roots.extend(d for d in node.args.kw_defaults if d is not None)
    else:
        return set()
    return {n.id for r in roots for n in ast.walk(r) if isinstance(n, ast.Name)}


def _function_source(fn: types.FunctionType) -> _Source | None:
    """The definition of ``fn`` in its file, or from ``inspect`` (REPLs), or ``None``."""
    code = fn.__code__
    source = None if code.co_filename.startswith("<") else _source_file(code.co_filename)
    if source is not None:
        # No definition on the line the code starts at: the file changed since it was
        # imported, so what runs is the bytecode, not what the file says now.
        return source.definition(code.co_qualname, code.co_firstlineno)
    return _inspect_source(fn)


def _class_source(cls: type, filename: str | None) -> _Source | None:
    source = _source_file(filename) if filename is not None else None
    if source is None:
        return _inspect_source(cls)  # a REPL; inspect would only re-parse the same file
    first_line = getattr(cls, "__firstlineno__", None)  # Python 3.13+
    return source.definition(cls.__qualname__, first_line if isinstance(first_line, int) else None)


def _inspect_source(obj: types.FunctionType | type) -> _Source | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    names: set[str] = set()
    for node in tree.body:
        names.update(_definition_names(node))
    return _Source(ast.dump(tree), frozenset(names))


def _bytecode(code: types.CodeType) -> str:
    """A stable rendering of code with no source: instructions, names and constants."""
    constants = [
        _bytecode(c) if isinstance(c, types.CodeType) else _constant_text(c) for c in code.co_consts
    ]
    return "|".join([code.co_code.hex(), repr(code.co_names), repr(code.co_varnames), *constants])


def _constant_text(value: object) -> str:
    literal = _literal(value)
    return literal.text if literal is not None else repr(value)


def _class_bytecode(methods: list[types.FunctionType]) -> str:
    return "\n".join(sorted(f"{m.__qualname__}={_bytecode(m.__code__)}" for m in methods))


# -- constants ------------------------------------------------------------------------------
class _Literal(NamedTuple):
    text: str  # canonical: sets sorted, so it does not depend on string hash randomization
    references: list[object]  # non-literal items (functions, classes, ...) to walk


def _literal(value: object) -> _Literal | None:
    """Numbers, strings and containers of them as canonical text; ``None`` for anything else.

    So is a ``functools.partial`` (its function is walked, its arguments are data). A
    container's non-literal items (``{"model": Ridge}``) are named in the text and returned
    to be walked; a container of more than ``_CONSTANT_ITEMS`` items is data, not settings.
    """
    if type(value) not in _SCALARS and type(value) not in _CONTAINERS | {functools.partial}:
        return None
    renderer = _Renderer()
    text = renderer.render(value, _CONSTANT_DEPTH)
    return None if text is None else _Literal(text, renderer.references)


_CONTAINERS = frozenset({tuple, list, frozenset, set, dict})


class _Renderer:
    def __init__(self) -> None:
        self.budget = _CONSTANT_ITEMS
        self.references: list[object] = []

    def render(self, value: object, depth: int) -> str | None:
        self.budget -= 1
        if self.budget < 0 or depth < 0:
            return None
        kind = type(value)
        if kind in _SCALARS:
            return repr(value)
        if isinstance(value, dict) and kind is dict:
            return self._mapping(value, depth - 1)
        if isinstance(value, functools.partial) and kind is functools.partial:
            return self._partial(value, depth - 1)
        if isinstance(value, tuple | list | frozenset | set) and kind in _CONTAINERS:
            return self._collection(value, depth - 1)
        self.references.append(value)
        return f"<{_module_name(value)}.{_qualname(value)}>"

    def _collection(
        self, value: tuple[Any, ...] | list[Any] | frozenset[Any] | set[Any], depth: int
    ) -> str | None:
        items = self._all(value, depth)
        if items is None:
            return None
        if isinstance(value, frozenset | set):
            items.sort()
        return f"{type(value).__name__}[{', '.join(items)}]"

    def _partial(self, value: functools.partial[Any], depth: int) -> str | None:
        function = self.render(value.func, depth)
        arguments = self._all(value.args, depth)
        keywords = self._mapping(value.keywords, depth)
        if function is None or arguments is None or keywords is None:
            return None
        return f"partial({function}, {', '.join(arguments)}, **{keywords})"

    def _mapping(self, value: dict[Any, Any], depth: int) -> str | None:
        keys = self._all(value.keys(), depth)
        values = self._all(value.values(), depth)
        if keys is None or values is None:
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, values, strict=True)) + "}"

    def _all(self, values: Iterable[object], depth: int) -> list[str] | None:
        items: list[str] = []
        for item in values:
            rendered = self.render(item, depth)
            if rendered is None:
                return None
            items.append(rendered)
        return items


def _qualname(obj: object) -> str:
    name = _attribute(obj, "__qualname__")
    return name if isinstance(name, str) else f"{type(obj).__qualname__}()"


# -- digests and versions -------------------------------------------------------------------
def _hash(text: str) -> str:
    return hash_bytes(text.encode("utf-8", "surrogatepass"))


def _part_digest(dump: str, constants: Mapping[str, str]) -> str:
    hasher = blake3.blake3(dump.encode("utf-8", "surrogatepass"))
    for name in sorted(constants):
        hasher.update(f"\0{name}={constants[name]}".encode("utf-8", "surrogatepass"))
    return hasher.hexdigest()


def _versions(imports: Iterable[str]) -> dict[str, str]:
    owners = _packages_distributions()
    versions: dict[str, str] = {}
    for top in imports:
        for distribution in [_KEEL_DISTRIBUTION] if top == _KEEL else owners.get(top, []):
            version = _version(distribution)
            if version is not None:
                versions[distribution] = version
    return dict(sorted(versions.items()))


def _packages_distributions() -> Mapping[str, list[str]]:
    return site_index().modules


def _version(distribution: str) -> str | None:
    found = site_index().versions.get(distribution)
    if found is not None:
        return found
    try:  # a name spelled differently from its metadata: ask importlib
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
