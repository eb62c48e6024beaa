"""Request bodies of the three prediction protocols, as records; outputs as their replies.

- ``POST /predict``: one JSON object (one record) or an array of objects.
- ``POST /invocations``: MLflow's scoring JSON (``dataframe_split``, ``dataframe_records``,
  ``instances``, ``inputs``) or CSV with a header row, as ``mlflow models serve`` takes.
- ``POST /v2/models/{name}/infer``: the Open Inference Protocol v2, one tensor per input
  column (shape ``[N]`` or ``[N, 1]``), or one tensor of shape ``[N, F]`` holding the
  columns in contract order.

Shape problems raise :class:`ShapeError` (answered 422 with per-field errors).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ShapeError",
    "csv_records",
    "mlflow_records",
    "predict_records",
    "v2_outputs",
    "v2_records",
]

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_V2_TYPES = {"BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_V2_TYPES |= {"FP16", "FP32", "FP64", "BYTES"}


class ShapeError(Exception):
    """The body is JSON, but not in the shape the endpoint takes."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def predict_records(body: Any) -> list[Any]:
    """``/predict``: an object is one record, an array is many."""
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        if not body:
            raise ShapeError("the array holds no records")
        return body
    raise ShapeError("expected a JSON object (one record) or an array of objects")


def mlflow_records(body: Any, columns: Sequence[str]) -> list[Any]:
    """``/invocations``: the records of MLflow's scoring JSON."""
    if not isinstance(body, dict):
        raise ShapeError(f"expected a JSON object with one of the keys {', '.join(MLFLOW_KEYS)}")
    found = [k for k in MLFLOW_KEYS if k in body]
    if len(found) != 1:
        raise ShapeError(f"expected exactly one of the keys {', '.join(MLFLOW_KEYS)}")
    key = found[0]
    value = body[key]
    if key == "dataframe_split":
        return _split(value)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise ShapeError("dataframe_records must be an array of objects", key)
        return _nonempty(value, key)
    if isinstance(value, dict):  # {"inputs": {"col": [values...]}}: columns of values
        return _columnar(value, key)
    if not isinstance(value, list):
        raise ShapeError(f"{key} must be an array of records or an object of columns", key)
    value = _nonempty(value, key)
    if isinstance(value[0], list):
        return [_positional(row, columns, f"{key}[{i}]") for i, row in enumerate(value)]
    return value


def csv_records(text: str) -> list[Any]:
    """``/invocations`` with ``text/csv``: a header row, then one record per line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    records: list[Any] = []
    try:
        for row in reader:
            records.append({k: _number(v) for k, v in row.items() if isinstance(v, str | None)})
    except csv.Error as exc:
        raise ShapeError(f"the CSV cannot be read: {exc}") from None
    return _nonempty(records, None)


def v2_records(body: Any, columns: Sequence[str]) -> tuple[list[Any], Any]:
    """``/v2/.../infer``: the records of an inference request, and its ``id``."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ShapeError("expected an object with 'inputs': an array of tensors", "inputs")
    tensors = body["inputs"]
    if not tensors:
        raise ShapeError("'inputs' holds no tensors", "inputs")
    request_id = body.get("id")
    for i, tensor in enumerate(tensors):
        _check_tensor(tensor, i)
    named = {t["name"]: t for t in tensors}
    if len(tensors) == 1 and tensors[0]["name"] not in columns:
        tensor = tensors[0]
        shape = tensor["shape"]
        if len(shape) != 2 or shape[1] != len(columns):
            raise ShapeError(
                f"a single tensor must have shape [N, {len(columns)}] (the columns "
                f"{', '.join(columns)} in this order), got {shape}",
                "inputs[0].shape",
            )
        flat = _flatten(tensor["data"])
        width = len(columns)
        if len(flat) != shape[0] * width:
            raise ShapeError(f"data holds {len(flat)} values, shape says {shape}", "inputs[0].data")
        rows = [flat[r * width : (r + 1) * width] for r in range(shape[0])]
        return [dict(zip(columns, row, strict=True)) for row in rows] if rows else [], request_id
    data: dict[str, list[Any]] = {}
    for name, tensor in named.items():
        data[name] = _flatten(tensor["data"])
        if len(data[name]) != tensor["shape"][0]:
            raise ShapeError(
                f"tensor {name!r} holds {len(data[name])} values, its shape says "
                f"{tensor['shape'][0]} rows",
                f"inputs.{name}",
            )
    return _columnar(data, "inputs"), request_id


