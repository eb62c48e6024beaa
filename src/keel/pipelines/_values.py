"""Step values in and out of the artifact store, by kind, with contract checks at the boundary.

Frames are stored as Parquet (Polars), JSON values as canonical JSON (sorted keys, so equal
values are equal bytes), files as their bytes, other objects pickled: the only pickles Keel
stores, unpickled only under :class:`~keel.store.ObjectTrust`'s rule. Every stored value is
named by its BLAKE3 digest, which is what downstream cache keys hash: a step whose inputs
are byte-identical to last time is a cache hit even when an upstream step re-ran.

Contract modes at a boundary: ``full`` runs every check of the contract in one pass;
``schema`` checks columns and types only (no scan of the values); ``off`` checks nothing.
"""

from __future__ import annotations

import io
import json
import pathlib
import pickle
from typing import Any

from keel.contracts import ColumnSpec, Contract, Frame, Report
from keel.errors import ContractError, UsageError
from keel.pipelines._step import Mode, Port
from keel.store import ArtifactStore, ObjectTrust, StepIO, safe_join

__all__ = ["check_frame", "load_value", "store_value"]


def check_frame(value: Any, port: Port, mode: Mode, *, where: str) -> Frame[Any]:
    """``value`` as a ``Frame`` of ``port``'s schema, checked as ``mode`` says."""
    schema = port.schema
    assert schema is not None
    if isinstance(value, Frame):
        if value.schema is schema and mode != "off":
            return value  # validated against this very schema when it was made
        value = value.native
    if mode == "off":
        return Frame(value, schema, Report(schema.__contract__.name, -1, ()))
    from keel.contracts import checked_data

    contract = schema.__contract__ if mode == "full" else _schema_only(schema.__contract__)
    try:
        report, native = checked_data(contract, value, examples=5)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(
            f"{where}: {type(value).__name__} is not data Keel can check: {exc}",
            hint="Return a Polars, pandas or PyArrow frame (or a keel.Frame).",
        ) from exc
    if not report.passed:
        raise ContractError(report, where=where)
    return Frame(native, schema, report)


def _schema_only(contract: Contract) -> Contract:
    columns = tuple(ColumnSpec(name=c.name, dtype=c.dtype, nullable=True) for c in contract.columns)
    return Contract(name=contract.name, columns=columns, strict=contract.strict)


def store_value(value: Any, port: Port, store: ArtifactStore, *, where: str) -> StepIO:
    """Store one output; return its record (kind, digest, size, and details for lineage)."""
    if port.kind == "frame":
        import polars as pl

        frame = value if isinstance(value, Frame) else None
        table = frame.to_polars() if frame is not None else pl.DataFrame(value)
        buffer = io.BytesIO()
        table.write_parquet(buffer, statistics=False)
        ref = store.put_bytes(buffer.getvalue())
        schema = {name: str(dtype) for name, dtype in table.schema.items()}
        contract = port.schema.__contract__.name if port.schema else None
        detail = {"rows": table.height, "schema": schema, "contract": contract}
        return StepIO(port.name, "frame", ref.digest, ref.size, detail)
    if port.kind == "file":
        path = pathlib.Path(value)
        if not path.is_file():
            raise UsageError(
                f"{where}: returned {str(path)!r}, which is not a file.",
                hint="A step annotated -> Path returns the path of a file it wrote.",
            )
        ref = store.put_file(path)
        return StepIO(port.name, "file", ref.digest, ref.size, {"filename": path.name})
    if port.kind == "json":
        try:
            data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"{where}: returned {type(value).__name__}, which is not JSON: {exc}.",
                hint=f"Return {port.describe()}, or annotate the output with its real type.",
            ) from exc
        ref = store.put_bytes(data)
        return StepIO(port.name, "json", ref.digest, ref.size, {})
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise UsageError(
            f"{where}: returned a {type(value).__name__} that cannot be pickled: {exc}.",
            hint="Return a picklable object (define its class at module level).",
        ) from exc
    ref = store.put_bytes(data)
    return StepIO(port.name, "object", ref.digest, ref.size, {"type": _type_name(value)})


def load_value(
    item: StepIO,
    port: Port,
    store: ArtifactStore,
    files: pathlib.Path,
    *,
    trust: ObjectTrust | None,
    where: str = "",
) -> Any:
    """The value of a stored output, as the consuming ``port`` wants it (verified on read).

    A pickled object is loaded only when ``trust`` allows it; ``trust=None`` says the caller
    has already checked it (the scheduler does, before it hands a digest to a worker).
    """
    if item.kind == "frame":
        import polars as pl

        return pl.read_parquet(io.BytesIO(store.get_bytes(item.digest)))
    if item.kind == "file":
        name = item.detail.get("filename") or "data"
        record = f"the metadata store's record of output {item.name!r} ({item.digest[:12]})"
        target = safe_join(
            files, f"{item.digest[:2]}/{item.digest}/{name}", where=record, what="store"
        )
        if not target.is_file():
            store.get_file(item.digest, target)
        return target
    if item.kind == "json":
        return json.loads(store.get_bytes(item.digest))
    if trust is not None:
        trust.check(item, where=where or f"output {item.name!r} ({item.digest[:12]})")
    return pickle.loads(store.get_bytes(item.digest))  # sealed by this project, or trusted


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"
