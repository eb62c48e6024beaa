"""What an object store's client raised, said as a :class:`ArtifactStoreError`.

s3fs and botocore (and other fsspec back ends) fail with their own exceptions: botocore's
``NoCredentialsError`` or ``EndpointConnectionError``, s3fs's translation of an S3 error code
to ``PermissionError`` or ``FileNotFoundError``, aiohttp's connection errors. Left alone, a
user sees sixty lines of traceback ending in one of them. :func:`storage_errors` turns each
into one error that names the store, what Keel was doing, and what to change. Nothing here
imports a client: exceptions are recognised by their class names and the S3 error code
they carry, so the local store pays nothing for it.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from keel.errors import KeelError

__all__ = ["ArtifactStoreError", "bucket_missing", "storage_errors"]

_CLIENT_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "urllib3", "google", "azure")
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ClientConnectorError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SSLError",
}
_REFUSED_CODES = {
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "403",
}
_CREDENTIALS_HINT = (
    "Set key and secret in [artifacts.storage_options] of keel.toml (or "
    "KEEL_ARTIFACTS_STORAGE_OPTIONS), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
    "AWS_PROFILE) in the environment."
)


class ArtifactStoreError(KeelError):
    """The artifact store's server cannot be reached, or refused or failed a request."""


def bucket_missing(exc: BaseException) -> bool:
    """Whether ``exc`` says the bucket (not an object in it) does not exist."""
    return _code(exc) == "NoSuchBucket" or "bucket does not exist" in str(exc).lower()


@contextmanager
def storage_errors(where: str, doing: str) -> Iterator[None]:
    """Re-raise a storage client's failure while ``doing`` something with the store at
    ``where`` as an :class:`ArtifactStoreError`; Keel's own errors and a missing object
    (``FileNotFoundError``, which callers handle) pass through unchanged."""
    try:
        yield
    except KeelError:
        raise
    except Exception as exc:
        translated = explain(exc, where, doing)
        if translated is None:
            raise
        raise translated from exc


def explain(exc: BaseException, where: str, doing: str) -> ArtifactStoreError | None:
    """The :class:`ArtifactStoreError` for a storage client's ``exc`` (``None`` for an
    object that is simply absent, or an exception that is not a storage failure)."""
    kind = _kind(exc)
    if kind is None:
        return None
    message, hint = _SAID[kind]
    return ArtifactStoreError(
        message.format(where=where, doing=doing, detail=_detail(exc)), hint=hint
    )


_SAID = {
    "credentials": (
        "no credentials to {doing} the artifact store at {where}: {detail}.",
        _CREDENTIALS_HINT,
    ),
    "unreachable": (
        "cannot reach the artifact store at {where} to {doing}: {detail}.",
        "Check that the server is running and that endpoint_url in [artifacts.storage_options] "
        "of keel.toml (or AWS_ENDPOINT_URL_S3) names it, with http:// or https:// as the "
        "server speaks.",
    ),
    "bucket": (
        "the bucket of the artifact store at {where} does not exist (while trying to {doing}).",
        "Create the bucket on the server (e.g. aws s3 mb s3://BUCKET --endpoint-url URL), or "
        "fix [artifacts] url in keel.toml (KEEL_ARTIFACTS_URL).",
    ),
    "refused": (
        "the artifact store at {where} refused to {doing}: {detail}.",
        "Check the key and secret (a signature mismatch is a wrong secret) and that they may "
        "read and write the bucket. " + _CREDENTIALS_HINT,
    ),
    "failed": (
        "the artifact store at {where} failed to {doing}: {detail}.",
        "Check the server's logs and [artifacts.storage_options] in keel.toml; "
        "docs/configuration.md lists the settings S3-compatible servers need.",
    ),
}


def _kind(exc: BaseException) -> str | None:
    names = _class_names(exc)
    if names & _NO_CREDENTIALS:
        return "credentials"
    if names & _UNREACHABLE or isinstance(exc, ConnectionError | TimeoutError):
        return "unreachable"
    if isinstance(exc, FileNotFoundError):  # an absent object is the caller's to handle
        return "bucket" if bucket_missing(exc) else None
    if isinstance(exc, PermissionError) or _code(exc) in _REFUSED_CODES:
        return "refused"
    return "failed" if isinstance(exc, OSError) or _from_client(exc) else None


def _class_names(exc: BaseException) -> set[str]:
    found = {cls.__name__ for cls in type(exc).__mro__}
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        found |= {cls.__name__ for cls in type(cause).__mro__}
    return found


def _from_client(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] in _CLIENT_MODULES for cls in type(exc).__mro__)


def _code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` (``exc`` or the one it came from)."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, Mapping):
            error: Any = response.get("Error")
            if isinstance(error, Mapping) and error.get("Code"):
                return str(error["Code"])
    return ""


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.errno not in (None, errno.EIO):
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    code = _code(exc)
    text = text.strip().rstrip(".")
    return f"{text} ({code})" if code and code not in text else text
