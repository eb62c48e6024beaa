"""``create_app``: the FastAPI app that serves a registered model.

The hot path avoids per-request framework work: handlers take the raw ``Request``, parse
the body once with orjson, check the records with the contract's record checker, compiled
at load time (:func:`keel.contracts.record_checker`), hand the rows to the micro-batcher
and answer with orjson. The OpenAPI document is written from the model's contract instead
of pydantic models (:mod:`keel.serve._openapi`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from keel._version import __version__
from keel.contracts import CheckedBatch
from keel.deploy import Controller, DeploySpec, Guardrails, Router, load_spec
from keel.errors import KeelError, UsageError
from keel.features import Definitions
from keel.registry import feature_snapshot, load, set_alias
from keel.registry import rollback as rollback_alias
from keel.serve._accesslog import flush_access_log
from keel.serve._batching import Batcher, Occupancy, Prediction
from keel.serve._features import STATUS_COLUMN, FeatureLookup, Looked
from keel.serve._feedback import FeedbackGate, require_token
from keel.serve._http import (
    RequestError,
    bearer_token,
    framework_error,
    problem_response,
    same_token,
    server_error,
)
from keel.serve._journal import JOURNAL_INTERVAL, journal_folder
from keel.serve._logwriter import LogWriter
from keel.serve._metrics import Metrics
from keel.serve._middleware import ServeMiddleware
from keel.serve._openapi import openapi_document
from keel.serve._routes import add_routes
from keel.serve._served import ServedModel
from keel.tracking import Project, open_project

__all__ = ["KeelServer", "create_app"]

logger = logging.getLogger("keel.serve")

DEFAULT_BODY_LIMIT = 1 << 20  # 1 MiB
DEFAULT_TIMEOUT = 30.0
ACCESS_FLUSH_INTERVAL = 0.5  # seconds an access log line waits at most while the server idles


@dataclass
class _Answer:
    served: ServedModel
    prediction: Prediction
    role: str


def create_app(
    name: str,
    *,
    project: Project | None = None,
    spec: DeploySpec | None = None,
    batching: bool = True,
    max_body_bytes: int = DEFAULT_BODY_LIMIT,
    request_timeout: float | None = DEFAULT_TIMEOUT,
    log_flush_interval: float | None = None,
    reload_interval: float | None = None,
    predict_in_thread: bool = False,
    trusted: bool = False,
    version: int | None = None,
    definitions: Definitions | None = None,
) -> FastAPI:
    """An ASGI app serving model ``name`` as ``deploy/NAME.yaml`` says (default: the
    ``champion`` alias alone).

    ``version`` (default: the ``KEEL_MODEL_VERSION`` variable, as the pods rendered by
    ``keel deploy render`` set it) pins one version: it is served alone, whatever the
    aliases say, and never reloaded.

    The champion is loaded now, so a missing alias or model fails here rather than at the
    first request. Background work (log flushes, alias polling for hot reload, the
    deployment controller) runs while the app's lifespan is active, as under uvicorn or
    ``with TestClient(app)``; the logs are flushed once more at shutdown.

    A version registered with a feature service is served from entity keys and request
    fields, its features looked up online (:mod:`keel.serve._features`); ``definitions``
    (default: the project's ``[features] definitions`` file) resolve its stored service.
    """
    project = project or open_project()
    spec, version = served_spec(name, project, spec=spec, version=version)
    server = KeelServer(
        name,
        project=project,
        spec=spec,
        batching=batching,
        max_body_bytes=max_body_bytes,
        log_flush_interval=log_flush_interval,
        reload_interval=reload_interval,
        predict_in_thread=predict_in_thread,
        trusted=trusted,
        pinned=version,
        definitions=definitions,
    )
    app = FastAPI(
        **_no_framework_telemetry(),
        title=f"Keel: {name}",
        version=__version__,
        description=f"Predictions of the registered model {name!r}, checked against its "
        "input contract.",
        lifespan=server.lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.keel = server
    direct = add_routes(app, server)
    app.add_exception_handler(RequestError, problem_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, framework_error)
    app.add_exception_handler(RequestValidationError, framework_error)
    app.add_exception_handler(Exception, server_error)
    framework_stack = app.build_middleware_stack

    def build_middleware_stack() -> Any:
        # outermost, so that the prediction routes it calls directly skip the framework's
        # middleware (error pages, body limit) as well as its routing; the framework's
        # error page for the other routes is Keel's JSON (``server_error``)
        return ServeMiddleware(
            framework_stack(),
            metrics=server.metrics,
            model=name,
            timeout=request_timeout,
            tracer=server.tracer,
            direct=direct,
        )

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, server.champion)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def served_spec(
    name: str, project: Project, *, spec: DeploySpec | None = None, version: int | None = None
) -> tuple[DeploySpec, int | None]:
    """What ``keel serve NAME`` serves: ``deploy/NAME.yaml`` (or ``spec``) and the pinned
    version (``version``, else ``KEEL_MODEL_VERSION``). A pinned version serves no rollout:
    the spec then has no challenger."""
    if spec is None:
        spec = load_spec(name, root=project.config.root)
    version = pinned_version() if version is None else version
    if version is not None:
        spec = dataclasses.replace(spec, challenger=None)
    return spec, version


def pinned_version() -> int | None:
    """The version ``KEEL_MODEL_VERSION`` pins, if set."""
    text = os.environ.get("KEEL_MODEL_VERSION", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(
            f"KEEL_MODEL_VERSION={text!r} is not a model version.",
            hint="Set it to a version number such as 3, or unset it to serve the aliases.",
        )
    return int(text)


class KeelServer:
    """The state behind the app: models per role, batchers, logs, metrics, deployment."""

    def __init__(
        self,
        name: str,
        *,
        project: Project,
        spec: DeploySpec,
        batching: bool,
        max_body_bytes: int,
        log_flush_interval: float | None,
        reload_interval: float | None,
        predict_in_thread: bool,
        trusted: bool,
        pinned: int | None = None,
        definitions: Definitions | None = None,
    ) -> None:
        require_token(spec)  # before loading anything: a rollout on feedback needs a token
        self.name = name
        self.pinned = pinned
        self.project = project
        self.spec = spec
        self.trusted = trusted
        self.definitions = definitions
        self.max_body_bytes = max_body_bytes
        self.flush_interval = (
            spec.log_flush_interval if log_flush_interval is None else log_flush_interval
        )
        self.reload_interval = spec.reload_interval if reload_interval is None else reload_interval
        self.metrics = Metrics()
        self.tracer = _tracer(project)
        self.models: dict[str, ServedModel] = {
            "champion": self._load(spec.champion) if pinned is None else self._load_version(pinned)
        }
        challenger = spec.challenger
        if challenger is not None:
            version = project.metadata.models.aliases(name).get(challenger.alias)
            if version is not None:
                self.models["challenger"] = self._load_version(version)
        self.writer = LogWriter(
            project.artifacts,
            name,
            self.champion.model.input_contract,
            journal=journal_folder(project.config.state_dir, name),
        )
        self.writer.recover()  # what a killed server left in the journal
        for served in self.models.values():
            self._set_log_columns(served)
        self.feedback_gate = FeedbackGate(spec, self.writer.predictions)
        self.occupancy = Occupancy()
        self.batchers = {
            role: Batcher(
                max_batch_size=spec.max_batch_size,
                max_wait_ms=spec.max_wait_ms,
                enabled=batching,
                in_thread=predict_in_thread,
                on_batch=self.metrics.batch_size.observe,
                occupancy=self.occupancy,
            )
            for role in ("champion", "challenger")
        }
        self.router: Router | None = None
        self.guardrails: Guardrails | None = None
        self.controller: Controller | None = None
        if challenger is not None:  # routing and guardrails compare two versions
            self.router = Router(spec)
            self.guardrails = Guardrails(spec)
            self.controller = Controller(project, spec, self.router, self.guardrails)
            try:
                self.controller.refresh()  # route by the rollout's state from the first request
            except Exception:
                logger.exception("reading the rollout state of %s failed", name)
        self._reload_now = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self.running = True

    @property
    def ready(self) -> bool:
        """Serving: not shutting down, and every online feature store answered last time."""
        return self.running and all(
            s.features is None or s.features.problem is None for s in self.models.values()
        )

    async def readiness(self) -> str | None:
        """Why the server is not ready now, or None; the online feature stores are asked
        again (a store that came back makes the server ready again)."""
        if not self.running:
            return "the server is shutting down"
        for served in list(self.models.values()):
            if served.features is not None:
                problem = await asyncio.to_thread(served.features.check)
                if problem is not None:
                    return f"the online features of {self.name}/{served.version}: {problem}"
        return None

    # -- models -----------------------------------------------------------------------------
    @property
    def champion(self) -> ServedModel:
        return self.models["champion"]

    def _load(self, alias: str) -> ServedModel:
        version = self.project.metadata.models.alias(self.name, alias).version
        return self._load_version(version)

    def _load_version(self, version: int) -> ServedModel:
        model = load(f"{self.name}/{version}", trusted=self.trusted, project=self.project)
        served = ServedModel(self.name, version, model, inputs_mode=self.spec.inputs_mode)
        snapshot = feature_snapshot(f"{self.name}/{version}", project=self.project)
        if snapshot is not None:
            served.use_features(
                FeatureLookup(
                    snapshot,
                    self.project,
                    model=self.name,
                    columns=served.columns,
                    definitions=self.definitions,
                    mode=self.spec.inputs_mode,
                )
            )
        served.warm_up()
        return served

    def _set_log_columns(self, served: ServedModel) -> None:
        lookup = served.features
        extra = None if lookup is None else lookup.log_types
        self.writer.set_contract(served.model.input_contract, extra=extra)

    async def reload(self) -> dict[str, int]:
        """Load the versions the aliases point at now (in a thread) and swap them in."""
        if self.pinned is not None:  # a pinned version ignores the aliases
            return {role: served.version for role, served in self.models.items()}
        aliases = await asyncio.to_thread(self.project.metadata.models.aliases, self.name)
        roles = {"champion": self.spec.champion}
        if self.spec.challenger is not None:
            roles["challenger"] = self.spec.challenger.alias
        for role, alias in roles.items():
            version = aliases.get(alias)
            current = self.models.get(role)
            if version is None:
                if role == "challenger" and current is not None:
                    del self.models[role]
                    logger.info("challenger alias %r removed: serving the champion alone", alias)
                continue
            if current is not None and current.version == version:
                continue
            served = await asyncio.to_thread(self._load_version, version)
            self._set_log_columns(served)
            self.models[role] = served  # in-flight batches keep the model they started with
            logger.info(
                "%s %s@%s now serves version %d (was %s)",
                role,
                self.name,
                alias,
                version,
                "none" if current is None else current.version,
            )
        return {role: served.version for role, served in self.models.items()}

    # -- lifespan ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        self._spawn(self._every(stop, self.flush_interval, self._flush_logs))
        self._spawn(self._every(stop, JOURNAL_INTERVAL, self._journal_logs))
        self._spawn(self._reload_loop(stop))
        self._spawn(self._every(stop, ACCESS_FLUSH_INTERVAL, self._flush_access_log))
        if self.controller is not None:
            self._spawn(self.controller.run(stop))
        if self.feedback_gate.token is None:
            logger.warning(
                "POST /feedback takes labels without a token: set %s to require one",
                self.spec.feedback_token_env,
            )
        try:
            yield
        finally:
            self.running = False
            stop.set()
            for batcher in self.batchers.values():
                await batcher.drain()
            await asyncio.gather(*self._background, return_exceptions=True)
            await asyncio.to_thread(self.flush)
            await asyncio.to_thread(self.writer.recover)
            flush_access_log()
            for served in self.models.values():
                if served.features is not None:
                    served.features.close()

    def flush(self) -> int:
        """Write the buffered prediction and feedback rows now; return prediction rows."""
        written = self.writer.flush()
        if written:
            self.metrics.logged.inc(written)
        return written

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _flush_logs(self) -> None:
        await asyncio.to_thread(self.flush)

    async def _journal_logs(self) -> None:
        await asyncio.to_thread(self.writer.journal)

    async def _flush_access_log(self) -> None:
        flush_access_log()

    async def _every(self, stop: asyncio.Event, seconds: float, work: Callable[[], Any]) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.01))
            if stop.is_set():
                return
            try:
                await work()
            except Exception:
                logger.exception("background work of %s failed", self.name)

    async def _reload_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            waits = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._reload_now.wait()),
            ]
            await asyncio.wait(
                waits, timeout=max(self.reload_interval, 0.01), return_when="FIRST_COMPLETED"
            )
            for waiting in waits:
                waiting.cancel()
            if stop.is_set():
                return
            self._reload_now.clear()
            try:
                await self.reload()
            except Exception:
                logger.exception("reloading %s failed; the served versions stay", self.name)

    # -- prediction -------------------------------------------------------------------------
    async def answer(
        self, request: Request, records: list[Any], route: str, *, role: str | None = None
    ) -> _Answer:
        """Check ``records``, predict them (batched), log them; raise RequestError if bad.

        ``role`` (a request that names a served version) predicts with that model instead of
        routing the request."""
        state = request.scope["state"]  # the dict the middleware reads back
        state["route"] = route
        key = self._key(request, records)
        challenger = self.models.get("challenger")
        if role is None:
            role = "champion"
            canary = challenger is not None and self.spec.challenger is not None
            canary = canary and self.spec.challenger.mode == "canary"  # type: ignore[union-attr]
            if canary and self.router is not None and self.router.assign(key) == "challenger":
                role = "challenger"
        served = self.models[role]
        state["version"] = served.version
        state["role"] = role
        looked = None
        if served.features is not None:
            looked = await _lookup(served.features, records)
            records = looked.records
        checked = served.checker.check(records)
        if checked.errors:
            raise RequestError(
                422,
                "invalid_input",
                _problems(checked.errors, self.name),
                errors=checked.errors[:100],
            )
        if looked is not None and looked.violations is not None:  # unknown fields (warn)
            checked.violations = _joined(looked.violations, checked.violations)
        request_id: str = state["request_id"]
        start = time.perf_counter()
        try:
            prediction = await self.batchers[role].predict(served, checked.values)
        except Exception as exc:
            self._observe(role, request_id, len(records), start, None)
            logger.warning("prediction failed for request %s: %s", request_id, exc)
            raise RequestError(
                500,
                "prediction_failed",
                f"model {self.name}/{served.version} failed to predict: "
                f"{type(exc).__name__}: {exc}"[:500],
            ) from None
        latency_ms = (time.perf_counter() - start) * 1000
        state["version"] = prediction.version
        self._log(
            request_id,
            served,
            prediction,
            checked,
            role=role,
            latency_ms=latency_ms,
            looked=looked,
        )
        self.feedback_gate.issued(request_id, len(records))
        self._observe(role, request_id, len(records), start, prediction.predictions)
        if (
            challenger is not None
            and role == "champion"
            and self.spec.challenger is not None
            and self.spec.challenger.mode == "shadow"
            and self.router is not None
            and self.router.shadow(key)
        ):
            self._spawn(self._shadow(challenger, request_id, records))
        return _Answer(served, prediction, role)

    async def _shadow(self, served: ServedModel, request_id: str, records: list[Any]) -> None:
        looked = None
        if served.features is not None:
            try:
                looked = await _lookup(served.features, records)
            except RequestError:
                return
            records = looked.records
        checked = served.checker.check(records)
        if checked.errors:
            return
        if looked is not None and looked.violations is not None:
            checked.violations = _joined(looked.violations, checked.violations)
        start = time.perf_counter()
        try:
            prediction = await self.batchers["challenger"].predict(served, checked.values)
        except Exception:
            self._observe("challenger", request_id, len(records), start, None)
            return
        latency_ms = (time.perf_counter() - start) * 1000
        self._log(
            request_id,
            served,
            prediction,
            checked,
            role="shadow",
            latency_ms=latency_ms,
            looked=looked,
        )
        self._observe("challenger", request_id, len(records), start, prediction.predictions)

    def _key(self, request: Request, records: list[Any]) -> str | None:
        if self.router is None:
            return None
        first = records[0] if records and isinstance(records[0], dict) else None
        return self.router.key_for(request.headers, first)

    def _observe(
        self, role: str, request_id: str, count: int, start: float, predictions: list[Any] | None
    ) -> None:
        if self.guardrails is None:
            return
        try:
            self.guardrails.observe(
                role,
                request_id=request_id,
                count=count,
                latency_ms=(time.perf_counter() - start) * 1000,
                error=predictions is None,
                predictions=predictions,
            )
        except Exception:
            logger.exception("guardrails failed to observe request %s", request_id)

    def _log(
        self,
        request_id: str,
        served: ServedModel,
        prediction: Prediction,
        checked: CheckedBatch,
        *,
        role: str,
        latency_ms: float,
        looked: Looked | None = None,
    ) -> None:
        scores, confidences = served.scores(prediction.probabilities, prediction.predictions)
        inputs: list[Any] = checked.values
        columns = served.columns
        moment = time.time()
        if looked is not None and served.features is not None:  # the assembled vector
            inputs = [
                [*extra, *values, status]
                for extra, values, status in zip(
                    looked.extras, checked.values, looked.statuses, strict=True
                )
            ]
            columns = (*served.features.logged, *columns, STATUS_COLUMN)
            moment = looked.time
        self.writer.add(
            request_id=request_id,
            time=moment,
            model=self.name,
            version=prediction.version,
            role=role,
            latency_ms=latency_ms,
            inputs=inputs,
            violations=checked.violations,
            predictions=prediction.predictions,
            scores=scores,
            confidences=confidences,
            columns=columns,
        )

    # -- feedback and admin -----------------------------------------------------------------
    async def feedback(self, body: Any) -> tuple[str, int]:
        """Take the labels in ``body`` for a request this server answered (see
        :mod:`keel.serve._feedback`; the caller checked the token)."""
        given = await self.feedback_gate.accept(body)
        request_id, labels = given.request_id, given.labels
        self.writer.add_feedback(request_id, labels, datetime.now(UTC), per_row=given.per_row)
        if self.guardrails is not None:
            try:
                self.guardrails.feedback(request_id, labels)
            except Exception:
                logger.exception("guardrails failed to take feedback for %s", request_id)
        return request_id, len(labels)

    def authorize(self, request: Request) -> None:
        variable = self.spec.admin_token_env
        token = os.environ.get(variable)
        if not token:
            raise RequestError(
                403,
                "admin_disabled",
                f"admin endpoints are disabled: set {variable} to a token to enable them",
            )
        given = bearer_token(request)
        if given is None or not same_token(given, token):
            raise RequestError(401, "unauthorized", "a valid admin bearer token is required")

    async def admin(self, action: str, reason: str) -> dict[str, Any]:
        try:
            if self.controller is not None:
                await asyncio.to_thread(getattr(self.controller, action), reason)
            else:
                await asyncio.to_thread(self._move_aliases, action, reason)
        except KeelError as exc:
            raise RequestError(409, "conflict", exc.message, hint=exc.hint) from None
        versions = await self.reload()
        aliases = await asyncio.to_thread(self.project.metadata.models.aliases, self.name)
        return {"action": action, "model": self.name, "serving": versions, "aliases": aliases}

    def _move_aliases(self, action: str, reason: str) -> None:
        store = self.project.metadata.models
        champion = self.spec.champion
        if action == "rollback":
            rollback_alias(self.name, champion, reason=reason, project=self.project)
            return
        alias = self.spec.challenger.alias if self.spec.challenger else "challenger"
        target = store.aliases(self.name).get(alias)
        if target is None:
            raise RequestError(
                409, "conflict", f"model {self.name} has no {alias!r} alias to promote"
            )
        current = store.alias(self.name, champion)
        set_alias(
            self.name,
            champion,
            target,
            reason=reason,
            expected_revision=current.revision,
            project=self.project,
        )


async def _lookup(lookup: FeatureLookup, records: list[Any]) -> Looked:
    """The request's features from the online store: in the event loop from the embedded
    store (tens of microseconds), in a thread from a store across the network."""
    if lookup.remote:
        return await asyncio.to_thread(lookup.lookup, records)
    return lookup.lookup(records)


def _joined(first: list[str | None], then: list[str | None]) -> list[str | None]:
    """Per record, two violation texts as one (None where neither has any)."""
    return [
        a if b is None else b if a is None else f"{a}; {b}"
        for a, b in zip(first, then, strict=True)
    ]


def _problems(errors: list[dict[str, Any]], name: str) -> str:
    """The message of a 422: how many problems, and the first, so that a client that shows
    only the message (tritonclient, MLflow's) still says what to fix."""
    first = errors[0]
    where = f"row {first.get('row')}" if first.get("row") is not None else "the request"
    if first.get("field") is not None:
        where += f", {first['field']}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (
        f"{len(errors)} problem(s) with the input of model {name}: "
        f"{where}: {first.get('error')}{more}"
    )


def _no_framework_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry instrumentation, off where the installed FastAPI has it:
    the middleware makes Keel's span per request, and the check costs every request."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def _tracer(project: Project) -> Any:
    """An OpenTelemetry tracer when ``[telemetry] exporter`` is set, else None."""
    if project.config.telemetry_exporter == "none":
        return None
    from keel.telemetry import Telemetry

    return Telemetry(project.config, log_format="text").tracer("keel.serve")
