"""The tracing state shared by steps and the pipeline graph: who, if anyone, records step calls.

While a ``@keel.pipeline`` function is being built into a graph, a *trace* is active in the
current context: a step call then asks the trace to record a node instead of running. Steps
(:mod:`keel.pipelines._step`) only read the active trace; the graph builder
(:mod:`keel.pipelines._pipeline`) activates one. Both depend on this module and not on each
other, so neither imports the other inside a function to dodge a cycle. The state is a
:class:`contextvars.ContextVar`, so threads and asyncio tasks each see their own.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["Tracer", "active_tracer", "tracing"]


class Tracer(Protocol):
    """What records step calls while a pipeline is built (the graph's trace is one).

    ``step`` is a :class:`~keel.pipelines.Step`, typed ``Any`` so that this module, which
    the step module imports, names nothing of it.
    """

    def call(self, step: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record a call of ``step`` and return placeholders for its outputs."""
        ...


_ACTIVE: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar("keel_trace", default=None)


def active_tracer() -> Tracer | None:
    """The tracer recording step calls in this context, or None: steps then just run."""
    return _ACTIVE.get()


@contextlib.contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    """Make ``tracer`` record every step call in this context until the block ends."""
    token = _ACTIVE.set(tracer)
    try:
        yield tracer
    finally:
        _ACTIVE.reset(token)
