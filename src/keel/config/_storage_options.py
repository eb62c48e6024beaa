"""``[artifacts.storage_options]``: keyword arguments for the artifact store's fsspec
filesystem, checked where they are written.

fsspec hands unknown keyword arguments to the filesystem, and s3fs passes what it does not
know on to a base class that ignores it: a misspelled ``endpoint_ur`` would silently leave
the store talking to AWS. For ``s3://`` stores the keys are therefore checked against the
installed s3fs (and botocore, for ``client_kwargs`` and ``config_kwargs``), each mistake
reported with its line and the closest known key. Other protocols' options are passed on
as written.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from keel.grammar import KeyPath, Reader

__all__ = ["S3_PROTOCOLS", "check_storage_options"]

S3_PROTOCOLS = ("s3", "s3a")

# botocore's client settings (botocore.session.Session.create_client) that s3fs passes on
_CLIENT_KWARGS = (
    "region_name",
    "api_version",
    "use_ssl",
    "verify",
    "endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_account_id",
)
# AbstractFileSystem's own keyword arguments, which every fsspec filesystem accepts
_FSSPEC_KWARGS = ("use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache")
_CHECKSUM_CHOICES = ("when_supported", "when_required")
_CHECKSUM_KEYS = ("request_checksum_calculation", "response_checksum_validation")


def check_storage_options(
    reader: Reader, options: Mapping[str, Any], path: KeyPath, url: str
) -> None:
    """Record a problem in ``reader`` for each option the store at ``url`` would not use."""
    protocol = url.split("://", 1)[0].lower() if "://" in url else ""
    if not protocol:
        where = f"{url!r}, a local folder" if url else "a local folder (the default)"
        reader.problem(
            path,
            f"storage options apply to fsspec URLs, but the artifact store is {where}",
            hint='Set [artifacts] url = "s3://BUCKET/PATH" (or another fsspec URL), or remove '
            "the table.",
        )
        return
    if protocol not in S3_PROTOCOLS:
        return
    known = _s3fs_keys()
    if known is None:  # s3fs is not installed: opening the store says how to install it
        return
    for key, value in options.items():
        if key not in known:
            reader.unknown((*path, key), key, known, what="s3fs option")
        elif key in ("client_kwargs", "config_kwargs", "s3_additional_kwargs"):
            _check_table(reader, key, value, (*path, key))


def _check_table(reader: Reader, key: str, value: Any, path: KeyPath) -> None:
    if not isinstance(value, Mapping):
        reader.problem(path, f"expected a table of {key}; got {value!r}")
        return
    if key == "client_kwargs":
        known: tuple[str, ...] | None = _CLIENT_KWARGS
    elif key == "config_kwargs":
        known = _botocore_config_keys()
    else:
        known = None  # per-request S3 parameters (ServerSideEncryption, ACL...): any
    if known is None:
        return
    for name, item in value.items():
        if name not in known:
            reader.unknown((*path, name), str(name), known, what=f"key of {key}")
        elif name in _CHECKSUM_KEYS and item not in _CHECKSUM_CHOICES:
            reader.problem(
                (*path, name),
                f"must be one of {', '.join(map(repr, _CHECKSUM_CHOICES))}, got {item!r}",
                allowed=", ".join(_CHECKSUM_CHOICES),
            )


def _s3fs_keys() -> tuple[str, ...] | None:
    try:
        from s3fs import S3FileSystem
    except ImportError:
        return None
    found: set[str] = set(_FSSPEC_KWARGS)
    for cls in S3FileSystem.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        for name, parameter in inspect.signature(init).parameters.items():
            if name != "self" and parameter.kind not in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                found.add(name)
    return tuple(sorted(found))


def _botocore_config_keys() -> tuple[str, ...] | None:
    try:
        from botocore.config import Config
    except ImportError:
        return None
    return tuple(sorted(Config.OPTION_DEFAULTS))
