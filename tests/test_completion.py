"""Completion in IPython, Jupyter and the plain REPL: every public name is in ``dir()``, loaded
or not (the lazy packages define ``__dir__``), and IPython's completer offers it."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

import keel


def _public_modules() -> Iterator[ModuleType]:
    yield keel
    for info in pkgutil.walk_packages(keel.__path__, "keel."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield importlib.import_module(info.name)


def test_dir_of_every_public_module_lists_its_whole_all() -> None:
    checked = 0
    for module in _public_modules():
        names = getattr(module, "__all__", ())
        missing = sorted(set(names) - set(dir(module)))
        assert not missing, f"dir({module.__name__}) lacks {missing}"
        for name in names:
            assert getattr(module, name) is not None or name == "__version__"
        checked += len(names)
    assert checked > 100


def test_dir_lists_lazy_names_before_they_are_loaded() -> None:
    # A fresh interpreter: nothing has touched keel.start_run or keel.contracts.check_data yet.
    code = (
        "import sys, keel, keel.contracts, keel.serve\n"
        "print('start_run' in dir(keel), 'Schema' in dir(keel), 'monitor' in dir(keel),\n"
        "      'check_data' in dir(keel.contracts), 'create_app' in dir(keel.serve),\n"
        "      'polars' in sys.modules, 'fastapi' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # dir() itself imports nothing heavy: listing is not loading.
    assert out.stdout.split() == ["True", "True", "True", "True", "True", "False", "False"]


def test_a_subpackage_is_an_attribute_after_a_bare_import_keel() -> None:
    # In a notebook: ``import keel`` then ``keel.monitor.compare(...)``.
    code = "import keel\nprint(keel.monitor.compare.__module__, keel.errors.UsageError.__name__)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["keel.monitor._compare", "UsageError"]


_COMPLETE = """
import json, sys
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_cell("import keel")
shell.Completer.use_jedi = sys.argv[1] == "jedi"
offered = {}
with provisionalcompleter():
    for text in sys.argv[2:]:
        found = shell.Completer.completions(text, len(text))
        offered[text] = [c.text.rpartition(".")[2] for c in found]
print(json.dumps(offered))
"""

_EXPECTED = {
    "keel.sta": "start_run",
    "keel.Sch": "Schema",
    "keel.reg": "register",
    "keel.mon": "monitor",
    "keel.monitor.comp": "compare",
    "keel.contracts.check_d": "check_data",
}


@pytest.mark.parametrize("mode", ["plain", "jedi"])
def test_ipython_completes_public_names_in_a_fresh_session(mode: str) -> None:
    # A fresh interpreter, as a notebook kernel is: no lazy name has been loaded yet.
    out = subprocess.run(
        [sys.executable, "-c", _COMPLETE, mode, *_EXPECTED],
        capture_output=True,
        text=True,
        check=True,
    )
    offered = json.loads(out.stdout.strip().splitlines()[-1])
    for text, expected in _EXPECTED.items():
        assert expected in offered[text], f"{text!r} offered {offered[text]}"
