"""``keel serve`` with the clients teams already run: Triton's ``tritonclient.http`` (the
Open Inference Protocol v2, as KServe speaks it too) and MLflow's scoring-server client,
each the real package against a real ``keel serve`` process. The answers must equal the
in-process predictions of the same registered model."""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.config import init_project
from keel.registry import set_alias
from keel.tracking import open_project

from ._process import Server, keel_serve

pytestmark = pytest.mark.slow  # one real server for the module: ~10 s to start

triton = pytest.importorskip("tritonclient.http")
triton_utils = pytest.importorskip("tritonclient.utils")


class Applicant(keel.Schema):
    """A column of every type a model can read, so every datatype the contract maps to
    travels: int (INT64), float and decimal (FP64), bool (BOOL), text and categories
    (BYTES; numeric text here, as a model reads numbers)."""

    age: int = keel.Field(ge=18, le=100)
    income: float = keel.Field(ge=0)
    member: bool
    city: str = keel.Field(isin=["1", "2", "3"])
    tier: keel.Categorical = keel.Field(isin=["1", "2"])
    amount: decimal.Decimal = keel.Field(ge=0)


DATATYPES = {
    "age": "INT64",
    "income": "FP64",
    "member": "BOOL",
    "city": "BYTES",
    "tier": "BYTES",
    "amount": "FP64",
}


def applicants(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": np.round(rng.uniform(0, 1e5, n), 2),
            "member": rng.random(n) > 0.5,
            "city": rng.choice(["1", "2", "3"], n),
            "tier": rng.choice(["1", "2"], n),
            "amount": [decimal.Decimal(f"{v:.2f}") for v in rng.uniform(0, 100, n)],
        },
        schema_overrides={"amount": pl.Decimal(38, 9), "tier": pl.Categorical},
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Any]]:
    """``keel serve applicants``: a classifier with text labels ("leave", "stay"), so its
    ``predict`` output is BYTES and ``predict_proba`` FP64; and the model, loaded."""
    root = tmp_path_factory.mktemp("clients")
    init_project(root)
    project = open_project(root)
    train = applicants(300, seed=0)
    x = np.asarray(train.to_numpy(), dtype=float)
    y = np.where(x[:, 2] + (x[:, 0] > 50) + (x[:, 3] == 2) >= 2, "stay", "leave")
    fitted = LogisticRegression(max_iter=5000).fit(x, y)
    keel.register(fitted, "applicants", contract=Applicant, project=project)
    set_alias("applicants", "champion", 1, project=project)
    with keel_serve(root, name="applicants") as server:
        yield server, keel.load("applicants/1", project=project)


