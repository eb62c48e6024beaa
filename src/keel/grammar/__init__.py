"""The shared grammars, owned once at the base of the stack: how users write references to
datasets and models, durations, and declarative files read with their locations. Every
other package asks this one instead of parsing for itself."""

from keel.grammar._durations import DURATION_FORMS as DURATION_FORMS
from keel.grammar._durations import Duration as Duration
from keel.grammar._durations import DurationUnit as DurationUnit
from keel.grammar._durations import format_duration as format_duration
from keel.grammar._durations import parse_duration as parse_duration
from keel.grammar._located import Document as Document
from keel.grammar._located import KeyPath as KeyPath
from keel.grammar._located import Location as Location
from keel.grammar._located import Reader as Reader
from keel.grammar._located import dotted as dotted
from keel.grammar._located import kind_of as kind_of
from keel.grammar._located import read_toml as read_toml
from keel.grammar._located import read_yaml as read_yaml
from keel.grammar._located import suggestion as suggestion
from keel.grammar._names import NAME_LIMIT as NAME_LIMIT
from keel.grammar._names import NAME_RULE as NAME_RULE
from keel.grammar._names import VERSION_LIMIT as VERSION_LIMIT
from keel.grammar._names import InvalidNameError as InvalidNameError
from keel.grammar._names import check_alias as check_alias
from keel.grammar._names import check_name as check_name
from keel.grammar._names import check_version as check_version
from keel.grammar._names import parse_version as parse_version
from keel.grammar._references import PREFIXES as PREFIXES
from keel.grammar._references import Reference as Reference
from keel.grammar._references import ReferenceKind as ReferenceKind
from keel.grammar._references import parse_reference as parse_reference
from keel.grammar._references import prefix_kind as prefix_kind

__all__ = [
    "DURATION_FORMS",
    "NAME_LIMIT",
    "NAME_RULE",
    "PREFIXES",
    "VERSION_LIMIT",
    "Document",
    "Duration",
    "DurationUnit",
    "InvalidNameError",
    "KeyPath",
    "Location",
    "Reader",
    "Reference",
    "ReferenceKind",
    "check_alias",
    "check_name",
    "check_version",
    "dotted",
    "format_duration",
    "kind_of",
    "parse_duration",
    "parse_reference",
    "parse_version",
    "prefix_kind",
    "read_toml",
    "read_yaml",
    "suggestion",
]
