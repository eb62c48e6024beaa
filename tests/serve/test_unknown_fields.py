"""A field the model's input contract does not have (a misspelled name, most often): refused
with its name and a did-you-mean in reject mode, on every prediction protocol; predicted and
recorded in the prediction log in warn mode; refused in both when the contract is strict.
The same rule for a model served from a feature service (keys and request fields)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.contracts import record_checker
from keel.deploy._spec import DeploySpec
from keel.monitor import PredictionLog
from keel.serve import create_app
from keel.tracking import Project

from ._online import FRESH, online_project
from ._serving import client, expected, make_project, records

TYPO = "is required; got unknown field 'rte' — did you mean 'rate'?"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    return make_project(tmp_path)


def run(app: Any, work: Any) -> Any:
    async def main() -> Any:
        async with client(app) as http:
            return await work(http)

    return asyncio.run(main())


def _typo(record: dict[str, Any]) -> dict[str, Any]:
    fields = dict(record)
    fields["rte"] = fields.pop("rate")
    return fields


def test_reject_mode_names_the_unknown_field_on_every_protocol(project: Project) -> None:
    good = records(1)[0]
    bad = _typo(good)
    app = create_app("churn", project=project)
    infer = {
        "inputs": [
            {"name": k, "shape": [1], "datatype": "FP64", "data": [float(v)]}
            for k, v in bad.items()
        ]
    }
    split = {"columns": list(bad), "data": [list(bad.values())]}

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json=bad),
            await http.post("/invocations", json={"dataframe_records": [bad]}),
            await http.post("/invocations", json={"dataframe_split": split}),
            await http.post("/v2/models/churn/infer", json=infer),
            await http.post("/predict", json={**good, "segment": "b2b"}),
            await http.post("/predict", json=good),
        ]

    *typos, extra, exact = run(app, work)
    for answer in typos:
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "invalid_input"
        errors = {e["field"]: e["error"] for e in body["errors"]}
        assert errors == {"rate": TYPO, "rte": "unknown field (did you mean 'rate'?)"}
        assert f"row 0, rate: {TYPO}" in body["error"]
    assert extra.status_code == 422
    assert extra.json()["errors"] == [
        {
            "row": 0,
            "field": "segment",
            "error": "unknown field (a record carries age, income, rate)",
        }
    ]
    assert exact.status_code == 200
    assert exact.json()["predictions"] == expected(project, [good])


def test_warn_mode_predicts_and_logs_the_unknown_fields(project: Project) -> None:
    spec = DeploySpec(name="churn", inputs_mode="warn")
    app = create_app("churn", project=project, spec=spec)
    good = records(2)
    sent = [{**good[0], "ratee": 0.3}, good[1]]

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json=sent),
            await http.post("/predict", json=_typo(good[0])),
        ]

    warned, missing = run(app, work)
    assert warned.status_code == 200
    assert warned.json()["predictions"] == expected(project, good)  # the extra field unused
    assert missing.status_code == 422  # a required value is still missing: unreadable
    assert missing.json()["errors"][0] == {"row": 0, "field": "rate", "error": TYPO}
    log = PredictionLog(project.artifacts, "churn").scan().collect().sort("row")
    assert log["valid"].to_list() == [False, True]
    assert log["violations"].to_list() == ["ratee: unknown field (did you mean 'rate'?)", None]


def test_a_strict_contract_refuses_unknown_fields_even_in_warn_mode() -> None:
    class Closed(keel.Schema, strict=True):
        rate: float

    checker = record_checker(Closed.__contract__, mode="warn")
    checked = checker.check([{"rate": 0.5, "rat": 1.0}, {"rate": 0.5}])
    assert checked.errors == [
        {"row": 0, "field": "rat", "error": "unknown field (did you mean 'rate'?)"}
    ]
    assert checked.violations == [None, None]
    open_checker = record_checker(Closed.__contract__.with_strict(False), mode="warn")
    assert open_checker.check([{"rate": 0.5, "rat": 1.0}]).errors == []


def test_without_a_contract_any_field_passes() -> None:
    checked = record_checker(None).check([{"anything": 1}])
    assert checked.errors == []
    assert checked.violations == [None]


@pytest.fixture
def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    monkeypatch.chdir(tmp_path)
    return online_project(tmp_path)


def test_a_feature_served_model_names_a_misspelled_key(online: Project) -> None:
    app = create_app("scoring_model", project=online)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json={"applicant": FRESH, "amount": 10.0}),
            await http.post("/predict", json={"applicant_id": FRESH, "amount": 10.0}),
        ]

    typo, exact = run(app, work)
    assert typo.status_code == 422
    errors = {e["field"]: e["error"] for e in typo.json()["errors"]}
    assert errors == {
        "applicant_id": "is required; got unknown field 'applicant' — did you mean 'applicant_id'?",
        "applicant": "unknown field (did you mean 'applicant_id'?)",
    }
    assert exact.status_code == 200


def test_a_feature_served_model_in_warn_mode_logs_an_unknown_field(online: Project) -> None:
    spec = DeploySpec(name="scoring_model", inputs_mode="warn")
    app = create_app("scoring_model", project=online, spec=spec)
    sent = {"applicant_id": FRESH, "amount": 10.0, "amuont": 11.0}

    async def work(http: Any) -> list[Any]:
        return [
            await http.post("/predict", json=sent),
            await http.post("/predict", json={"applicant_id": FRESH, "amount": 10.0}),
        ]

    warned, exact = run(app, work)
    assert warned.status_code == 200, warned.text
    assert warned.json()["predictions"] == exact.json()["predictions"]
    log = PredictionLog(online.artifacts, "scoring_model").scan().collect()
    assert sorted(log["violations"].to_list(), key=lambda v: v is None) == [
        "amuont: unknown field (did you mean 'amount'?)",
        None,
    ]
