"""Storage client failures, as botocore and s3fs raise them, become one ArtifactStoreError.

The same failures are produced by a real server in test_s3_swift.py; these cases run
without one and pin the wording for every kind."""

from __future__ import annotations

import pytest

from keel.store import ArtifactStoreError
from keel.store._storage_errors import explain

botocore_exceptions = pytest.importorskip("botocore.exceptions")
WHERE = "s3://bucket/keel (endpoint http://127.0.0.1:9000)"


def _client_error(code: str, message: str) -> Exception:
    error: Exception = botocore_exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, "PutObject"
    )
    return error


def _as_s3fs(kind: type[OSError], code: str, message: str) -> OSError:
    """As s3fs raises it: an OSError subclass caused by botocore's ClientError."""
    error = kind(message)
    error.__cause__ = _client_error(code, message)
    return error


@pytest.mark.parametrize(
    ("exc", "said", "hint"),
    [
        (botocore_exceptions.NoCredentialsError(), "no credentials to store", "AWS_ACCESS_KEY_ID"),
        (
            botocore_exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9000"),
            "cannot reach the artifact store",
            "endpoint_url",
        ),
        (
            _as_s3fs(PermissionError, "AccessDenied", "Access Denied."),
            "refused to store an artifact: Access Denied (AccessDenied)",
            "may read and write the bucket",
        ),
        (
            _as_s3fs(FileNotFoundError, "NoSuchBucket", "The specified bucket does not exist."),
            "the bucket of the artifact store",
            "Create the bucket",
        ),
        (
            _as_s3fs(OSError, "InternalError", "We encountered an internal error."),
            "failed to store an artifact",
            "server's logs",
        ),
    ],
    ids=["no-credentials", "unreachable", "access-denied", "no-such-bucket", "server-error"],
)
def test_each_kind_of_failure_names_the_store_and_the_fix(
    exc: Exception, said: str, hint: str
) -> None:
    found = explain(exc, WHERE, "store an artifact")
    assert isinstance(found, ArtifactStoreError)
    assert said in found.message
    assert WHERE in found.message
    assert hint in (found.hint or "")


def test_a_missing_object_and_other_errors_are_left_to_the_caller() -> None:
    assert explain(FileNotFoundError("bucket/keel/objects/ab/cd"), WHERE, "read") is None
    assert explain(ValueError("a bug"), WHERE, "read") is None
