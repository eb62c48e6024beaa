"""The Open Inference Protocol v2 (KServe v2, Triton's HTTP API) around the JSON tensors
that :func:`keel.serve._formats.v2_records` reads: datatypes, model metadata, the outputs a
request asks for, and the binary tensor data extension.

- **Datatypes.** An input column's datatype follows the contract's type (``int`` INT64,
  ``float`` and ``decimal`` FP64, ``bool`` BOOL; text, categories, dates and datetimes
  BYTES, as ISO 8601 text). An output's is the numpy dtype the model returned when it was
  loaded (warm-up), so the metadata says what every response sends.
- **Outputs.** ``predict`` (shape ``[N]``) and, for classifiers, ``predict_proba``
  (``[N, classes]``). A request's ``outputs`` selects among them; naming another is a 400.
- **Binary tensor data** (Triton's ``binary_tensor_data`` extension, which
  ``tritonclient`` uses by default): with an ``Inference-Header-Content-Length`` header the
  body is that many bytes of JSON followed by the inputs whose ``parameters`` give a
  ``binary_data_size``, in order: little-endian values, or for BYTES each element as a
  4-byte little-endian length and its UTF-8 bytes. Outputs are sent the same way when the
  request's ``binary_data_output`` parameter or the output's ``binary_data`` parameter is
  true. The shared memory and classification extensions are refused with a 400 naming them.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.serve._http import RequestError, parse_json

if TYPE_CHECKING:
    from keel.contracts import Contract

__all__ = [
    "EXTENSIONS",
    "HEADER_LENGTH",
    "Requested",
    "datatype_of",
    "decompress",
    "encode_outputs",
    "input_metadata",
    "read_infer_body",
    "requested_outputs",
]

EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = b"inference-header-content-length"

_NUMPY = {
    "BOOL": np.dtype(bool),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_BY_NUMPY = {dtype.newbyteorder("="): name for name, dtype in _NUMPY.items()}
_CONTRACT_TYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "decimal": "FP64"}


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The datatype of values of numpy ``dtype``: BYTES for anything not a number or bool."""
    return _BY_NUMPY.get(dtype.newbyteorder("="), "BYTES")


def input_metadata(contract: Contract | None) -> list[dict[str, Any]]:
    """One tensor per input column, with the datatype its values are sent as."""
    columns = contract.columns if contract is not None else ()
    return [
        {"name": c.name, "datatype": _CONTRACT_TYPES.get(c.dtype.value, "BYTES"), "shape": [-1]}
        for c in columns
    ]


# -- requests -----------------------------------------------------------------------------------


def decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    """A ``Content-Encoding: gzip`` or ``deflate`` body (tritonclient's request
    compression), refused with 413 once it inflates past ``limit``."""
    if encoding not in ("gzip", "deflate"):
        raise RequestError(
            415,
            "unsupported_encoding",
            f"the body is {encoding}-encoded; send it as is, gzip or deflate",
        )
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # either header, told apart
    try:
        out = inflate.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise _bad(f"the {encoding} body cannot be inflated: {exc}") from None
    if len(out) > limit or inflate.unconsumed_tail:
        raise RequestError(413, "body_too_large", f"the body inflates to more than {limit} bytes")
    return out


def read_infer_body(raw: bytes, header_length: str | None) -> Any:
    """The inference request in ``raw``: JSON, or with ``header_length`` (the
    ``Inference-Header-Content-Length`` header) a JSON header followed by binary tensors,
    whose values are put into their tensors' ``data``."""
    if header_length is None:
        body = parse_json(raw)
        tail = b""
    else:
        size = header_length.strip()
        if not size.isdigit() or int(size) > len(raw):
            raise _bad(
                f"Inference-Header-Content-Length is {header_length!r}, but the body holds "
                f"{len(raw)} bytes: it must be the length of the JSON header that begins it"
            )
        body = parse_json(raw[: int(size)])
        tail = raw[int(size) :]
    if isinstance(body, dict):
        _refuse_extensions(body)
        if isinstance(body.get("inputs"), list):
            _fill_binary(body["inputs"], tail, binary=header_length is not None)
    if tail and not (isinstance(body, dict) and isinstance(body.get("inputs"), list)):
        raise _bad("the body has binary data but no 'inputs' that take it")
    return body


def _fill_binary(tensors: list[Any], tail: bytes, *, binary: bool) -> None:
    offset = 0
    for i, tensor in enumerate(tensors):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        name = tensor.get("name", f"inputs[{i}]")
        size = parameters["binary_data_size"]
        if not binary:
            raise _bad(
                f"input {name!r} has a binary_data_size, but the request has no "
                "Inference-Header-Content-Length header: send the header with the length of "
                "the JSON part (binary tensor data extension)"
            )
        if type(size) is not int or size < 0 or offset + size > len(tail):
            raise _bad(
                f"input {name!r} has binary_data_size {size!r}, but {len(tail) - offset} "
                "bytes of binary data are left after the JSON header"
            )
        tensor["data"] = _decode(tensor, name, tail[offset : offset + size])
        offset += size
    if offset != len(tail):
        raise _bad(
            f"the body has {len(tail) - offset} bytes of binary data that no input's "
            "binary_data_size accounts for"
        )


