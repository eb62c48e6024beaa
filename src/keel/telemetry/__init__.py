"""Telemetry shared by pipelines and serving: OpenTelemetry spans (``[telemetry] exporter``)
and structured log lines (``[logging] format``). A base layer: it knows configuration and
nothing above it."""

from keel.telemetry._telemetry import SpanHandle as SpanHandle
from keel.telemetry._telemetry import Telemetry as Telemetry

__all__ = ["SpanHandle", "Telemetry"]
