"""Fingerprints of what a run used: its code, its environment and its data.

``code_fingerprint`` records the git commit, branch and uncommitted diff (or, outside git, a
hash of the source files); ``fingerprint_function`` the source of one function and of every
project function it reaches (the code part of a pipeline step's cache key);
``environment_fingerprint`` the interpreter, platform and installed packages; ``hash_path``
the content of a data file or directory, in parallel and with a persistent
:class:`HashCache` so unchanged files are not read again. Each fingerprint is a frozen
dataclass; those a run records have ``to_dict()`` / ``from_dict()`` for JSON.
"""

from keel.versioning._cache import HashCache as HashCache
from keel.versioning._code import CodeFingerprint as CodeFingerprint
from keel.versioning._code import code_fingerprint as code_fingerprint
from keel.versioning._data import DataDiff as DataDiff
from keel.versioning._data import DataFingerprint as DataFingerprint
from keel.versioning._data import FileDigest as FileDigest
from keel.versioning._data import diff_fingerprints as diff_fingerprints
from keel.versioning._data import hash_path as hash_path
from keel.versioning._environment import EnvironmentFingerprint as EnvironmentFingerprint
from keel.versioning._environment import environment_fingerprint as environment_fingerprint
from keel.versioning._function import FunctionFingerprint as FunctionFingerprint
from keel.versioning._function import fingerprint_function as fingerprint_function
from keel.versioning._site import SiteIndex as SiteIndex
from keel.versioning._site import site_index as site_index

__all__ = [
    "CodeFingerprint",
    "DataDiff",
    "DataFingerprint",
    "EnvironmentFingerprint",
    "FileDigest",
    "FunctionFingerprint",
    "HashCache",
    "SiteIndex",
    "code_fingerprint",
    "diff_fingerprints",
    "environment_fingerprint",
    "fingerprint_function",
    "hash_path",
    "site_index",
]
