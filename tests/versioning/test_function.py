"""The code part of a step's cache key (keel.versioning.fingerprint_function): what invalidates a
cached step and what must not."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.versioning import FunctionFingerprint, fingerprint_function


class Project:
    """A small project folder whose modules are imported fresh after every edit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ticks = 0

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        self._ticks += 10  # an edit of the same size within one clock tick must still count
        stamp = path.stat().st_mtime + self._ticks
        os.utime(path, (stamp, stamp))

    def load(self, module: str) -> types.ModuleType:
        """Import ``module`` as a new process would: no module of the project is reused."""
        self.forget()
        importlib.invalidate_caches()
        return importlib.import_module(module)

    def step(self, module: str, name: str = "step") -> Callable[..., Any]:
        fn: Callable[..., Any] = getattr(self.load(module), name)
        return fn

    def fingerprint(self, module: str, name: str = "step") -> FunctionFingerprint:
        return fingerprint_function(self.step(module, name), self.root)

    def forget(self) -> None:
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and Path(file).is_relative_to(self.root):
                del sys.modules[name]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no stale .pyc after an edit
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = Project(tmp_path)
    yield folder
    folder.forget()


def changed(before: FunctionFingerprint, after: FunctionFingerprint) -> set[str]:
    """Labels whose digest differs (or that appear on one side only)."""
    labels = set(before.parts) | set(after.parts)
    return {label for label in labels if before.parts.get(label) != after.parts.get(label)}


STEP = """
    def step(rows):
        total = 0
        for row in rows:
            total += row * 2
        return total
"""


# -- the step's own source ------------------------------------------------------------------
def test_editing_the_step_body_changes_the_key(project: Project) -> None:
    project.write("src/features.py", STEP)
    before = project.fingerprint("features")
    project.write("src/features.py", STEP.replace("row * 2", "row * 3"))
    after = project.fingerprint("features")

    assert before.digest != after.digest
    assert changed(before, after) == {"src/features.py:step"}


def test_comments_blank_lines_and_formatting_do_not_change_the_key(project: Project) -> None:
    project.write("src/features.py", STEP)
    before = project.fingerprint("features")
    project.write(
        "src/features.py",
        """
        # a module comment that moves the step down


        def step(rows):  # doubled rows
            total = 0

            for row in rows:   # every row
                total += (row  *  2)
            return total
        """,
    )
    after = project.fingerprint("features")

    assert after == before
    assert after.digest == before.digest


def test_the_digest_is_stable_when_computed_again(project: Project) -> None:
    project.write("src/features.py", STEP)
    step = project.step("features")

    assert fingerprint_function(step, project.root) == fingerprint_function(step, project.root)


def test_a_step_is_labelled_by_its_path_relative_to_the_root(project: Project) -> None:
    project.write("src/features.py", STEP)

    fp = project.fingerprint("features")

    assert list(fp.parts) == ["src/features.py:step"]
    assert fp.packages == {}


# -- helpers in other files -----------------------------------------------------------------
HELPERS = """
    def clean(text):
        return text.strip().lower()

    def unused(text):
        return text.upper()
"""


@pytest.mark.parametrize(
    "features",
    [
        "from helpers import clean\n\ndef step(text):\n    return clean(text)\n",
        "import helpers\n\ndef step(text):\n    return helpers.clean(text)\n",
    ],
    ids=["from-import", "module-import"],
)
def test_editing_a_helper_in_another_file_changes_the_key(project: Project, features: str) -> None:
    project.write("src/features.py", features)
    project.write("src/helpers.py", HELPERS)
    before = project.fingerprint("features")
    project.write("src/helpers.py", HELPERS.replace(".lower()", ".casefold()"))
    after = project.fingerprint("features")

    assert before.digest != after.digest
    labels = changed(before, after)
    assert labels
    assert {label.split(":")[0] for label in labels} == {"src/helpers.py"}


def test_editing_a_helper_of_a_helper_in_a_third_file_changes_the_key(project: Project) -> None:
    project.write("pipe.py", "from features import step\n")
    project.write(
        "src/features.py", "from helpers import clean\n\ndef step(t):\n    return clean(t)\n"
    )
    project.write(
        "src/helpers.py", "from textutils import squash\n\ndef clean(t):\n    return squash(t)\n"
    )
    textutils = "def squash(t):\n    return ' '.join(t.split())\n"
    project.write("src/textutils.py", textutils)
    before = project.fingerprint("pipe")
    project.write("src/textutils.py", textutils.replace("' '", "'_'"))
    after = project.fingerprint("pipe")

    assert set(before.parts) == {
        "src/features.py:step",
        "src/helpers.py:clean",
        "src/textutils.py:squash",
    }
    assert changed(before, after) == {"src/textutils.py:squash"}


