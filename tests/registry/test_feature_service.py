"""A model version names the feature service it was trained with: stored with the version
(name and resolved snapshot), immutable, on SQLite and PostgreSQL, through Python and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.errors import UsageError
from keel.features import FeatureService, load_definitions
from keel.models import save_model
from keel.registry import feature_snapshot, history, register_package
from keel.tracking import open_project
from tests.serve._online import DEFINITIONS, Inputs, classifier, online_project


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_version_keeps_the_service_it_was_trained_with(
    root: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_STORE_URL", store_url)
    project = online_project(root, materialize=False)
    version = project.metadata.models.get_version("scoring_model", 1)
    assert version.feature_service == "scoring"
    assert version.to_dict()["feature_service"] == "scoring"
    snapshot = feature_snapshot("scoring_model@champion", project=project)
    assert snapshot is not None
    assert snapshot.service == "scoring"
    assert snapshot.columns == ("credit_score", "open_loans", "loan_ratio")
    by_name = {f.name: f for f in snapshot.features}
    assert (by_name["credit_score"].view, by_name["credit_score"].type) == ("credit", "float")
    assert by_name["loan_ratio"].derived
    assert by_name["loan_ratio"].inputs == ("amount", "open_loans")
    assert dict(snapshot.entity_keys) == {"applicant_id": "int"}
    assert dict(snapshot.request_fields) == {"amount": "float"}
    assert [(v.name, v.ttl, dict(v.keys)) for v in snapshot.views] == [
        ("credit", "3d", {"applicant_id": "int"})
    ]
    # the definitions change: what the version was trained with does not
    (root / "features.py").write_text(
        DEFINITIONS.replace("features=[credit, loan_ratio]", 'features=["credit:open_loans"]')
    )
    again = feature_snapshot("scoring_model/1", project=open_project(root))
    assert again == snapshot
    assert again is not None
    assert again.to_dict()["features"][0]["view"] == "credit"
    # a version without a service says so
    plain = keel.register(classifier(), "scoring_model", contract=Inputs, project=project)
    assert plain.feature_service is None
    assert plain.to_dict()["feature_service"] is None
    assert feature_snapshot(f"scoring_model/{plain.version}", project=project) is None
    events = history("scoring_model", project=project)
    assert events[0].detail == {"feature_service": "scoring"}


def test_a_service_object_is_resolved_with_its_own_views(root: Path) -> None:
    project = online_project(root, register=False, materialize=False)
    service = load_definitions().services["scoring"]
    picked = FeatureService("picked", features=[service.features[0]["open_loans"]])
    found = keel.register(_fits_one(), "m", feature_service=picked, project=project)
    assert found.feature_service == "picked"
    snap = feature_snapshot("m", project=project)
    assert snap is not None
    assert snap.columns == ("open_loans",)
    assert dict(snap.request_fields) == {}


def _fits_one() -> object:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(np.arange(10.0).reshape(-1, 1), np.arange(10.0))


def test_an_unknown_service_registers_nothing_and_suggests_the_name(root: Path) -> None:
    project = online_project(root, register=False, materialize=False)
    with pytest.raises(UsageError, match="no feature service 'scorng'") as raised:
        keel.register(classifier(), "m", contract=Inputs, feature_service="scorng",
                      project=project)  # fmt: skip
    assert "scoring" in (raised.value.hint or "")
    assert project.metadata.models.models() == []


def test_cli_registers_a_package_with_its_service_and_shows_it(root: Path) -> None:
    project = online_project(root, register=False, materialize=False)
    save_model(classifier(), root / "pkg", contract=Inputs)
    runner = CliRunner()
    bad = runner.invoke(app, ["models", "register", "pkg", "m", "--feature-service", "scorng"])
    assert bad.exit_code == 2
    assert "scoring" in bad.output
    done = runner.invoke(app, ["models", "register", "pkg", "m", "--feature-service", "scoring"])
    assert done.exit_code == 0, done.output
    assert "feature service scoring" in done.output
    shown = runner.invoke(app, ["models", "show", "m/1", "--format", "json"])
    assert json.loads(shown.output)[0]["feature_service"] == "scoring"
    table = runner.invoke(app, ["models", "show", "m"])
    assert "feature service" in table.output
    assert "scoring" in table.output
    snap = feature_snapshot("m/1", project=project)
    assert snap is not None
    assert snap.service == "scoring"
    # the package registered unchanged: the same manifest as a second registration
    again = register_package(root / "pkg", "m", project=project)
    assert again.manifest == project.metadata.models.get_version("m", 1).manifest
    assert again.feature_service is None
