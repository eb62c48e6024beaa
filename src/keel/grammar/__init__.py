"""The shared grammars, owned once at the base of the stack: how users write references to
datasets and models, durations, and declarative files read with their locations. Every
other package asks this one instead of parsing for itself."""

from keel.grammar._durations import DURATION_FORMS as DURATION_FORMS
from keel.grammar._durations import Duration as Duration
from keel.grammar._durations import DurationUnit as DurationUnit
from keel.grammar._durations import format_duration as format_duration
from keel.grammar._durations import parse_duration as parse_duration

__all__ = ["DURATION_FORMS", "Duration", "DurationUnit", "format_duration", "parse_duration"]