def test_a_module_used_as_a_namespace_brings_in_the_files_it_imports(project: Project) -> None:
    project.write(
        "src/features.py", "import helpers\n\ndef step(t):\n    return helpers.clean(t)\n"
    )
    project.write(
        "src/helpers.py", "from textutils import squash\n\ndef clean(t):\n    return squash(t)\n"
    )
    textutils = "def squash(t):\n    return ' '.join(t.split())\n"
    project.write("src/textutils.py", textutils)
    before = project.fingerprint("features")
    project.write("src/textutils.py", textutils.replace("' '", "'_'"))
    after = project.fingerprint("features")

    assert {"src/helpers.py", "src/textutils.py:squash"} <= set(before.parts)
    assert changed(before, after) == {"src/textutils.py:squash"}


def test_editing_a_function_the_step_does_not_use_keeps_the_key(project: Project) -> None:
    project.write(
        "src/features.py", "from helpers import clean\n\ndef step(t):\n    return clean(t)\n"
    )
    project.write("src/helpers.py", HELPERS)
    before = project.fingerprint("features")
    project.write("src/helpers.py", HELPERS.replace(".upper()", ".title()"))
    after = project.fingerprint("features")

    assert after.parts == before.parts
    assert "src/helpers.py:unused" not in after.parts


def test_a_helper_in_the_same_file_is_part_of_the_key(project: Project) -> None:
    source = """
        def _double(x):
            return x * 2

        def _unrelated(x):
            return x

        def step(x):
            return _double(x)
    """
    project.write("src/features.py", source)
    before = project.fingerprint("features")
    project.write("src/features.py", source.replace("x * 2", "x * 4"))
    after = project.fingerprint("features")
    project.write("src/features.py", source.replace("return x\n", "return -x\n"))
    unrelated = project.fingerprint("features")

    assert changed(before, after) == {"src/features.py:_double"}
    assert unrelated == before


def test_editing_a_method_of_a_project_class_changes_the_key(project: Project) -> None:
    project.write(
        "src/features.py",
        "from models import Scaler\n\ndef step(x):\n    return Scaler().apply(x)\n",
    )
    models = """
        class Base:
            factor = 2

        class Scaler(Base):
            def apply(self, x):
                return x * self.factor
    """
    project.write("src/models.py", models)
    before = project.fingerprint("features")
    project.write("src/models.py", models.replace("factor = 2", "factor = 3"))
    after = project.fingerprint("features")

    assert changed(before, after) == {"src/models.py:Base"}


# -- constants ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file", "features"),
    [
        ("src/features.py", "THRESHOLD = 0.5\n\ndef step(x):\n    return x > THRESHOLD\n"),
        (
            "src/settings.py",
            "from settings import THRESHOLD\n\ndef step(x):\n    return x > THRESHOLD\n",
        ),
    ],
    ids=["same-file", "imported"],
)
def test_changing_a_module_constant_the_step_reads_changes_the_key(
    project: Project, file: str, features: str
) -> None:
    project.write("src/features.py", features)
    project.write("src/settings.py", "THRESHOLD = 0.5\n")
    before = project.fingerprint("features")
    project.write(file, (project.root / file).read_text().replace("0.5", "0.7"))
    after = project.fingerprint("features")

    assert before.digest != after.digest
    assert changed(before, after) == {"src/features.py:step"}


def test_changing_a_setting_in_a_module_level_dict_changes_the_key(project: Project) -> None:
    project.write("src/settings.py", 'PARAMS = {"alpha": 0.1, "columns": ["a", "b"]}\n')
    project.write(
        "src/features.py", "from settings import PARAMS\n\ndef step():\n    return PARAMS\n"
    )
    before = project.fingerprint("features")
    project.write("src/settings.py", 'PARAMS = {"alpha": 0.2, "columns": ["a", "b"]}\n')
    after = project.fingerprint("features")

    assert before.digest != after.digest


