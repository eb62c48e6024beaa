"""The Open Inference Protocol v2 routes in process: per-version routes, the error shape
the protocol's clients decode, datatypes, requested outputs and binary tensor data. (The
real tritonclient against a real server: test_clients.py.)"""

from __future__ import annotations

import asyncio
import gzip
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from keel.deploy._spec import ChallengerSpec, DeploySpec
from keel.registry import set_alias
from keel.serve import create_app
from keel.serve._served import ServedModel
from keel.tracking import Project

from ._serving import COLUMNS, client, expected, make_project, records


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = make_project(tmp_path, versions=2)
    set_alias("churn", "challenger", 2, project=project)
    return project


def run(app: Any, work: Any) -> Any:
    async def main() -> Any:
        async with client(app) as http:
            return await work(http)

    return asyncio.run(main())


def by_column(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": [r[c] for r in rows]}
            for c in COLUMNS
        ],
        **extra,
    }


def test_each_served_version_has_its_own_metadata_readiness_and_inference(
    project: Project,
) -> None:
    spec = DeploySpec(name="churn", challenger=ChallengerSpec(mode="shadow", shadow_fraction=0.0))
    app = create_app("churn", project=project, spec=spec)
    rows = records(30)

    async def work(http: Any) -> dict[str, Any]:
        return {
            "meta 1": await http.get("/v2/models/churn/versions/1"),
            "meta 2": await http.get("/v2/models/churn/versions/2"),
            "ready 2": await http.get("/v2/models/churn/versions/2/ready"),
            "ready 3": await http.get("/v2/models/churn/versions/3/ready"),
            "infer 1": await http.post("/v2/models/churn/versions/1/infer", json=by_column(rows)),
            "infer 2": await http.post("/v2/models/churn/versions/2/infer", json=by_column(rows)),
            "infer": await http.post("/v2/models/churn/infer", json=by_column(rows)),
            "infer 3": await http.post("/v2/models/churn/versions/3/infer", json=by_column(rows)),
            "other": await http.get("/v2/models/other/versions/1"),
        }

    answers = run(app, work)
    assert answers["meta 1"].json()["versions"] == ["1", "2"]
    assert answers["meta 2"].json()["name"] == "churn"
    assert answers["ready 2"].json() == {"name": "churn", "version": "2", "ready": True}
    for version in ("1", "2"):
        answer = answers[f"infer {version}"].json()
        assert answer["model_version"] == version
        assert answer["outputs"][0]["data"] == expected(project, rows, f"churn/{version}")
    assert answers["infer"].json()["model_version"] == "1"  # the champion, as routed
    for name in ("ready 3", "infer 3", "other"):
        assert answers[name].status_code == 404
    assert answers["infer 3"].json()["code"] == "version_not_found"
    assert "serves version 1, 2" in answers["infer 3"].json()["error"]


def test_every_error_on_v2_routes_has_the_protocol_s_shape(project: Project) -> None:
    app = create_app("churn", project=project)

    async def work(http: Any) -> dict[str, Any]:
        return {
            "no route": await http.get("/v2/models/churn/versions/1/nope"),
            "wrong method": await http.get("/v2/models/churn/infer"),
            "wrong method 2": await http.delete("/v2/models/churn"),
            "unknown model": await http.get("/v2/models/other/ready"),
            "malformed": await http.post(
                "/v2/models/churn/infer", content=b"{", headers={"content-type": ""}
            ),
            "bad shape": await http.post("/v2/models/churn/infer", json={"inputs": 3}),
            "bad values": await http.post(
                "/v2/models/churn/infer", json=by_column([{**records(1)[0], "age": 3}])
            ),
            "media": await http.post(
                "/v2/models/churn/infer", content=b"{}", headers={"content-type": "text/plain"}
            ),
        }

    answers = run(app, work)
    assert {k: a.status_code for k, a in answers.items()} == {
        "no route": 404,
        "wrong method": 405,
        "wrong method 2": 405,
        "unknown model": 404,
        "malformed": 400,
        "bad shape": 422,
        "bad values": 422,
        "media": 415,
    }
    for name, answer in answers.items():
        body = answer.json()
        assert isinstance(body["error"], str), name
        assert "detail" not in body
        assert body["request_id"] == answer.headers["x-request-id"]
    assert answers["wrong method"].headers["allow"] == "POST"
    assert "age: must be >= 18, got 3" in answers["bad values"].json()["error"]


