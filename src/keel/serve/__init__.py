"""Serving from the registry: a contract-checked HTTP API with micro-batching and a prediction
log. What it serves and how traffic moves (shadow, canary, guardrails, promotion) is
:mod:`keel.deploy`'s; serve runs it.

``create_app(name)`` builds the ASGI app (FastAPI); ``serve(name, host, port, workers)``
runs it under uvicorn. Both need the ``serve`` extra (``pip install 'mlkeel[serve]'``);
importing ``keel.serve`` does not.
"""

from typing import TYPE_CHECKING, Any

from keel.serve._export import export_predictions as export_predictions
from keel.serve._export import recover_predictions as recover_predictions
from keel.serve._server import serve as serve

__all__ = [
    "create_app",
    "export_predictions",
    "recover_predictions",
    "serve",
]

if TYPE_CHECKING:
    from keel.serve._app import create_app as create_app


def __getattr__(name: str) -> Any:
    """Import FastAPI only when an app is built."""
    if name == "create_app":
        try:
            from keel.serve._app import create_app
        except ImportError as exc:
            from keel.errors import MissingDependencyError

            missing = exc.name or "fastapi"
            raise MissingDependencyError(
                missing, extra="serve", purpose="Serving a model over HTTP"
            ) from exc
        globals()[name] = create_app
        return create_app
    raise AttributeError(f"module 'keel.serve' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, so completion (IPython, Jupyter, the REPL) offers them."""
    return sorted({*globals(), *__all__})
