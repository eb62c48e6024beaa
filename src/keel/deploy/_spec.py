"""Deployment specs: ``deploy/NAME.yaml``, what ``keel serve NAME`` serves and how a
challenger is rolled out. Committed in git beside the code, so a rollout is reviewed like
any other change.

The format borrows Argo Rollouts' and Flagger's vocabulary (``setWeight``, ``pause``,
``analysis``, ``interval``, ``failureLimit``) and maps their success and failure conditions
onto Keel's guardrails (see docs/serving.md, "Deployments")::

    model: churn                  # optional; must be the file's name
    champion: champion            # the alias that answers requests (default champion)
    challenger:                   # optional: a version being rolled out
      alias: challenger           # default challenger
      mode: canary                # canary (a share of live traffic) or shadow (a copy)
      key: {header: X-User-Id}    # or {column: customer_id}: sticky routing by this key
      shadowFraction: 0.2         # shadow mode: the share of requests copied (default 1)
      steps:                      # default: 10% / 5m / analysis / 50% / 5m / analysis
        - setWeight: 10
        - pause: {duration: 2m}   # pause: {} waits for `keel deploy advance`
        - analysis: {}
      analysis:
        interval: 30s             # how often guardrails are evaluated (default 30s)
        failureLimit: 0           # failed analyses tolerated before rollback (default 0)
        minRequests: 200          # per side, before any verdict (default 200)
        guardrails:               # each may be false to switch it off
          errorRate: {maxIncrease: 0.01}
          latencyP99: {maxRatio: 1.5, toleranceMs: 5}
          predictionDrift: {max: 0.1}
          metric: {name: accuracy, alpha: 0.05, margin: 0.0, minSamples: 100}
      promotion: auto             # or manual
    inputs: {checks: reject}      # or warn
    batching: {maxBatchSize: 64, maxWaitMs: 2}
    admin: {tokenEnv: KEEL_ADMIN_TOKEN}
    feedback: {tokenEnv: KEEL_FEEDBACK_TOKEN, window: 24h}
    reload: {interval: 2s}
    predictionLog: {flushInterval: 5s}

Every mistake is reported at once, each with the file, line, key and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from keel.errors import InvalidFileError, Problem, UsageError
from keel.grammar import (
    DURATION_FORMS,
    InvalidNameError,
    KeyPath,
    Reader,
    check_alias,
    check_name,
    format_duration,
    kind_of,
    parse_duration,
    read_yaml,
)
from keel.models import METRICS, metric, metric_not_usable

__all__ = [
    "METRIC_NAMES",
    "Analysis",
    "ChallengerSpec",
    "DeploySpec",
    "DeploySpecError",
    "GuardrailSpec",
    "KeySource",
    "MetricGuardrail",
    "Step",
    "load_spec",
    "parse_spec",
    "spec_path",
]

Mode = Literal["shadow", "canary"]
InputsMode = Literal["reject", "warn"]
Promotion = Literal["auto", "manual"]
StepKind = Literal["setWeight", "pause", "analysis"]

METRIC_NAMES = tuple(name for name, m in METRICS.items() if m.per_record is not None)
"""Per-record metrics the sequential test can compare (higher accuracy, lower error)."""

_DEFAULT_STEPS_TEXT = "[{setWeight: 10}, {pause: {duration: 5m}}, {analysis: {}}, ...]"


@dataclass(frozen=True)
class KeySource:
    """Where the sticky routing key comes from: a request header or an input column."""

    header: str | None = None
    column: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {"header": self.header} if self.header else {"column": str(self.column)}


@dataclass(frozen=True)
class Step:
    """One rollout step: ``setWeight`` (``weight`` %), ``pause`` (``duration`` seconds;
    None waits for a manual advance) or ``analysis`` (a passing analysis is required)."""

    kind: StepKind
    weight: int | None = None
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "setWeight":
            return {"setWeight": self.weight}
        if self.kind == "pause":
            return {
                "pause": {}
                if self.duration is None
                else {"duration": format_duration(self.duration)}
            }
        return {"analysis": {}}


@dataclass(frozen=True)
class MetricGuardrail:
    """The primary metric on feedback, compared with an always-valid sequential test."""

    name: str = "accuracy"
    alpha: float = 0.05
    margin: float = 0.0
    min_samples: int = 100


@dataclass(frozen=True)
class GuardrailSpec:
    """Thresholds; ``None`` switches a guardrail off."""

    error_rate_max_increase: float | None = 0.01
    latency_p99_max_ratio: float | None = 1.5
    latency_p99_tolerance_ms: float = 5.0
    prediction_drift_max: float | None = 0.1
    metric: MetricGuardrail | None = None

    def to_dict(self) -> dict[str, Any]:
        m = self.metric
        return {
            "errorRate": _off(self.error_rate_max_increase, "maxIncrease"),
            "latencyP99": False
            if self.latency_p99_max_ratio is None
            else {
                "maxRatio": self.latency_p99_max_ratio,
                "toleranceMs": self.latency_p99_tolerance_ms,
            },
            "predictionDrift": _off(self.prediction_drift_max, "max"),
            "metric": False
            if m is None
            else {
                "name": m.name,
                "alpha": m.alpha,
                "margin": m.margin,
                "minSamples": m.min_samples,
            },
        }


@dataclass(frozen=True)
class Analysis:
    interval: float = 30.0
    failure_limit: int = 0
    min_requests: int = 200
    guardrails: GuardrailSpec = field(default_factory=GuardrailSpec)


DEFAULT_CANARY_STEPS = (
    Step("setWeight", weight=10),
    Step("pause", duration=300.0),
    Step("analysis"),
    Step("setWeight", weight=50),
    Step("pause", duration=300.0),
    Step("analysis"),
)
DEFAULT_SHADOW_STEPS = (Step("pause", duration=300.0), Step("analysis"))


@dataclass(frozen=True)
class ChallengerSpec:
    """The version being rolled out, and how."""

    alias: str = "challenger"
    mode: Mode = "canary"
    key: KeySource | None = None
    shadow_fraction: float = 1.0
    steps: tuple[Step, ...] = DEFAULT_CANARY_STEPS
    analysis: Analysis = field(default_factory=Analysis)
    promotion: Promotion = "auto"

    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        shadow = {"shadowFraction": self.shadow_fraction} if self.mode == "shadow" else {}
        return {
            "alias": self.alias,
            "mode": self.mode,
            "key": None if self.key is None else self.key.to_dict(),
            **shadow,
            "steps": [s.to_dict() for s in self.steps],
            "analysis": {
                "interval": format_duration(a.interval),
                "failureLimit": a.failure_limit,
                "minRequests": a.min_requests,
                "guardrails": a.guardrails.to_dict(),
            },
            "promotion": self.promotion,
        }


@dataclass(frozen=True)
class DeploySpec:
    """What ``keel serve NAME`` serves: ``deploy/NAME.yaml``, or the champion alone."""

    name: str
    champion: str = "champion"
    challenger: ChallengerSpec | None = None
    inputs_mode: InputsMode = "reject"
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    admin_token_env: str = "KEEL_ADMIN_TOKEN"
    feedback_token_env: str = "KEEL_FEEDBACK_TOKEN"
    feedback_window: float = 86400.0  # seconds after its answer a request takes feedback
    reload_interval: float = 2.0
    log_flush_interval: float = 5.0
    source: str | None = None  # the file it was read from; None for the default spec

    def to_dict(self) -> dict[str, Any]:
        """The spec in its YAML form (what ``keel deploy status --format json`` shows)."""
        return {
            "model": self.name,
            "champion": self.champion,
            "challenger": None if self.challenger is None else self.challenger.to_dict(),
            "inputs": {"checks": self.inputs_mode},
            "batching": {"maxBatchSize": self.max_batch_size, "maxWaitMs": self.max_wait_ms},
            "admin": {"tokenEnv": self.admin_token_env},
            "feedback": {
                "tokenEnv": self.feedback_token_env,
                "window": format_duration(self.feedback_window),
            },
            "reload": {"interval": format_duration(self.reload_interval)},
            "predictionLog": {"flushInterval": format_duration(self.log_flush_interval)},
        }


class DeploySpecError(InvalidFileError):
    """A deployment spec is invalid; ``problems`` lists every mistake found, each located."""

    def __init__(
        self,
        source: str,
        problems: Sequence[Problem],
        *,
        what: str = "deployment spec",
        hint: str | None = None,
    ) -> None:
        super().__init__(
            source,
            problems,
            what=what,
            hint=hint
            or "Fix them and run `keel deploy check NAME`; docs/serving.md lists every key.",
        )


def spec_path(name: str, *, root: Path) -> Path:
    """Where the spec of deployment ``name`` lives: ``deploy/NAME.yaml`` under ``root``."""
    return Path(root) / "deploy" / f"{name}.yaml"


def load_spec(name: str, *, root: Path) -> DeploySpec:
    """The spec in ``deploy/NAME.yaml`` under ``root``, or the default (the champion alone)
    when there is no such file. Raises :class:`DeploySpecError` listing every mistake."""
    check_name(name, "deployment")  # the model's name: no / or @ of a reference, no ..
    path = spec_path(name, root=root)
    if not path.is_file():
        yml = path.with_suffix(".yml")
        if yml.is_file():
            raise UsageError(
                f"{yml} is ignored: specs are read from {path.name}.", hint=f"Rename it to {path}."
            )
        return DeploySpec(name=name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}.") from exc
    return parse_spec(text, name=name, source=str(path.relative_to(root)))


def parse_spec(text: str, *, name: str, source: str = "deployment spec") -> DeploySpec:
    """A spec from YAML text; :class:`DeploySpecError` names ``source``, lines and keys."""
    document = read_yaml(text, source, what="deployment spec", error=DeploySpecError)
    reader = _Reader(document, what="deployment spec", error=DeploySpecError)
    spec = reader.spec(document.data, name)
    reader.finish()
    assert spec is not None
    return spec


# -- reading -------------------------------------------------------------------------------
_TOP = (
    "model",
    "champion",
    "challenger",
    "inputs",
    "batching",
    "admin",
    "feedback",
    "reload",
    "predictionLog",
)
_CHALLENGER = ("alias", "mode", "key", "shadowFraction", "steps", "analysis", "promotion")
_ANALYSIS = ("interval", "failureLimit", "minRequests", "guardrails")
_GUARDRAILS = {
    "errorRate": ("maxIncrease",),
    "latencyP99": ("maxRatio", "toleranceMs"),
    "predictionDrift": ("max",),
    "metric": ("name", "alpha", "margin", "minSamples"),
}
_GUARDRAILS_INSTEAD = (
    "Keel's guardrails take the place of Argo's metric conditions: write "
    "analysis.guardrails (errorRate, latencyP99, predictionDrift, metric)."
)
_ARGO = {  # Argo Rollouts / Flagger keys a user may reach for, and what Keel says instead
    "successCondition": _GUARDRAILS_INSTEAD,
    "failureCondition": _GUARDRAILS_INSTEAD,
    "metrics": _GUARDRAILS_INSTEAD,
    "templates": _GUARDRAILS_INSTEAD,
    "threshold": "Flagger's threshold is failureLimit here.",
    "maxWeight": "Write the weights as setWeight steps.",
    "stepWeight": "Write the weights as setWeight steps.",
}


class _Reader(Reader):
    """Reads plain data into a spec, collecting every problem instead of stopping."""

    def mapping(  # type: ignore[override]  # the same, with Argo's keys explained
        self, value: Any, path: KeyPath, known: Sequence[str]
    ) -> Mapping[Any, Any] | None:
        return super().mapping(value, path, known, instead=_ARGO)

    def duration(self, data: Mapping[str, Any], key: str, path: KeyPath, default: float) -> float:
        def seconds(value: Any) -> float | None:
            try:
                return parse_duration(value, where=key).seconds
            except UsageError:
                return None

        return float(
            self.converted(data, key, path, default, convert=seconds, expected=DURATION_FORMS)
        )

    def alias(self, data: Mapping[str, Any], key: str, path: KeyPath, default: str) -> str:
        value = data.get(key, default)
        try:
            return check_alias(value)
        except InvalidNameError as exc:
            self.problem((*path, key), f"expected an alias: {exc.message}", hint=exc.hint or "")
            return default

    # -- sections ------------------------------------------------------------------------------
    def spec(self, data: Any, name: str) -> DeploySpec | None:
        top = self.mapping(data, (), _TOP)
        if top is None:
            return None
        model = top.get("model", name)
        if model != name:
            self.problem(
                ("model",),
                f"this file deploys model {name!r} (its file name); "
                f"got {model!r}. Rename the file or fix the key",
            )
        champion = self.alias(top, "champion", (), "champion")
        challenger = None
        if top.get("challenger") is not None:
            challenger = self.challenger(top["challenger"], ("challenger",))
            if challenger is not None and challenger.alias == champion:
                self.problem(
                    ("challenger", "alias"), f"must differ from the champion alias {champion!r}"
                )
        inputs = self.mapping(top.get("inputs"), ("inputs",), ("checks",)) or {}
        batching = (
            self.mapping(top.get("batching"), ("batching",), ("maxBatchSize", "maxWaitMs")) or {}
        )
        admin = self.mapping(top.get("admin"), ("admin",), ("tokenEnv",)) or {}
        feedback = self.mapping(top.get("feedback"), ("feedback",), ("tokenEnv", "window")) or {}
        reload = self.mapping(top.get("reload"), ("reload",), ("interval",)) or {}
        log = self.mapping(top.get("predictionLog"), ("predictionLog",), ("flushInterval",)) or {}
        return DeploySpec(
            name=name,
            champion=champion,
            challenger=challenger,
            inputs_mode=self.choice(inputs, "checks", ("inputs",), get_args(InputsMode), "reject"),  # type: ignore[arg-type]
            max_batch_size=int(
                self.number(
                    batching, "maxBatchSize", ("batching",), 64, low=1, high=100_000, integer=True
                )
            ),
            max_wait_ms=self.number(batching, "maxWaitMs", ("batching",), 2.0, low=0, high=10_000),
            admin_token_env=self.text(admin, "tokenEnv", ("admin",), "KEEL_ADMIN_TOKEN"),
            feedback_token_env=self.text(
                feedback, "tokenEnv", ("feedback",), "KEEL_FEEDBACK_TOKEN"
            ),
            feedback_window=self.window(feedback),
            reload_interval=self.duration(reload, "interval", ("reload",), 2.0),
            log_flush_interval=self.duration(log, "flushInterval", ("predictionLog",), 5.0),
            source=self.source,
        )

    def window(self, feedback: Mapping[str, Any]) -> float:
        seconds = self.duration(feedback, "window", ("feedback",), 86400.0)
        if seconds <= 0:
            self.problem(("feedback", "window"), "must be longer than 0s: 0 refuses all feedback")
            return 86400.0
        return seconds

    def challenger(self, value: Any, path: KeyPath) -> ChallengerSpec | None:
        data = self.mapping(value, path, _CHALLENGER)
        if data is None:
            return None
        mode = self.choice(data, "mode", path, get_args(Mode), "canary")
        key = self.key(data.get("key"), (*path, "key"))
        fraction = self.number(data, "shadowFraction", path, 1.0, low=0, high=1, open_low=True)
        if "shadowFraction" in data and mode != "shadow":
            self.problem((*path, "shadowFraction"), "applies to mode: shadow only")
        default = DEFAULT_SHADOW_STEPS if mode == "shadow" else DEFAULT_CANARY_STEPS
        steps = self.steps(data["steps"], (*path, "steps"), mode) if "steps" in data else default
        return ChallengerSpec(
            alias=self.alias(data, "alias", path, "challenger"),
            mode=mode,  # type: ignore[arg-type]
            key=key,
            shadow_fraction=fraction,
            steps=steps,
            analysis=self.analysis(data.get("analysis"), (*path, "analysis")),
            promotion=self.choice(data, "promotion", path, get_args(Promotion), "auto"),  # type: ignore[arg-type]
        )

    def key(self, value: Any, path: KeyPath) -> KeySource | None:
        if value is None:
            return None
        data = self.mapping(value, path, ("header", "column"))
        if data is None:
            return None
        if len(data) != 1:
            self.problem(path, "give exactly one of header: NAME or column: NAME")
            return None
        ((kind, name),) = data.items()
        if not isinstance(name, str) or not name.strip():
            self.problem((*path, str(kind)), f"expected a {kind} name; got {name!r}")
            return None
        return KeySource(header=name) if kind == "header" else KeySource(column=name)

    def steps(self, value: Any, path: KeyPath, mode: str) -> tuple[Step, ...]:
        if not isinstance(value, list) or not value:
            self.problem(
                path,
                f"expected a non-empty list such as {_DEFAULT_STEPS_TEXT}; got {kind_of(value)}",
            )
            return DEFAULT_CANARY_STEPS
        steps = []
        for i, item in enumerate(value):
            step = self.step(item, (*path, i), mode)
            if step is not None:
                steps.append(step)
        return tuple(steps)

    def step(self, item: Any, path: KeyPath, mode: str) -> Step | None:
        kinds = get_args(StepKind)
        if not isinstance(item, Mapping) or len(item) != 1 or next(iter(item)) not in kinds:
            self.problem(
                path,
                f"a step is one of {{setWeight: 0-100}}, {{pause: {{duration: "
                f"2m}}}} or {{analysis: {{}}}}; got {item!r}",
            )
            return None
        ((kind, arg),) = item.items()
        if kind == "setWeight":
            if mode == "shadow":
                self.problem(
                    path,
                    "setWeight has no meaning in mode: shadow (the challenger "
                    "answers no live traffic); use pause and analysis steps",
                )
                return None
            weight = self.number(item, "setWeight", path, 0, low=0, high=100, integer=True)
            return Step("setWeight", weight=int(weight))
        if kind == "pause":
            pause = self.mapping(arg, (*path, "pause"), ("duration",))
            if pause is None or "duration" not in pause:
                return Step("pause") if pause is not None else None
            return Step("pause", duration=self.duration(pause, "duration", (*path, "pause"), 0))
        self.mapping(arg, (*path, "analysis"), ())
        return Step("analysis")

    def analysis(self, value: Any, path: KeyPath) -> Analysis:
        data = self.mapping(value, path, _ANALYSIS)
        if data is None:
            return Analysis()
        return Analysis(
            interval=self.duration(data, "interval", path, 30.0),
            failure_limit=int(self.number(data, "failureLimit", path, 0, low=0, integer=True)),
            min_requests=int(self.number(data, "minRequests", path, 200, low=1, integer=True)),
            guardrails=self.guardrails(data.get("guardrails"), (*path, "guardrails")),
        )

    def guardrails(self, value: Any, path: KeyPath) -> GuardrailSpec:
        data = self.mapping(value, path, tuple(_GUARDRAILS))
        if data is None:
            return GuardrailSpec()
        base = GuardrailSpec()

        def one(key: str, arg: str, default: float | None, **bounds: Any) -> float | None:
            if key not in data:
                return default
            if data[key] is False:
                return None
            section = self.mapping(data[key], (*path, key), _GUARDRAILS[key])
            if section is None:
                return default
            return self.number(section, arg, (*path, key), default or 0.0, **bounds)

        return GuardrailSpec(
            error_rate_max_increase=one(
                "errorRate", "maxIncrease", base.error_rate_max_increase, low=0, high=1
            ),
            latency_p99_max_ratio=one(
                "latencyP99", "maxRatio", base.latency_p99_max_ratio, low=0, open_low=True
            ),
            latency_p99_tolerance_ms=self.tolerance(data.get("latencyP99"), (*path, "latencyP99")),
            prediction_drift_max=one(
                "predictionDrift", "max", base.prediction_drift_max, low=0, open_low=True
            ),
            metric=self.metric(data.get("metric"), (*path, "metric")),
        )

    def tolerance(self, value: Any, path: KeyPath) -> float:
        default = GuardrailSpec.latency_p99_tolerance_ms
        if not isinstance(value, Mapping):
            return default
        return self.number(value, "toleranceMs", path, default, low=0)

    def metric_name(self, value: Any, path: KeyPath) -> str:
        """A name of the metric vocabulary that has a per-record form."""
        try:
            found = metric(value)
            if found.per_record is None:
                why = "The sequential test compares per-record values; this metric has none."
                raise metric_not_usable(found.name, "a guardrail", METRIC_NAMES, why)
        except UsageError as exc:
            self.problem(path, exc.message, hint=exc.hint or "")
            return "accuracy"
        return found.name

    def metric(self, value: Any, path: KeyPath) -> MetricGuardrail | None:
        if value is None or value is False:
            return None
        data = self.mapping(value, path, _GUARDRAILS["metric"])
        if data is None:
            return None
        return MetricGuardrail(
            name=self.metric_name(data.get("name", "accuracy"), (*path, "name")),
            alpha=self.number(data, "alpha", path, 0.05, low=0, high=0.5, open_low=True),
            margin=self.number(data, "margin", path, 0.0, low=0),
            min_samples=int(self.number(data, "minSamples", path, 100, low=10, integer=True)),
        )


# -- helpers -------------------------------------------------------------------------------


def _off(value: float | None, key: str) -> dict[str, float] | bool:
    return False if value is None else {key: value}