def test_a_model_that_fails_is_a_500_in_the_protocol_s_shape(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app("churn", project=project)

    def fail(self: ServedModel, rows: Any) -> Any:
        raise ValueError("no luck")

    monkeypatch.setattr(ServedModel, "predict_rows", fail)

    async def work(http: Any) -> Any:
        return await http.post("/v2/models/churn/versions/1/infer", json=by_column(records(2)))

    answer = run(app, work)
    assert answer.status_code == 500
    assert "ValueError: no luck" in answer.json()["error"]


def test_metadata_datatypes_are_those_the_responses_send(project: Project) -> None:
    app = create_app("churn", project=project)
    rows = records(4)

    async def work(http: Any) -> list[Any]:
        return [
            await http.get("/v2/models/churn"),
            await http.post("/v2/models/churn/infer", json=by_column(rows)),
        ]

    meta, answer = run(app, work)
    announced = {o["name"]: o["datatype"] for o in meta.json()["outputs"]}
    sent = {o["name"]: o["datatype"] for o in answer.json()["outputs"]}
    assert announced == sent == {"predict": "INT64", "predict_proba": "FP64"}
    assert {i["name"]: i["datatype"] for i in meta.json()["inputs"]} == {
        "age": "INT64",
        "income": "FP64",
        "rate": "FP64",
    }


def test_requested_outputs_and_binary_outputs(project: Project) -> None:
    app = create_app("churn", project=project)
    rows = records(5)
    want = expected(project, rows)

    async def work(http: Any) -> list[Any]:
        return [
            await http.post(
                "/v2/models/churn/infer", json=by_column(rows, outputs=[{"name": "predict"}])
            ),
            await http.post(
                "/v2/models/churn/infer",
                json=by_column(rows, outputs=[{"name": "predict", "parameters": {"x": 1}}] * 2),
            ),
            await http.post(
                "/v2/models/churn/infer",
                json=by_column(rows, parameters={"binary_data_output": True}),
            ),
            await http.post("/v2/models/churn/infer", json=by_column(rows, outputs=[{"n": 1}])),
            await http.post(
                "/v2/models/churn/infer",
                json=by_column(rows, outputs=[{"name": "p", "parameters": {"classification": 2}}]),
            ),
        ]

    only, twice, binary, malformed, classification = run(app, work)
    assert [o["name"] for o in only.json()["outputs"]] == ["predict"]
    assert [o["name"] for o in twice.json()["outputs"]] == ["predict"]
    assert only.json()["outputs"][0]["data"] == want
    size = int(binary.headers["inference-header-content-length"])
    assert binary.headers["content-type"] == "application/octet-stream"
    header = orjson.loads(binary.content[:size])
    predict, proba = header["outputs"]
    assert predict["parameters"]["binary_data_size"] == 5 * 8
    values = np.frombuffer(binary.content[size : size + 40], dtype="<i8")
    assert values.tolist() == want
    assert len(binary.content) == size + 40 + proba["parameters"]["binary_data_size"]
    assert malformed.status_code == 400
    assert classification.status_code == 400
    assert "classification extension" in classification.json()["error"]


def _binary_request(
    rows: list[dict[str, Any]], sizes: dict[str, int] | None = None
) -> tuple[bytes, bytes]:
    """A request with every input as binary FP64 data (``sizes`` overrides the declared
    binary_data_size of some): its JSON header and its binary data."""
    inputs = []
    data = b""
    for c in COLUMNS:
        raw = np.asarray([r[c] for r in rows], dtype="<f8").tobytes()
        declared = (sizes or {}).get(c, len(raw))
        inputs.append(
            {
                "name": c,
                "shape": [len(rows)],
                "datatype": "FP64",
                "parameters": {"binary_data_size": declared},
            }
        )
        data += raw
    return orjson.dumps({"inputs": inputs}), data


def test_binary_inputs_are_read_and_their_mistakes_named(project: Project) -> None:
    app = create_app("churn", project=project)
    rows = records(6)
    header, data = _binary_request(rows)
    short_header, short_data = _binary_request(rows, {"age": 40})
    texts = [b"abc", "\u00e9t\u00e9".encode()]
    strings = b"".join(struct.pack("<I", len(t)) + t for t in texts)
    strings_header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "age",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(strings)},
                },
                *(
                    {"name": c, "shape": [2], "datatype": "FP64", "data": [0.5, 0.5]}
                    for c in COLUMNS[1:]
                ),
            ]
        }
    )

    async def post(http: Any, body: bytes, length: int | None) -> Any:
        headers = {"content-type": "application/octet-stream"}
        if length is not None:
            headers["inference-header-content-length"] = str(length)
        return await http.post("/v2/models/churn/infer", content=body, headers=headers)

    async def work(http: Any) -> dict[str, Any]:
        return {
            "good": await post(http, header + data, len(header)),
            "no header": await post(http, header + data, None),
            "too long": await post(http, header + data, len(header + data) + 1),
            "short": await post(http, short_header + short_data, len(short_header)),
            "left over": await post(http, header + data + b"xy", len(header)),
            "too much": await post(http, header + data[:-8], len(header)),
            "strings": await post(http, strings_header + strings, len(strings_header)),
        }

    answers = run(app, work)
    assert answers["good"].status_code == 200, answers["good"].text
    assert answers["good"].json()["outputs"][0]["data"] == expected(project, rows)
    assert answers["no header"].status_code == 415
    assert "Inference-Header-Content-Length" in answers["no header"].json()["error"]
    for name in ("too long", "short", "left over", "too much"):
        assert answers[name].status_code == 400, name
        assert answers[name].json()["code"] == "malformed_body"
    assert "Inference-Header-Content-Length" in answers["too long"].json()["error"]
    assert "needs 48 bytes of binary data, got 40" in answers["short"].json()["error"]
    assert "2 bytes of binary data that no input" in answers["left over"].json()["error"]
    # BYTES elements decoded as text: then the contract says "abc" is not an int
    assert answers["strings"].status_code == 422
    assert "'abc'" in answers["strings"].json()["error"]


def test_compressed_requests_are_inflated_within_the_body_limit(project: Project) -> None:
    app = create_app("churn", project=project, max_body_bytes=100_000)
    rows = records(3)
    body = orjson.dumps(by_column(rows))
    bomb = gzip.compress(b" " * 1_000_000)  # a kilobyte that inflates to a megabyte

    async def work(http: Any) -> list[Any]:
        def post(data: bytes, encoding: str) -> Any:
            headers = {"content-encoding": encoding}
            return http.post("/v2/models/churn/infer", content=data, headers=headers)

        return [
            await post(gzip.compress(body), "gzip"),
            await post(zlib.compress(body), "deflate"),
            await post(bomb, "gzip"),
            await post(body, "br"),
            await post(b"not gzip", "gzip"),
        ]

    packed, deflated, bomb_answer, brotli, broken = run(app, work)
    assert packed.json()["outputs"][0]["data"] == expected(project, rows)
    assert deflated.json()["outputs"][0]["data"] == expected(project, rows)
    assert (bomb_answer.status_code, bomb_answer.json()["code"]) == (413, "body_too_large")
    assert (brotli.status_code, brotli.json()["code"]) == (415, "unsupported_encoding")
    assert broken.status_code == 400