def test_a_closure_variable_is_part_of_the_key() -> None:
    def make(factor: int) -> Callable[[int], int]:
        def step(x: int) -> int:
            return x * factor

        return step

    root = Path(__file__).parents[2]

    assert fingerprint_function(make(2), root).digest != fingerprint_function(make(3), root).digest
    assert fingerprint_function(make(2), root) == fingerprint_function(make(2), root)


# -- packages -------------------------------------------------------------------------------
def test_third_party_packages_are_listed_with_versions_and_the_stdlib_is_not(
    project: Project,
) -> None:
    project.write(
        "src/features.py",
        """
        import json
        import math

        import polars as pl
        from keel.errors import UsageError

        def step(rows):
            if not rows:
                raise UsageError("no rows")
            frame = pl.DataFrame({"x": rows, "y": [math.sqrt(r) for r in rows]})
            return json.dumps(frame.to_dicts())
        """,
    )

    fp = project.fingerprint("features")

    assert fp.packages == {
        "mlkeel": importlib.metadata.version("mlkeel"),
        "polars": importlib.metadata.version("polars"),
    }
    assert list(fp.parts) == ["src/features.py:step"]


def test_a_package_version_is_part_of_the_digest() -> None:
    parts = {"src/features.py:step": "0" * 64}

    assert (
        FunctionFingerprint(parts, {"polars": "1.0.0"}).digest
        != FunctionFingerprint(parts, {"polars": "1.0.1"}).digest
    )


def test_code_in_a_virtualenv_inside_the_root_is_not_project_code(project: Project) -> None:
    vendored = project.root / ".venv" / "lib" / "python3.11" / "site-packages"
    project.write(".venv/lib/python3.11/site-packages/vendored.py", "def f(x):\n    return x\n")
    project.write("src/features.py", "from vendored import f\n\ndef step(x):\n    return f(x)\n")
    sys.path.insert(0, str(vendored))
    try:
        fp = project.fingerprint("features")
    finally:
        sys.path.remove(str(vendored))

    assert list(fp.parts) == ["src/features.py:step"]


# -- decorators, cycles and code without source ---------------------------------------------
def test_decorated_steps_are_fingerprinted_by_the_function_inside(project: Project) -> None:
    project.write("src/features.py", STEP)
    step = project.step("features")

    class Step:  # the shape of keel's step wrapper
        def __init__(self, fn: Callable[..., Any]) -> None:
            self.fn = fn

        def __call__(self, *args: Any) -> Any:
            return self.fn(*args)

    @functools.wraps(step)
    def logged(*args: Any) -> Any:
        return step(*args)

    plain = fingerprint_function(step, project.root)

    assert fingerprint_function(Step(step), project.root) == plain
    assert fingerprint_function(logged, project.root) == plain


def test_arguments_bound_with_partial_are_part_of_the_key(project: Project) -> None:
    project.write(
        "src/features.py",
        """
        from functools import partial

        def scale(x, factor):
            return x * factor

        def step(x):
            return DOUBLE(x)

        DOUBLE = partial(scale, factor=2)
        """,
    )
    module = project.load("features")
    triple = fingerprint_function(functools.partial(module.scale, factor=3), project.root)
    quadruple = fingerprint_function(functools.partial(module.scale, factor=4), project.root)
    before = fingerprint_function(module.step, project.root)
    vars(module)["DOUBLE"] = functools.partial(module.scale, factor=5)
    after = fingerprint_function(module.step, project.root)

    assert triple.digest != quadruple.digest
    assert "src/features.py:scale" in before.parts
    assert changed(before, after) == {"src/features.py:step"}


def test_mutually_importing_modules_do_not_recurse_forever(project: Project) -> None:
    project.write(
        "src/mod_a.py",
        """
        import mod_b

        def step(n):
            return mod_b.down(n)

        def up(n):
            return step(n)
        """,
    )
    project.write(
        "src/mod_b.py",
        "import mod_a\n\ndef down(n):\n    return mod_a.up(n - 1) if n else 0\n",
    )
    project.write(
        "src/features.py",
        """
        def even(n):
            return n == 0 or odd(n - 1)

        def odd(n):
            return n != 0 and even(n - 1)
        """,
    )

    modules = project.fingerprint("mod_a")
    functions = project.fingerprint("features", "even")

    assert set(modules.parts) == {"src/mod_a.py:step", "src/mod_b.py", "src/mod_a.py"}
    assert set(functions.parts) == {"src/features.py:even", "src/features.py:odd"}


