"""Keel: engineering discipline for ML systems.

The everyday API lives here; each capability has its own subpackage (``keel.contracts``,
``keel.config``...). Errors are in ``keel.errors``.
"""

from typing import TYPE_CHECKING, Any

from keel._version import __version__ as __version__

__all__ = [
    "Categorical",
    "Check",
    "Column",
    "Contract",
    "Entity",
    "FeatureService",
    "FeatureView",
    "Field",
    "Frame",
    "Model",
    "Pipeline",
    "ProfileWarning",
    "Report",
    "Schema",
    "__version__",
    "active_run",
    "add_dataset",
    "aggregate",
    "check_types",
    "close",
    "col",
    "correlated",
    "expression",
    "fresh",
    "functional_dependency",
    "load",
    "null_fraction",
    "ordered",
    "param",
    "pipeline",
    "ref",
    "register",
    "rows",
    "rule",
    "start_run",
    "step",
    "unique",
]

if TYPE_CHECKING:
    from keel.contracts import Categorical as Categorical
    from keel.contracts import Check as Check
    from keel.contracts import Column as Column
    from keel.contracts import Contract as Contract
    from keel.contracts import Field as Field
    from keel.contracts import Frame as Frame
    from keel.contracts import Report as Report
    from keel.contracts import Schema as Schema
    from keel.contracts import aggregate as aggregate
    from keel.contracts import check_types as check_types
    from keel.contracts import close as close
    from keel.contracts import col as col
    from keel.contracts import correlated as correlated
    from keel.contracts import expression as expression
    from keel.contracts import fresh as fresh
    from keel.contracts import functional_dependency as functional_dependency
    from keel.contracts import null_fraction as null_fraction
    from keel.contracts import ordered as ordered
    from keel.contracts import rows as rows
    from keel.contracts import rule as rule
    from keel.contracts import unique as unique
    from keel.features import Entity as Entity
    from keel.features import FeatureService as FeatureService
    from keel.features import FeatureView as FeatureView
    from keel.models import Model as Model
    from keel.pipelines import Pipeline as Pipeline
    from keel.pipelines import param as param
    from keel.pipelines import pipeline as pipeline
    from keel.pipelines import ref as ref
    from keel.pipelines import step as step
    from keel.registry import load as load
    from keel.registry import register as register
    from keel.tracking import ProfileWarning as ProfileWarning
    from keel.tracking import active_run as active_run
    from keel.tracking import add_dataset as add_dataset
    from keel.tracking import start_run as start_run

_LAZY = {
    "Categorical": "keel.contracts",
    "Check": "keel.contracts",
    "Column": "keel.contracts",
    "Contract": "keel.contracts",
    "Field": "keel.contracts",
    "Frame": "keel.contracts",
    "Report": "keel.contracts",
    "Schema": "keel.contracts",
    "aggregate": "keel.contracts",
    "check_types": "keel.contracts",
    "close": "keel.contracts",
    "col": "keel.contracts",
    "correlated": "keel.contracts",
    "expression": "keel.contracts",
    "fresh": "keel.contracts",
    "functional_dependency": "keel.contracts",
    "null_fraction": "keel.contracts",
    "ordered": "keel.contracts",
    "rows": "keel.contracts",
    "rule": "keel.contracts",
    "unique": "keel.contracts",
    "Entity": "keel.features",
    "FeatureService": "keel.features",
    "FeatureView": "keel.features",
    "Model": "keel.models",
    "Pipeline": "keel.pipelines",
    "load": "keel.registry",
    "register": "keel.registry",
    "add_dataset": "keel.tracking",
    "ProfileWarning": "keel.tracking",
    "param": "keel.pipelines",
    "pipeline": "keel.pipelines",
    "ref": "keel.pipelines",
    "step": "keel.pipelines",
    "active_run": "keel.tracking",
    "start_run": "keel.tracking",
}


# ``keel.monitor.compare(...)`` after a bare ``import keel``, as in a notebook: a subpackage is
# imported on first use, like the names above.
_SUBPACKAGES = (
    "config",
    "contracts",
    "deploy",
    "errors",
    "features",
    "grammar",
    "models",
    "monitor",
    "pipelines",
    "registry",
    "serve",
    "store",
    "telemetry",
    "tracking",
    "ui",
    "versioning",
)


def __getattr__(name: str) -> Any:
    """Import a capability (Polars, the database stack) when its first name is used.

    ``import keel`` stays cheap, so that the ``keel`` command and programs that use one
    capability pay only for that one.
    """
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"keel.{name}")  # sets the attribute itself
    raise AttributeError(f"module 'keel' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, so completion (IPython, Jupyter, the REPL) offers them."""
    return sorted({*globals(), *__all__, *_SUBPACKAGES})
