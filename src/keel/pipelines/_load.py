"""Finding a pipeline from the command line: ``path/to/file.py:name`` or ``package.module:name``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from keel.errors import UsageError, did_you_mean
from keel.pipelines._pipeline import Pipeline

__all__ = ["load_pipeline"]


def load_pipeline(spec: str) -> Pipeline:
    """The pipeline named by ``spec`` (``file.py:function`` or ``package.module:function``)."""
    where, sep, attribute = spec.rpartition(":")
    if not sep or not where or not attribute:
        raise UsageError(
            f"{spec!r} does not name a pipeline.",
            hint="Write path/to/file.py:function or package.module:function.",
        )
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _from_file(Path(where), spec)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UsageError(
                f"cannot import module {where!r} for pipeline {spec!r}: {exc}.",
                hint="Check the module path, or give a file: path/to/file.py:function.",
            ) from exc
    found = getattr(module, attribute, None)
    if not isinstance(found, Pipeline):
        known = [name for name, value in vars(module).items() if isinstance(value, Pipeline)]
        what = "is not defined" if found is None else "is not a @keel.pipeline"
        raise UsageError(
            f"{attribute!r} in {where} {what}.",
            hint=did_you_mean(attribute, known) if known else "Decorate it with @keel.pipeline.",
        )
    found.source = spec
    return found


def _from_file(path: Path, spec: str) -> object:
    if not path.is_file():
        raise UsageError(f"no pipeline file at {path} (from {spec!r}).", hint="Check the path.")
    resolved = path.resolve()
    # a stable module name per file, so worker processes import the same module
    name = f"keel_pipeline_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the file's own imports of its neighbours
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"{path} cannot be imported as Python.", hint="Check the file.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UsageError(
            f"importing {path} failed: {type(exc).__name__}: {exc}", hint="Fix the file."
        ) from exc
    return module
