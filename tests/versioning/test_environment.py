"""Environment fingerprints: interpreter, platform and packages, compared by one digest."""

from __future__ import annotations

import json
import platform

import pytest

from keel.errors import InputError
from keel.store import hash_bytes
from keel.versioning import EnvironmentFingerprint, environment_fingerprint


def _env(*packages: tuple[str, str], python: str = "3.12.1") -> EnvironmentFingerprint:
    return EnvironmentFingerprint(python, "CPython", "Linux", "6.1", "x86_64", packages=packages)


def test_the_running_environment() -> None:
    fp = environment_fingerprint()
    assert fp.python_version == platform.python_version()
    assert fp.versions["blake3"]
    assert fp.versions["mlkeel"]
    assert list(fp.packages) == sorted(fp.packages)
    assert environment_fingerprint() == fp
    assert environment_fingerprint().packages_digest == fp.packages_digest


def test_names_are_normalized_and_sorted() -> None:
    fp = _env(("Scikit_Learn", "1.5.0"), ("numpy", "2.0.0"), ("zope.interface", "7.0"))
    assert fp.packages == (("numpy", "2.0.0"), ("scikit-learn", "1.5.0"), ("zope-interface", "7.0"))
    lines = "numpy==2.0.0\nscikit-learn==1.5.0\nzope-interface==7.0\n"
    assert fp.packages_digest == hash_bytes(lines.encode())


def test_digest_ignores_order_and_spelling_only() -> None:
    a = _env(("numpy", "2.0.0"), ("scikit-learn", "1.5.0"))
    b = _env(("scikit_learn", "1.5.0"), ("NumPy", "2.0.0"))
    assert a == b
    assert a.packages_digest == b.packages_digest
    assert _env(("numpy", "2.0.1")).packages_digest != _env(("numpy", "2.0.0")).packages_digest


def test_diff_lists_added_removed_and_changed_packages() -> None:
    old = _env(("numpy", "1.26.4"), ("pandas", "2.2.0"), ("rich", "13.7.0"))
    new = _env(("numpy", "2.0.0"), ("polars", "1.30.0"), ("rich", "13.7.0"), python="3.12.4")
    assert old.diff(new) == {
        "added": {"polars": "1.30.0"},
        "removed": {"pandas": "2.2.0"},
        "changed": {"numpy": ["1.26.4", "2.0.0"]},
        "interpreter": {"python_version": ["3.12.1", "3.12.4"]},
    }
    assert old.diff(old) == {"added": {}, "removed": {}, "changed": {}, "interpreter": {}}


def test_json_round_trip() -> None:
    fp = environment_fingerprint()
    assert EnvironmentFingerprint.from_dict(json.loads(json.dumps(fp.to_dict()))) == fp


def test_a_tampered_record_is_refused() -> None:
    data = _env(("numpy", "2.0.0")).to_dict()
    data["packages"]["numpy"] = "2.0.1"
    with pytest.raises(InputError, match="packages_digest"):
        EnvironmentFingerprint.from_dict(data)