def _decode(tensor: dict[str, Any], name: str, chunk: bytes) -> list[Any]:
    """The values of a binary tensor, as JSON would have held them."""
    datatype = tensor.get("datatype")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _bad(f"input {name!r} needs a shape of non-negative integers to read its data")
    count = math.prod(shape)
    if datatype == "BYTES":
        values = _decode_bytes(chunk, name)
    elif datatype in _NUMPY:
        dtype = _NUMPY[datatype]
        if len(chunk) != count * dtype.itemsize:
            raise _bad(
                f"input {name!r} ({datatype}, shape {shape}) needs {count * dtype.itemsize} "
                f"bytes of binary data, got {len(chunk)}"
            )
        values = np.frombuffer(chunk, dtype=dtype).tolist()
    else:
        raise _bad(
            f"input {name!r} has datatype {datatype!r}, which binary data cannot carry here; "
            f"use one of {', '.join([*_NUMPY, 'BYTES'])}"
        )
    if len(values) != count:
        raise _bad(f"input {name!r} (shape {shape}) holds {len(values)} values in binary data")
    return values


def _decode_bytes(chunk: bytes, name: str) -> list[Any]:
    values: list[Any] = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise _bad(f"input {name!r}: a BYTES element's 4-byte length is cut short")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise _bad(f"input {name!r}: a BYTES element runs past the binary data")
        try:
            values.append(chunk[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise _bad(f"input {name!r}: BYTES elements must be UTF-8 text") from None
        offset += length
    return values


def _refuse_extensions(body: dict[str, Any]) -> None:
    """A 400 for what a request may ask of extensions this server does not have."""
    for key in ("inputs", "outputs"):
        tensors = body.get(key)
        for tensor in tensors if isinstance(tensors, list) else ():
            parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
            if not isinstance(parameters, dict):
                continue
            if any(p.startswith("shared_memory") for p in parameters):
                raise _bad(
                    f"{key} {tensor.get('name')!r} names a shared memory region: this server "
                    "does not have the shared memory extension; send the data in the request"
                )
            if key == "outputs" and "classification" in parameters:
                raise _bad(
                    f"output {tensor.get('name')!r} asks for the classification extension, "
                    "which this server does not have; ask for the predict_proba output instead"
                )


@dataclass(frozen=True)
class Requested:
    """The outputs an inference request asks for, and which of them go as binary data."""

    names: tuple[str, ...]
    binary: frozenset[str]


def requested_outputs(body: Any, available: Sequence[str]) -> Requested:
    """Which of the model's outputs (``available``) ``body`` asks for: those its ``outputs``
    name, else all of them; a name the model does not have is a 400."""
    parameters = body.get("parameters") if isinstance(body, dict) else None
    binary_all = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked = body.get("outputs") if isinstance(body, dict) else None
    if asked is None:
        return Requested(tuple(available), frozenset(available if binary_all else ()))
    if not isinstance(asked, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked
    ):
        raise _bad("'outputs' must be an array of objects with a 'name'")
    names: list[str] = []
    binary: set[str] = set()
    for output in asked:
        name = output["name"]
        if name not in available:
            raise RequestError(
                400,
                "unknown_output",
                f"the request asks for output {name!r}, which the model does not have; "
                f"its outputs are {', '.join(available)}",
            )
        if name not in names:
            names.append(name)
        given = output.get("parameters")
        wants = given.get("binary_data") if isinstance(given, dict) else None
        if wants is True or (wants is None and binary_all):
            binary.add(name)
    return Requested(tuple(names), frozenset(binary))


# -- responses ----------------------------------------------------------------------------------


def encode_outputs(
    tensors: list[dict[str, Any]], requested: Requested
) -> tuple[list[dict[str, Any]], bytes]:
    """The requested ``tensors`` (name, datatype, shape, flat data), and the binary data that
    follows the JSON for those asked as binary (empty when none is)."""
    chosen = {t["name"]: t for t in tensors}
    out: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for name in requested.names:
        tensor = chosen.get(name)
        if tensor is None:  # asked of the champion, answered by a challenger without it
            continue
        if name not in requested.binary:
            out.append(tensor)
            continue
        raw = _encode(tensor["data"], tensor["datatype"])
        parts.append(raw)
        out.append(
            {
                "name": name,
                "datatype": tensor["datatype"],
                "shape": tensor["shape"],
                "parameters": {"binary_data_size": len(raw)},
            }
        )
    return out, b"".join(parts)


def _encode(values: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        encoded = [str(v).encode("utf-8") for v in values]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    return np.asarray(values, dtype=_NUMPY[datatype]).tobytes()


def _bad(message: str) -> RequestError:
    return RequestError(400, "malformed_body", message)
