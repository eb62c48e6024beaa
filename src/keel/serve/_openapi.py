"""The OpenAPI document of a served model, its request and response schemas taken from the
model's contracts: one record is the input contract's JSON Schema
(:func:`keel.contracts.to_json_schema`), a prediction is one of the model's classes or a
number. The schemas go in as ``openapi_extra`` per route, since the handlers read raw bodies
(no pydantic models on the request path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel.contracts import to_json_schema
from keel.serve._feedback import MAX_LABEL_CHARS, MAX_LABELS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from keel.serve._served import ServedModel

__all__ = ["openapi_document", "route_docs"]

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _reply("The body is not valid JSON.", _ref("Error")),
    "413": _reply("The body is larger than the server's limit.", _ref("Error")),
    "415": _reply("The body is not JSON.", _ref("Error")),
    "422": _reply("The input breaks the model's contract (per-field errors).", _ref("Error")),
    "500": _reply("The model failed to predict this request.", _ref("Error")),
    "503": _reply("The online feature store cannot answer (feature services).", _ref("Error")),
    "504": _reply("The request took longer than the server's timeout.", _ref("Error")),
}


def route_docs(served: ServedModel) -> dict[str, dict[str, Any]]:
    """``openapi_extra`` for each route that reads a body."""
    records = {"type": "array", "items": _ref("Record"), "minItems": 1}
    predict = {
        "requestBody": _json_body({"oneOf": [_ref("Record"), records]}),
        "responses": {"200": _reply("The predictions.", _ref("PredictResponse")), **_ERRORS},
    }
    invocations = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref("MLflowScoringRequest")},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": _reply(
                "The predictions, as mlflow models serve answers.",
                {
                    "type": "object",
                    "properties": {"predictions": {"type": "array", "items": _ref("Prediction")}},
                    "required": ["predictions"],
                },
            ),
            **_ERRORS,
        },
    }
    infer = {
        "requestBody": _json_body(_ref("InferenceRequest")),
        "responses": {
            "200": _reply("The inference response.", _ref("InferenceResponse")),
            "404": _reply("The server serves another model.", _ref("Error")),
            **_ERRORS,
        },
    }
    feedback = {
        "requestBody": _json_body(_ref("Feedback")),
        "responses": {
            "202": _reply(
                "The labels were accepted.",
                {
                    "type": "object",
                    "properties": {
                        "request_id": {"type": "string"},
                        "accepted": {"type": "integer"},
                    },
                },
            ),
            "401": _reply("A feedback token is configured and none was sent.", _ref("Error")),
            "403": _reply("The feedback token is not valid.", _ref("Error")),
            "404": _reply(
                "The server answered no such request within feedback.window.", _ref("Error")
            ),
            "409": _reply("The request already has feedback.", _ref("Error")),
            **{k: v for k, v in _ERRORS.items() if k in ("400", "413", "415", "422")},
        },
        "security": [{}, {"bearer": []}],  # the token is needed once one is configured
    }
    admin = {
        "requestBody": _json_body(
            {"type": "object", "properties": {"reason": {"type": "string"}}}, required=False
        ),
        "security": [{"bearer": []}],
        "responses": {
            "200": _reply("The aliases after the move.", {"type": "object"}),
            "401": _reply("No valid bearer token.", _ref("Error")),
            "403": _reply("Admin endpoints are disabled (no token configured).", _ref("Error")),
            "409": _reply("The aliases cannot move that way.", _ref("Error")),
        },
    }
    return {
        "predict": predict,
        "invocations": invocations,
        "infer": infer,
        "feedback": feedback,
        "admin": admin,
    }


def openapi_document(app: FastAPI, served: ServedModel) -> dict[str, Any]:
    """FastAPI's document of the routes, with the schemas of ``served``'s contracts."""
    from fastapi.openapi.utils import get_openapi

    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(_schemas(served))
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document


def _schemas(served: ServedModel) -> dict[str, Any]:
    contract = served.model.input_contract
    if served.features is not None:  # keys and request fields: the features are looked up
        record = served.features.record_schema()
    elif contract is not None:
        record = to_json_schema(contract)
        record.pop("$schema", None)
    else:
        record = {"type": "object", "description": "The model has no input contract."}
    prediction: dict[str, Any]
    if served.classes is not None:
        prediction = {"enum": list(served.classes)}
    else:
        prediction = {"type": "number"}
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    label = {
        "anyOf": [
            {"type": "string", "maxLength": MAX_LABEL_CHARS},
            {"type": ["number", "boolean", "null"]},
        ]
    }
    predict_response: dict[str, Any] = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "predictions": {"type": "array", "items": _ref("Prediction")},
        },
        "required": ["request_id", "model", "version", "predictions"],
    }
    if served.classes is not None:
        predict_response["properties"]["probabilities"] = {
            "type": "array",
            "description": f"per record, the probability of each class in {served.classes}",
            "items": {"type": "array", "items": probability},
        }
    row = {"type": "array", "items": {}}
    mlflow = {
        "type": "object",
        "description": "One of dataframe_split, dataframe_records, instances or inputs.",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": row},
                },
                "required": ["columns", "data"],
            },
            "dataframe_records": {"type": "array", "items": _ref("Record"), "minItems": 1},
            "instances": {"type": "array", "items": _ref("Record"), "minItems": 1},
            "inputs": {"type": "object", "additionalProperties": {"type": "array"}},
        },
        "minProperties": 1,
        "maxProperties": 1,
    }
    tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string"},
            "data": {"type": "array"},
        },
        "required": ["name", "shape", "datatype", "data"],
    }
    return {
        "Record": record,
        "Prediction": prediction,
        "PredictResponse": predict_response,
        "MLflowScoringRequest": mlflow,
        "InferenceRequest": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "inputs": {"type": "array", "items": _ref("Tensor"), "minItems": 1},
            },
            "required": ["inputs"],
        },
        "InferenceResponse": {
            "type": "object",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": _ref("Tensor")},
            },
            "required": ["model_name", "outputs"],
        },
        "Tensor": tensor,
        "Feedback": {
            "type": "object",
            "description": "Give label (for every record of the request) or labels (one per "
            "record, in request order).",
            "properties": {
                "request_id": {"type": "string", "minLength": 1, "maxLength": 200},
                "label": label,
                "labels": {
                    "type": "array",
                    "items": label,
                    "minItems": 1,
                    "maxItems": MAX_LABELS,
                },
            },
            "required": ["request_id"],
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "code": {"type": "string"},
                "request_id": {"type": ["string", "null"]},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "row": {"type": ["integer", "null"]},
                            "field": {"type": ["string", "null"]},
                            "error": {"type": "string"},
                        },
                    },
                },
            },
            "required": ["error", "code"],
        },
    }