EXEC_STEP = """
def step(rows):
    return [r for r in rows if r in {"alpha", "beta", "gamma", "delta"}]
"""


def _exec_step(source: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"__name__": "scratch"}
    exec(source, namespace)
    fn: Callable[..., Any] = namespace["step"]
    return fn


def test_a_function_without_source_gets_a_stable_fingerprint(tmp_path: Path) -> None:
    first = fingerprint_function(_exec_step(EXEC_STEP), tmp_path)
    again = fingerprint_function(_exec_step(EXEC_STEP), tmp_path)
    edited = fingerprint_function(_exec_step(EXEC_STEP.replace("beta", "bet")), tmp_path)

    assert list(first.parts) == ["scratch:step"]
    assert first == again
    assert edited.digest != first.digest


def test_a_function_without_source_has_the_same_digest_in_every_process(tmp_path: Path) -> None:
    """A set literal's order follows string hashing, which differs between processes."""
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from keel.versioning import fingerprint_function\n"
        f"namespace = {{'__name__': 'scratch'}}\nexec({EXEC_STEP!r}, namespace)\n"
        "print(fingerprint_function(namespace['step'], Path(sys.argv[1])).digest)\n"
    )
    expected = fingerprint_function(_exec_step(EXEC_STEP), tmp_path).digest
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == expected


# -- property -------------------------------------------------------------------------------
PROPERTY_STEP = [
    "import math",
    "LIMIT = 3",
    "def _scale(x):",
    "    return math.sqrt(x) * LIMIT",
    "def step(values):",
    "    out = []",
    "    for v in values:",
    "        out.append(_scale(v))",
    "    return out",
]
_padding = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),
        st.none() | st.text(alphabet="abc xyz#", max_size=12),
        st.sampled_from(["", " ", "\t  "]),
    ),
    min_size=len(PROPERTY_STEP),
    max_size=len(PROPERTY_STEP),
)


def _load_file(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(max_examples=30, deadline=None)
@given(padding=_padding)
def test_padding_with_blank_lines_comments_and_trailing_spaces_keeps_the_key(
    tmp_path_factory: pytest.TempPathFactory,
    padding: list[tuple[int, str | None, str]],
) -> None:
    folder = tmp_path_factory.mktemp("padded")
    plain, padded = folder / "plain.py", folder / "padded.py"
    plain.write_text("\n".join(PROPERTY_STEP) + "\n")
    lines: list[str] = []
    for line, (blanks, comment, trailing) in zip(PROPERTY_STEP, padding, strict=True):
        lines.extend([""] * blanks)
        if comment is not None:
            lines.append(f"  # {comment}")
        lines.append(line + trailing)
    padded.write_text("\n".join(lines) + "\n")

    expected = fingerprint_function(_load_file(plain, "plain").step, folder)
    actual = fingerprint_function(_load_file(padded, "plain").step, folder)

    assert {
        k.replace("plain.py", "padded.py"): v for k, v in expected.parts.items()
    } == actual.parts


# -- the key itself is stable across Keel versions ------------------------------------------
PINNED = {
    "src/helpers.py": """
        import math

        SCALE = 2.5

        def scaled(x):
            return math.floor(x * SCALE)
    """,
    "src/features.py": """
        from helpers import scaled

        LABELS = ("a", "b")

        def step(rows):
            return [scaled(r) for r in rows if r not in LABELS]
    """,
}
# Computed before the function fingerprint moved from keel.pipelines to keel.versioning:
# a change of this value invalidates every cached step of every user, so it must be deliberate.
# ``ast.dump`` (the normalized source) differs between Python versions, so the pin is per version.
PINNED_DIGESTS = {
    (3, 11): "3e629e4abef0f0974f5a6a9e64fb33142012f5cac191d68bac1cbb602f999e3c",
}


def test_a_known_step_keeps_its_cache_key(project: Project) -> None:
    pinned = PINNED_DIGESTS.get(sys.version_info[:2])
    if pinned is None:
        pytest.skip(f"no digest pinned for Python {sys.version_info[:2]}")
    for relative, text in PINNED.items():
        project.write(relative, text)
    found = project.fingerprint("features")

    assert found.packages == {}
    assert set(found.parts) == {"src/features.py:step", "src/helpers.py:scaled"}
    assert found.digest == pinned
