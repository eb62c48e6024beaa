"""The architecture holds: imports go one way, and no module reaches into another's privates.

import-linter (``make imports``) holds the layers between packages; these tests hold what it
cannot see: a sibling imported inside a function only to dodge an import cycle, a private
attribute read on another module's object, and the bottom layer importing nothing of Keel.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "keel"

# Private attributes of other libraries' objects that Keel reads on purpose.
FOREIGN_PRIVATE = {
    "_meta": "a Dask DataFrame's empty metadata frame, Dask's documented way to its schema",
    "_upgrade_revs": "alembic's own upgrade recipe (command.upgrade) on its ScriptDirectory",
    "_fields": "a NamedTuple's field names, public API despite the underscore",
    "_asdict": "a NamedTuple's public API",
    "_replace": "a NamedTuple's public API",
    "_getframe": "sys._getframe, the documented way to a caller's frame",
}


# Imports of another package's private module that predate this test (issue 13): each should
# become an import of a public name from that package's __init__. The list only shrinks.


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, ast.Module]:
    return {_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in SRC.rglob("*.py")}


def _package(module: str) -> str:
    return module if _is_package(module) else module.rpartition(".")[0]


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[str]:
    """The Keel modules an import statement loads (``from pkg import mod`` counts mod)."""
    known = _modules()
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name in known)
        return
    base = node.module or ""
    if node.level:
        anchor = _package(module).split(".")
        base = ".".join([*anchor[: len(anchor) - node.level + 1], *filter(None, [base])])
    for alias in node.names:
        if f"{base}.{alias.name}" in known:
            yield f"{base}.{alias.name}"
        elif base in known:
            yield base


def _top_level_imports(module: str) -> set[str]:
    """What ``module`` imports when it is imported (not under TYPE_CHECKING, not in a def)."""
    found: set[str] = set()
    stack: list[ast.AST] = list(_modules()[module].body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_imported(node, module))
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _is_package(module: str) -> bool:
    return (SRC.parent / module.replace(".", "/") / "__init__.py").is_file()


def _reaches(start: str, goal: str) -> bool:
    """Whether importing ``start`` imports ``goal`` through module-level imports of modules
    (a package's ``__init__``, which re-exports everything, is not followed)."""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current not in seen and not _is_package(current):
            seen.add(current)
            todo.extend(_top_level_imports(current))
    return False


def _function_imports(module: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(_modules()[module]):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield from ((inner.lineno, target) for target in _imported(inner, module))


# The deferred imports a cycle is allowed to keep, each with the reason it is not a dodge.
DEFERRED = {
    ("keel.contracts._contract", "keel.contracts._yaml"): "Contract.fingerprint hashes the "
    "file form, which is written from Contract: the one cycle the spine has by design",
    ("keel.grammar._located", "keel.grammar._yaml_file"): "PyYAML is imported only when a "
    "YAML file is read (import keel stays without it)",
}


def test_no_sibling_is_imported_inside_a_function_to_dodge_a_cycle() -> None:
    dodges = sorted(
        f"{module}:{line} imports {target} inside a function, and {target} imports {module}"
        for module in _modules()
        for line, target in _function_imports(module)
        if _package(target) == _package(module)
        and target != module
        and _reaches(target, module)
        and (module, target) not in DEFERRED
    )
    assert not dodges, "\n".join(dodges)


def _defined_private_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if n.startswith("_")}


def test_no_module_reads_a_private_attribute_it_does_not_define() -> None:
    found = []
    for module, tree in _modules().items():
        own = _defined_private_names(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in own:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue  # a subclass calling its (third-party) base class
            if attr not in FOREIGN_PRIVATE:
                found.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)


def test_errors_imports_nothing_of_keel_not_even_for_typing() -> None:
    names = []
    for node in ast.walk(_modules()["keel.errors"]):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    assert [n for n in names if n.startswith((".", "keel"))] == []


def test_the_readme_draws_the_layers_import_linter_enforces() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    enforced = next(c["layers"] for c in contracts if c["name"].startswith("Layers follow"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    drawn = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `keel.")]
    assert drawn == list(reversed(enforced))
