"""Every name a public module lists in __all__ exists (pandera once listed one that did not)."""

from __future__ import annotations

import importlib
import pkgutil

import keel


def test_every_name_in_every_all_imports() -> None:
    modules = [keel]
    for info in pkgutil.walk_packages(keel.__path__, "keel."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            modules.append(importlib.import_module(info.name))
    assert len(modules) >= 4
    for module in modules:
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{module.__name__}.__all__ lists missing {name!r}"


def test_contract_users_never_import_pandas_dask_duckdb_or_the_database_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, polars as pl, keel\n"
        "class S(keel.Schema):\n    x: int = keel.Field(ge=0)\n"
        "S.validate(pl.DataFrame({'x': [1]}))\n"
        "S.check(pl.DataFrame({'x': [-1]}).lazy())\n"
        "heavy = ('pandas', 'dask', 'duckdb', 'pyarrow', 'sqlalchemy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