def v2_outputs(
    predictions: list[Any], probabilities: list[list[float]] | None, datatypes: dict[str, str]
) -> list[dict[str, Any]]:
    """The ``outputs`` tensors of an inference response: ``predict`` and, for classifiers,
    ``predict_proba``, each of the datatype ``datatypes`` gives it (learned from the values
    when it gives none, and then kept there, so that every later answer says the same)."""
    outputs = [_tensor("predict", predictions, datatypes)]
    if probabilities is not None:
        outputs.append(_tensor("predict_proba", probabilities, datatypes))
    return outputs


def _tensor(name: str, values: list[Any], datatypes: dict[str, str]) -> dict[str, Any]:
    shape = [len(values)]
    if values and isinstance(values[0], list):  # one row of values per record
        shape.append(len(values[0]))
        values = [v for row in values for v in row]
    datatype = datatypes.get(name)
    if datatype is None:
        datatype = datatypes[name] = _datatype(values)
    if datatype == "BYTES":  # text, as the protocol's JSON carries BYTES
        values = [v if isinstance(v, str) else str(v) for v in values]
    return {"name": name, "shape": shape, "datatype": datatype, "data": values}


def _check_tensor(tensor: Any, i: int) -> None:
    where = f"inputs[{i}]"
    if not isinstance(tensor, dict):
        raise ShapeError("a tensor must be an object with name, shape, datatype and data", where)
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str):
        raise ShapeError("a tensor needs a 'name' (string)", f"{where}.name")
    if (
        not isinstance(shape, list)
        or not shape
        or len(shape) > 2
        or not all(type(d) is int and d >= 0 for d in shape)
        or (len(shape) == 2 and shape[1] < 1)
    ):
        raise ShapeError(
            "'shape' must be [N] or [N, K] with non-negative integers", f"{where}.shape"
        )
    if datatype not in _V2_TYPES:
        raise ShapeError(f"'datatype' must be one of {', '.join(sorted(_V2_TYPES))}", where)
    if not isinstance(tensor.get("data"), list):
        raise ShapeError("'data' must be an array", f"{where}.data")


def _flatten(data: list[Any]) -> list[Any]:
    if data and isinstance(data[0], list):
        return [v for row in data for v in (row if isinstance(row, list) else [row])]
    return data


def _split(value: Any) -> list[Any]:
    key = "dataframe_split"
    if not isinstance(value, dict):
        raise ShapeError("dataframe_split must be an object with columns and data", key)
    columns, data = value.get("columns"), value.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ShapeError("dataframe_split.columns must be an array of column names", key)
    if not isinstance(data, list):
        raise ShapeError("dataframe_split.data must be an array of rows", key)
    return _nonempty(
        [_positional(row, columns, f"{key}.data[{i}]") for i, row in enumerate(data)], key
    )


def _positional(row: Any, columns: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(row, list) or len(row) != len(columns):
        raise ShapeError(f"{where} must be an array of {len(columns)} values", where)
    return dict(zip(columns, row, strict=True))


def _columnar(value: dict[str, Any], key: str) -> list[Any]:
    lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
    if not value or -1 in lengths or len(lengths) != 1:
        raise ShapeError(f"{key} columns must be arrays of one common length", key)
    names = list(value)
    return _nonempty(
        [dict(zip(names, row, strict=True)) for row in zip(*value.values(), strict=True)], key
    )


def _nonempty(records: list[Any], key: str | None) -> list[Any]:
    if not records:
        raise ShapeError("the request holds no records", key)
    return records


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    return text


def _datatype(values: list[Any]) -> str:
    if values and all(type(v) is bool for v in values):
        return "BOOL"
    if values and all(type(v) is int for v in values):
        return "INT64"
    if values and all(type(v) in (int, float) for v in values):
        return "FP64"
    return "BYTES"
