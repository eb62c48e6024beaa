"""The shared grammars, owned once at the base of the stack: how users write references to
datasets and models, durations, and declarative files read with their locations. Every
other package asks this one instead of parsing for itself."""

from keel.grammar._located import Document as Document
from keel.grammar._located import KeyPath as KeyPath
from keel.grammar._located import Location as Location
from keel.grammar._located import Reader as Reader
from keel.grammar._located import dotted as dotted
from keel.grammar._located import kind_of as kind_of
from keel.grammar._located import read_toml as read_toml
from keel.grammar._located import read_yaml as read_yaml
from keel.grammar._located import suggestion as suggestion

__all__ = [
    "Document",
    "KeyPath",
    "Location",
    "Reader",
    "dotted",
    "kind_of",
    "read_toml",
    "read_yaml",
    "suggestion",
]