def tensors(frame: pl.DataFrame, *, binary: bool) -> list[Any]:
    """One ``InferInput`` per column, as a tritonclient user builds them from numpy."""
    arrays = {
        "age": frame["age"].to_numpy().astype(np.int64),
        "income": frame["income"].to_numpy().astype(np.float64),
        "member": frame["member"].to_numpy().astype(np.bool_),
        "city": np.array(frame["city"].to_list(), dtype=np.object_),
        "tier": np.array(frame["tier"].cast(pl.String).to_list(), dtype=np.object_),
        "amount": frame["amount"].cast(pl.Float64).to_numpy(),
    }
    inputs = []
    for name, array in arrays.items():
        tensor = triton.InferInput(name, list(array.shape), DATATYPES[name])
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def texts(values: Any) -> list[str]:
    """BYTES values as text (tritonclient gives bytes for binary data, str for JSON)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def test_tritonclient_health_readiness_and_metadata(served: tuple[Server, Any]) -> None:
    server, _ = served
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("applicants")
    assert client.is_model_ready("applicants", "1")
    assert not client.is_model_ready("applicants", "2")
    assert not client.is_model_ready("other")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]

    metadata = client.get_model_metadata("applicants")
    assert client.get_model_metadata("applicants", "1") == metadata
    assert metadata["versions"] == ["1"]
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == DATATYPES
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert metadata["parameters"]["classes"] == ["leave", "stay"]
    with pytest.raises(triton_utils.InferenceServerException) as missing:
        client.get_model_metadata("applicants", "7")
    assert missing.value.status() == "404"
    assert "version '7'" in missing.value.message()


def test_tritonclient_infer_with_json_tensors_matches_the_model(
    served: tuple[Server, Any],
) -> None:
    server, model = served
    frame = applicants(40, seed=1)
    want = model.predict(frame).tolist()
    want_proba = model.predict_proba(frame)
    assert len(set(want)) == 2  # both classes occur: the comparison means something
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=False),
        triton.InferRequestedOutput("predict_proba", binary_data=False),
    ]
    metadata = client.get_model_metadata("applicants")
    for version in ("", "1"):
        result = client.infer(
            "applicants",
            tensors(frame, binary=False),
            model_version=version,
            outputs=outputs,
            request_id="r-42",
        )
        response = result.get_response()
        assert response["id"] == "r-42"
        assert response["model_version"] == "1"
        # every output is sent with the datatype the metadata announced
        assert [(o["name"], o["datatype"]) for o in response["outputs"]] == [
            (o["name"], o["datatype"]) for o in metadata["outputs"]
        ]
        assert texts(result.as_numpy("predict")) == want
        proba = result.as_numpy("predict_proba")
        assert proba.shape == (40, 2)
        np.testing.assert_allclose(proba, want_proba, rtol=1e-12)


def test_tritonclient_defaults_binary_tensors_both_ways(served: tuple[Server, Any]) -> None:
    """tritonclient's defaults: inputs as binary data after the JSON header, and (no outputs
    named) every output asked as binary data."""
    server, model = served
    frame = applicants(25, seed=2)
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    result = client.infer("applicants", tensors(frame, binary=True))
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    assert texts(result.as_numpy("predict")) == model.predict(frame).tolist()
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.predict_proba(frame), rtol=1e-12
    )
    for algorithm in ("gzip", "deflate"):  # request compression
        packed = client.infer(
            "applicants", tensors(frame, binary=True), request_compression_algorithm=algorithm
        )
        assert texts(packed.as_numpy("predict")) == model.predict(frame).tolist()
    # binary inputs, JSON outputs (and the other way round) mix freely
    mixed = client.infer(
        "applicants",
        tensors(frame, binary=True),
        outputs=[triton.InferRequestedOutput("predict", binary_data=False)],
    )
    assert texts(mixed.as_numpy("predict")) == model.predict(frame).tolist()


def test_tritonclient_gets_only_the_outputs_it_asks_for(served: tuple[Server, Any]) -> None:
    server, model = served
    frame = applicants(5, seed=3)
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    only = client.infer(
        "applicants",
        tensors(frame, binary=False),
        outputs=[triton.InferRequestedOutput("predict_proba", binary_data=False)],
    )
    assert [o["name"] for o in only.get_response()["outputs"]] == ["predict_proba"]
    assert only.as_numpy("predict") is None
    np.testing.assert_allclose(
        only.as_numpy("predict_proba"), model.predict_proba(frame), rtol=1e-12
    )
    with pytest.raises(triton_utils.InferenceServerException) as unknown:
        client.infer(
            "applicants",
            tensors(frame, binary=False),
            outputs=[triton.InferRequestedOutput("scores", binary_data=False)],
        )
    assert unknown.value.status() == "400"
    assert "'scores'" in unknown.value.message()
    assert "predict, predict_proba" in unknown.value.message()


def test_tritonclient_is_told_what_the_server_does_not_have(served: tuple[Server, Any]) -> None:
    server, _ = served
    frame = applicants(3, seed=4)
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    shared = tensors(frame, binary=False)
    shared[0].set_shared_memory("region0", 24)
    with pytest.raises(triton_utils.InferenceServerException) as refused:
        client.infer("applicants", shared)
    assert refused.value.status() == "400"
    assert "shared memory extension" in refused.value.message()
    with pytest.raises(triton_utils.InferenceServerException) as unknown:
        client.infer("applicants", tensors(frame, binary=False), model_version="3")
    assert unknown.value.status() == "404"
    assert "version '3'" in unknown.value.message()
    with pytest.raises(triton_utils.InferenceServerException) as bad:
        client.infer("applicants", tensors(frame.with_columns(age=pl.lit(7)), binary=True))
    assert bad.value.status() == "422"
    assert "age" in bad.value.message()


def test_mlflow_scoring_client_waits_pings_and_invokes(served: tuple[Server, Any]) -> None:
    """MLflow's own client for ``mlflow models serve``: ``wait_server_ready`` polls
    ``/ping``, ``get_version`` reads ``/version``, ``invoke`` posts scoring JSON."""
    client_module = pytest.importorskip("mlflow.pyfunc.scoring_server.client")
    server, model = served
    frame = applicants(30, seed=5)
    client = client_module.ScoringServerClient("127.0.0.1", server.port)
    client.wait_server_ready(timeout=30, scoring_server_proc=server.process)
    assert client.get_version() == keel.__version__
    data = frame.with_columns(pl.col("amount").cast(pl.Float64)).to_pandas()
    answer = client.invoke(data)
    predictions = answer.get_predictions(predictions_format="dataframe")
    assert predictions.iloc[:, 0].tolist() == model.predict(frame).tolist()


def test_mlflow_health_routes_answer_as_mlflow_s(served: tuple[Server, Any]) -> None:
    requests = pytest.importorskip("requests")
    server, _ = served
    for path in ("/ping", "/health"):
        answer = requests.get(server.base + path, timeout=10)
        assert (answer.status_code, answer.text) == (200, "\n")
    version = requests.get(server.base + "/version", timeout=10)
    assert (version.status_code, version.text) == (200, keel.__version__)


def test_a_body_without_a_json_type_is_read_as_json(served: tuple[Server, Any]) -> None:
    """The README's ``curl -d '{...}'`` sends application/x-www-form-urlencoded; other
    clients send no content type at all. Both are read as JSON."""
    requests = pytest.importorskip("requests")
    server, model = served
    row = {"age": 41, "income": 52000.0, "member": True, "city": "2", "tier": "1", "amount": 3.5}
    frame = pl.DataFrame([row]).with_columns(pl.col("amount").cast(pl.Decimal(38, 9)))
    body = json.dumps(row).encode()
    curl = requests.post(
        server.base + "/predict",
        data=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    bare = requests.post(server.base + "/predict", data=body)
    assert "content-type" not in bare.request.headers
    for answer in (curl, bare):
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == model.predict(frame).tolist()
