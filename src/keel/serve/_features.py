"""Online feature lookup for a served version trained on a feature service.

A version registered with ``feature_service=`` (:func:`keel.registry.feature_snapshot`) is
served from entity keys and request fields: each record carries the service's join keys and
the request fields its derived features read, never the features. The snapshot stored with
the version is resolved against the feature definitions as they are at start (the same
views, features and derived features by name; a view that no longer exists stops the start
with the view named), and every request looks the features up in the online store
(``[features] online``) with :func:`keel.features.get_online`, the TTL applied at the
lookup time. The assembled vector (the model's input columns) then goes through the input
contract like any request; an expired or missing value is null, and the contract decides
whether a null is a violation.

The store unreachable, or a view not (or no longer) materialized, makes the server not
ready (the readiness routes say why) and each lookup a 503 ``features_unavailable``; never a
stale or silently null answer. A prediction's log row holds the keys, the request fields,
the assembled features and ``feature_status`` (:mod:`keel.monitor._predlog`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from keel.contracts import DType
from keel.errors import (
    InputError,
    KeelError,
    UsageError,
    did_you_mean,
    missing_field_note,
    unknown_field_note,
)
from keel.features import (
    FEATURE_STATUS_COLUMN,
    Definitions,
    OnlineStore,
    OnlineStoreUnavailableError,
    get_online,
    load_definitions,
    open_online_store,
    service_plan,
)
from keel.registry import FeatureServiceSnapshot
from keel.serve._http import RequestError
from keel.tracking import Project

__all__ = ["STATUS_COLUMN", "FeatureLookup", "Looked"]

STATUS_COLUMN = FEATURE_STATUS_COLUMN  # the column skew reads (keel.features.skew_of)
_STATUS = {"found": "ok", "expired": "expired", "missing": "missing"}
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "decimal": {"type": "number"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}
_V2_TYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "decimal": "FP64"}


class Looked:
    """One request's lookup: the model's records and what the log keeps beside them."""

    __slots__ = ("extras", "records", "statuses", "time", "violations")

    def __init__(
        self,
        records: list[dict[str, Any]],
        extras: list[list[Any]],
        statuses: list[str],
        time: float,
        violations: list[str | None] | None = None,
    ) -> None:
        self.records = records
        self.extras = extras
        self.statuses = statuses
        self.time = time
        self.violations = violations
        """Per record, the unknown fields let through (``warn`` mode), or None: none."""


class FeatureLookup:
    """The online features of one served version (see the module's docstring)."""

    def __init__(
        self,
        snapshot: FeatureServiceSnapshot,
        project: Project,
        *,
        model: str,
        columns: Sequence[str],
        definitions: Definitions | None = None,
        mode: str = "reject",
    ) -> None:
        self.snapshot = snapshot
        self.model = model
        self.mode = mode
        """``reject``: a field other than the keys and request fields is refused (422);
        ``warn``: it is ignored and recorded in the prediction log's ``violations``."""
        if definitions is None:
            definitions = _definitions(project, snapshot, model)
        self.definitions: Definitions = definitions
        self.plan = service_plan(snapshot.to_dict(), definitions)
        self.keys = tuple(snapshot.entity_keys)
        self.fields = tuple(f for f in snapshot.request_fields if f not in self.keys)
        self.request_columns = (*self.keys, *self.fields)
        """What a request carries, in the order positional formats (MLflow, OIP) use."""
        features = set(self.plan.columns)
        self.logged = tuple(c for c in self.request_columns if c not in columns)
        """The request's columns logged before the model's (those it does not take)."""
        known = features | set(self.request_columns)
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise UsageError(
                f"model {model!r} takes input column(s) {', '.join(unknown)}, which feature "
                f"service {snapshot.service!r} does not give (it gives "
                f"{', '.join(self.plan.columns)}).",
                hint="Register the model with the contract of the service's features. "
                + did_you_mean(unknown[0], known),
            )
        self.columns = tuple(columns)
        self._views = [
            (part.view.name, tuple(out for _, out in part.columns)) for part in self.plan.views
        ]
        self._derived = tuple(d.name for d in self.plan.derived)
        self._sent_features = frozenset(features) - set(self.request_columns)
        """Features a request may not send (they would be replaced by the looked-up value)."""
        self.log_types: dict[str, DType] = {
            **{k: DType(t) for k, t in snapshot.entity_keys.items()},
            **{f: DType(snapshot.request_fields[f]) for f in self.fields},
            STATUS_COLUMN: DType.STR,
        }
        self._config = project.config
        self._lock = threading.Lock()
        self._store: OnlineStore | None = None
        url = project.config.features_online.strip()
        self.remote = bool(url) and not url.startswith("sqlite:")
        """A lookup crosses the network: done off the event loop."""
        self.problem: str | None = None
        self.check()

    # -- the store --------------------------------------------------------------------------
    def store(self) -> OnlineStore:
        found = self._store
        if found is not None:
            return found
        with self._lock:
            if self._store is None:
                self._store = open_online_store(self._config)
            return self._store

    def check(self) -> str | None:
        """Why lookups cannot be served now (the store unreachable, a view not materialized
        or materialized with other features), or None; remembered as :attr:`problem`."""
        try:
            store = self.store()
            for part in self.plan.views:
                view = part.view
                meta = store.materialization(view.name)
                if meta is None:
                    raise UsageError(
                        f"feature view {view.name!r} has not been materialized into the "
                        f"online store {store.url}: run keel features materialize {view.name}"
                    )
                if meta.features != view.features:
                    raise UsageError(
                        f"feature view {view.name!r} changed since it was materialized into "
                        f"{store.url}: run keel features materialize {view.name}"
                    )
            # one read that reaches the store (the records above may come from a cache)
            store.read_views([(part.view.name, ["{}"]) for part in self.plan.views])
        except KeelError as exc:
            self.problem = exc.message
        else:
            self.problem = None
        return self.problem

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- lookups ----------------------------------------------------------------------------
    def lookup(self, records: list[Any]) -> Looked:
        """The model's records for a request's ``records`` (keys and request fields): a
        RequestError 422 for a record without them, 503 when the store cannot answer."""
        violations = self._check_records(records)
        moment = dt.datetime.now(dt.UTC)
        try:
            found = get_online(
                records, self.plan, definitions=self.definitions, now=moment, store=self.store()
            )
        except OnlineStoreUnavailableError as exc:
            self.problem = exc.message
            raise RequestError(503, "features_unavailable", exc.message, hint=exc.hint) from None
        except InputError as exc:
            raise RequestError(
                422,
                "invalid_input",
                exc.message,
                hint=exc.hint,
                errors=[{"row": None, "field": None, "error": exc.message}],
            ) from None
        except UsageError as exc:  # a view not materialized, or changed since
            self.problem = exc.message
            raise RequestError(503, "features_unavailable", exc.message, hint=exc.hint) from None
        except Exception as exc:  # a derived feature's function refused a request field
            message = f"computing the derived features failed: {type(exc).__name__}: {exc}"
            raise RequestError(
                422,
                "invalid_input",
                message[:500],
                errors=[{"row": None, "field": None, "error": message[:500]}],
            ) from None
        self.problem = None  # the store answered
        looked = self._assemble(found.rows, found.status, moment.timestamp())
        looked.violations = violations
        return looked

    def _assemble(
        self,
        rows: Sequence[Mapping[str, Any]],
        status: Sequence[Mapping[str, str]],
        moment: float,
    ) -> Looked:
        columns, logged = self.columns, self.logged
        records = [{c: row.get(c) for c in columns} for row in rows]
        extras = [[row.get(c) for c in logged] for row in rows]
        statuses = []
        derived = dict.fromkeys(self._derived, "derived")
        for views in status:
            named: dict[str, str] = {}
            for view, outs in self._views:
                state = _STATUS[views[view]]
                for out in outs:
                    named[out] = state
            named.update(derived)
            statuses.append(orjson.dumps(named).decode())
        return Looked(records, extras, statuses, moment)

    def _check_records(self, records: list[Any]) -> list[str | None] | None:
        """Refuse records without their keys and request fields, with a feature (looked up,
        never taken), or (``reject`` mode) with a field the request does not carry; return
        the unknown fields let through in ``warn`` mode, per record (None: there are none)."""
        errors: list[dict[str, Any]] = []
        refused = self._sent_features
        required = self.request_columns
        allowed = frozenset(required) | refused
        warn = self.mode == "warn"
        violations: list[str | None] = []
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                errors.append(
                    {
                        "row": index,
                        "field": None,
                        "error": "a record is an object of entity keys and request fields",
                    }
                )
                violations.append(None)
                continue
            unknown = [str(n) for n in record if n not in allowed]
            for name in required:
                if name not in record:
                    error = "is required" + missing_field_note(name, unknown)
                    errors.append({"row": index, "field": name, "error": error})
            soft: list[str] = []
            for name in unknown:
                error = "unknown field" + unknown_field_note(name, required)
                if warn:
                    soft.append(f"{name}: {error}")
                else:
                    errors.append({"row": index, "field": name, "error": error})
            violations.append("; ".join(soft) if soft else None)
            for name in record:
                if name in refused:
                    errors.append(
                        {
                            "row": index,
                            "field": name,
                            "error": "a feature: looked up online, not taken from the request",
                        }
                    )
        if errors:
            first = errors[0]
            raise RequestError(
                422,
                "invalid_input",
                f"{len(errors)} problem(s) with the request to model {self.model}: row "
                f"{first['row']}, {first['field']}: {first['error']} (a request carries "
                f"{', '.join(self.request_columns)})",
                errors=errors[:100],
            )
        return violations if any(v is not None for v in violations) else None

    def record_schema(self) -> dict[str, Any]:
        """The JSON Schema of one request record: the keys and request fields, required."""
        types = {**self.snapshot.entity_keys, **self.snapshot.request_fields}
        return {
            "type": "object",
            "description": f"The entity keys and request fields of feature service "
            f"{self.snapshot.service!r}; its features are looked up online.",
            "properties": {
                c: _JSON_TYPES.get(types[c], {"type": "string"}) for c in self.request_columns
            },
            "required": list(self.request_columns),
        }

    def input_metadata(self) -> list[dict[str, Any]]:
        """The Open Inference Protocol inputs: the keys and request fields."""
        types = {**self.snapshot.entity_keys, **self.snapshot.request_fields}
        return [
            {"name": c, "datatype": _V2_TYPES.get(types[c], "BYTES"), "shape": [-1]}
            for c in self.request_columns
        ]


def _definitions(project: Project, snapshot: FeatureServiceSnapshot, model: str) -> Definitions:
    try:
        return load_definitions(start=project.config.root)
    except KeelError as exc:
        raise UsageError(
            f"model {model!r} was trained with feature service {snapshot.service!r}, but the "
            f"feature definitions cannot be read: {exc.message}",
            hint=exc.hint,
        ) from exc
