"""Property-based requests generated from the served model's own ``/openapi.json``
(schemathesis): whatever a client sends, the server answers without a server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from keel.serve import create_app

from ._serving import make_project


# schemathesis drives ASGI apps through Starlette's TestClient, which warns about httpx
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_generated_requests_never_get_a_server_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_ADMIN_TOKEN", "t0ken")
    project = make_project(tmp_path, versions=2)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app("churn", project=project))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def call(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        call()
