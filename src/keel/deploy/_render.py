"""``keel deploy render NAME --to argo-rollouts``: the spec as Kubernetes manifests.

For teams that run on Kubernetes with Argo Rollouts (validated against the CRDs of Argo
Rollouts v1.9.1; ``consecutiveSuccessLimit`` needs v1.8 or later), the same
``deploy/NAME.yaml`` becomes:

- a ``Rollout`` (``argoproj.io/v1alpha1``) whose pods run ``keel serve NAME`` with the model
  version pinned (``KEEL_MODEL_VERSION`` and the ``keel.dev/model-version`` annotation),
  the shared store from the ``keel-store`` Secret (keys ``store-url``, ``artifacts-url``)
  and the admin token from ``NAME-admin`` (key ``token``); the pods carry the
  ``prometheus.io/scrape|port|path`` annotations for the serving metrics on ``/metrics``
  (or, with ``service_monitor``, a Prometheus Operator ``ServiceMonitor`` selects the two
  Services instead);
  its canary ``steps`` are the spec's, one for one (``setWeight``, ``pause`` with or without
  a duration, ``analysis`` running the step template), plus a final ``pause: {}`` for
  ``promotion: manual``; a background ``analysis`` runs the guardrails from the first
  step, as Keel's own controller does (durations written in hours at most, ``24h`` not
  ``1d``: Argo reads them with Go's ``time.ParseDuration``);
- two ``Service`` objects, ``NAME-stable`` and ``NAME-canary``, that Argo points at the
  stable and the canary pods;
- two ``AnalysisTemplate`` objects whose Prometheus queries read the serving metrics
  ``keel_requests_total{model,version,route,status}`` and ``keel_request_latency_seconds``
  by model version: the error-rate increase and the p99 latency ratio of the canary
  version over the stable one (0 when the canary is at most ``toleranceMs`` slower, as
  Keel's own guardrail reads it).

Like Keel's guardrails, the analysis gives no verdict before each version has served
``minRequests`` requests (its ``keel_requests_total``, counted since its pods started) and
has traffic in the query window: until then every query returns no sample (an empty
result, never ``NaN``), and the conditions read an empty result explicitly
(``len(result) > 0 && ...``) instead of failing on ``result[0]``:

- ``NAME-guardrails`` (background, every ``analysis.interval`` until the rollout ends)
  has a ``failureCondition`` only: a measured breach fails, no sample passes (no verdict
  yet), and more than ``failureLimit`` failures abort the rollout;
- ``NAME-analysis`` (for ``analysis`` steps) has both conditions, so no sample is
  ``Inconclusive``; it ends at the first passing measurement
  (``consecutiveSuccessLimit: 1``), fails after ``failureLimit`` breaches, and waits up to
  an hour of measurements for traffic (``inconclusiveLimit``), after which Argo pauses the
  rollout for a person to promote or abort.

What the manifests cannot carry is listed in the Rollout's ``keel.dev/unmapped``
annotation and by :func:`unmapped`: prediction divergence and the feedback metric (they
need the predictions, which Prometheus does not have), sticky routing by
``challenger.key`` (Argo's basic canary splits traffic by replica count) and shadow mode
(mirroring needs a service mesh; a shadow spec renders at weight 0, so the new version
answers nothing until it is promoted).
"""

from __future__ import annotations

import decimal
import math
from pathlib import Path
from typing import Any

import yaml

from keel.deploy._spec import ChallengerSpec, DeploySpec, GuardrailSpec
from keel.errors import UsageError
from keel.grammar import format_duration

__all__ = ["TARGETS", "UNMAPPED_ANNOTATION", "render", "unmapped", "write_manifests"]

TARGETS = ("argo-rollouts",)
UNMAPPED_ANNOTATION = "keel.dev/unmapped"
_PORT = 8080
_METRICS_PATH = "/metrics"  # keel serve's Prometheus exposition
_WINDOW = "2m"  # the rate() window of every query
_GUARDRAILS = "challenger.analysis.guardrails"  # the spec's keys, as unmapped() names them
_WAIT = 3600.0  # seconds an analysis step waits for minRequests before it is Inconclusive


def render(
    spec: DeploySpec,
    *,
    to: str,
    image: str,
    stable_version: int | None = None,
    canary_version: int | None = None,
    prometheus: str = "http://prometheus.monitoring.svc:9090",
    replicas: int = 2,
    service_monitor: bool = False,
) -> list[dict[str, Any]]:
    """The manifests for target ``to`` (only ``argo-rollouts`` for now): a Rollout, its two
    Services, two AnalysisTemplates and, with ``service_monitor``, a ServiceMonitor (see
    the module docstring).

    ``image`` is the container image with Keel and the project; ``canary_version`` is the
    version the new pods serve (default: ``stable_version``), ``stable_version`` the one
    the running pods serve; the analysis compares the two.
    """
    if to not in TARGETS:
        raise UsageError(
            f"cannot render deployment {spec.name!r} to {to!r}.",
            hint=f"Targets: {', '.join(TARGETS)}.",
        )
    if not image.strip():
        raise UsageError(
            f"rendering deployment {spec.name!r} needs a container image; got an empty name.",
            hint="Pass the image that has Keel and this project, e.g. --image "
            "registry.example.com/churn:1.4.",
        )
    challenger = spec.challenger or ChallengerSpec()
    name = spec.name
    canary = canary_version if canary_version is not None else stable_version
    documents = [
        _rollout(
            spec,
            challenger,
            canary,
            stable_version,
            image=image,
            replicas=replicas,
            scrape=not service_monitor,
        ),
        _service(name, "stable"),
        _service(name, "canary"),
        _template(spec, challenger, f"{name}-guardrails", prometheus, background=True),
        _template(spec, challenger, f"{name}-analysis", prometheus, background=False),
    ]
    if service_monitor:
        documents.append(_service_monitor(name))
    return documents


def unmapped(spec: DeploySpec, *, to: str = "argo-rollouts") -> list[str]:
    """What of ``spec`` the manifests for ``to`` cannot carry, one line each: the key and
    what happens instead (also the Rollout's ``keel.dev/unmapped`` annotation)."""
    if to not in TARGETS:
        return []
    challenger = spec.challenger or ChallengerSpec()
    found = []
    if challenger.mode == "shadow":
        found.append(
            f"challenger.mode shadow (shadowFraction {challenger.shadow_fraction:g}): Argo "
            "Rollouts mirrors traffic only through a service mesh; rendered as a canary at "
            "weight 0 (the new version answers nothing until promoted, and no guardrail can "
            "judge it)"
        )
    if challenger.key is not None:
        source = challenger.key.to_dict()
        ((kind, key),) = source.items()
        found.append(
            f"challenger.key ({kind} {key}): Argo's basic canary splits traffic by replica "
            "count, so a caller is not kept on one side"
        )
    rules = challenger.analysis.guardrails
    if rules.prediction_drift_max is not None:
        found.append(
            f"{_GUARDRAILS}.predictionDrift: needs the predictions, which Prometheus lacks"
        )
    if rules.metric is not None:
        found.append(
            f"{_GUARDRAILS}.metric ({rules.metric.name}): needs the feedback, which Prometheus "
            "lacks"
        )
    return found


def write_manifests(documents: list[dict[str, Any]], folder: Path | None) -> list[Path] | str:
    """Write ``rollout.yaml``, ``services.yaml``, ``analysis-templates.yaml`` (and
    ``service-monitor.yaml`` when there is one) into ``folder`` (returns the paths), or
    return one multi-document YAML text when None."""
    if folder is None:
        return _dump(documents)
    folder.mkdir(parents=True, exist_ok=True)
    groups = {
        "rollout.yaml": "Rollout",
        "services.yaml": "Service",
        "analysis-templates.yaml": "AnalysisTemplate",
        "service-monitor.yaml": "ServiceMonitor",
    }
    written = []
    for file, kind in groups.items():
        chosen = [d for d in documents if d["kind"] == kind]
        if not chosen and kind == "ServiceMonitor":
            continue
        path = folder / file
        path.write_text(_dump(chosen), encoding="utf-8")
        written.append(path)
    return written


class _Dumper(yaml.SafeDumper):
    """Plain YAML for kubectl and reviewers: no anchors or aliases (objects shared between
    documents are written out each time) and multi-line text as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _dump(documents: list[dict[str, Any]]) -> str:
    header = "# Rendered by `keel deploy render` from deploy/*.yaml; edit the spec, not this.\n"
    text = yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    return header + text


def _text(version: int | None) -> str:
    return "" if version is None else str(version)


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "keel"}


def _steps(
    spec: DeploySpec, challenger: ChallengerSpec, args: list[dict[str, str]]
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"setWeight": 0}] if challenger.mode == "shadow" else []
    for step in challenger.steps:
        if step.kind == "setWeight":
            steps.append({"setWeight": step.weight})
        elif step.kind == "pause":
            duration = {} if step.duration is None else {"duration": _go(step.duration)}
            steps.append({"pause": duration})
        else:
            template = [{"templateName": f"{spec.name}-analysis"}]
            steps.append({"analysis": {"templates": template, "args": args}})
    if challenger.promotion == "manual":
        steps.append({"pause": {}})  # `kubectl argo rollouts promote NAME` ends it
    return steps


def _rollout(
    spec: DeploySpec,
    challenger: ChallengerSpec,
    version: int | None,
    stable: int | None,
    *,
    image: str,
    replicas: int,
    scrape: bool,
) -> dict[str, Any]:
    name = spec.name
    args = [
        {"name": "stable-version", "value": _text(stable)},
        {"name": "canary-version", "value": _text(version)},
    ]
    container = {
        "name": "keel-serve",
        "image": image,
        "args": ["serve", name, "--host", "0.0.0.0", "--port", str(_PORT)],
        "env": [
            {"name": "KEEL_MODEL_VERSION", "value": _text(version)},
            _secret("KEEL_STORE_URL", "keel-store", "store-url"),
            _secret("KEEL_ARTIFACTS_URL", "keel-store", "artifacts-url"),
            _secret(spec.admin_token_env, f"{name}-admin", "token"),
            _secret(spec.feedback_token_env, f"{name}-feedback", "token"),
        ],
        "ports": [{"name": "http", "containerPort": _PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}},
    }
    pod_annotations = {"keel.dev/model-version": _text(version)}
    if scrape:
        pod_annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(_PORT),
            "prometheus.io/path": _METRICS_PATH,
        }
    annotations = {"keel.dev/model-version": _text(version)}
    gaps = unmapped(spec)
    if gaps:
        annotations[UNMAPPED_ANNOTATION] = "\n".join(gaps)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "labels": _labels(name), "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name, **_labels(name)},
                    "annotations": pod_annotations,
                },
                "spec": {"containers": [container]},
            },
            "strategy": {
                "canary": {
                    "canaryService": f"{name}-canary",
                    "stableService": f"{name}-stable",
                    "analysis": {
                        "templates": [{"templateName": f"{name}-guardrails"}],
                        "startingStep": 1,
                        "args": args,
                    },
                    "steps": _steps(spec, challenger, args),
                }
            },
        },
    }


def _secret(variable: str, secret: str, key: str) -> dict[str, Any]:
    ref = {"name": secret, "key": key, "optional": True}
    return {"name": variable, "valueFrom": {"secretKeyRef": ref}}


def _service(name: str, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{name}-{role}", "labels": _labels(name)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _service_monitor(name: str) -> dict[str, Any]:
    """Prometheus Operator's ServiceMonitor over both Services (Argo points each at its own
    pods, so every pod is scraped once)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "selector": {"matchLabels": _labels(name)},
            "endpoints": [{"port": "http", "path": _METRICS_PATH}],
        },
    }


def _template(
    spec: DeploySpec,
    challenger: ChallengerSpec,
    template: str,
    prometheus: str,
    *,
    background: bool,
) -> dict[str, Any]:
    analysis = challenger.analysis
    guard = _traffic_guard(spec.name, analysis.min_requests)
    metrics = []
    for metric_name, query, limit in _guardrail_queries(spec.name, analysis.guardrails):
        entry: dict[str, Any] = {"name": metric_name, "interval": _go(analysis.interval)}
        breach = f"len(result) > 0 && result[0] > {_number(limit)}"
        if background:  # no sample passes: no verdict before minRequests, as in Keel
            entry["failureLimit"] = analysis.failure_limit
            entry["failureCondition"] = breach
        else:  # no sample is Inconclusive: wait for traffic, pass at the first good one
            entry["consecutiveSuccessLimit"] = 1
            entry["failureLimit"] = analysis.failure_limit
            entry["inconclusiveLimit"] = math.ceil(_WAIT / analysis.interval)
            entry["successCondition"] = f"len(result) > 0 && result[0] <= {_number(limit)}"
            entry["failureCondition"] = breach
        entry["provider"] = _prometheus(prometheus, f"({query})\nand on() {guard}")
        metrics.append(entry)
    if not metrics:  # an AnalysisTemplate needs one metric: the traffic floor alone
        floor: dict[str, Any] = {"name": "requests", "interval": _go(analysis.interval)}
        if not background:
            floor["consecutiveSuccessLimit"] = 1
            floor["inconclusiveLimit"] = math.ceil(_WAIT / analysis.interval)
            floor["successCondition"] = "len(result) > 0"
            floor["failureCondition"] = "false"
        floor["provider"] = _prometheus(prometheus, f"vector(1) and on() {guard}")
        metrics.append(floor)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": template, "labels": _labels(spec.name)},
        "spec": {
            "args": [{"name": "stable-version"}, {"name": "canary-version"}],
            "metrics": metrics,
        },
    }


def _prometheus(address: str, query: str) -> dict[str, Any]:
    return {"prometheus": {"address": address, "query": query}}


def _go(seconds: float) -> str:
    """A duration as Go's ``time.ParseDuration`` reads it (hours at most)."""
    return format_duration(seconds, largest="h")


def _number(value: float) -> str:
    """A threshold in positional notation (``0.00001``, not ``1e-05``), which both PromQL
    and Argo's expression language read."""
    text = format(decimal.Decimal(repr(float(value))), "f")
    return text if "." in text else f"{text}.0"


def _guardrail_queries(model: str, rules: GuardrailSpec) -> list[tuple[str, str, float]]:
    """(metric name, PromQL, largest passing value) of each guardrail Prometheus can read."""
    found = []
    if rules.error_rate_max_increase is not None:
        found.append(
            ("error-rate-increase", _error_rate_query(model), rules.error_rate_max_increase)
        )
    if rules.latency_p99_max_ratio is not None:
        tolerance = rules.latency_p99_tolerance_ms / 1000
        found.append(
            ("latency-p99-ratio", _latency_query(model, tolerance), rules.latency_p99_max_ratio)
        )
    return found


def _selector(model: str, role: str, extra: str = "") -> str:
    return f'model="{model}",version="{{{{args.{role}-version}}}}"{extra}'


def _rate(model: str, role: str, extra: str = "") -> str:
    return f"sum(rate(keel_requests_total{{{_selector(model, role, extra)}}}[{_WINDOW}]))"


def _traffic_guard(model: str, min_requests: int) -> str:
    """True (one sample) once both versions have served ``min_requests`` requests and
    have traffic in the window; no sample before, which empties the guarded query."""
    parts = []
    for role in ("canary", "stable"):
        parts.append(f"(sum(keel_requests_total{{{_selector(model, role)}}}) >= {min_requests})")
        parts.append(f"({_rate(model, role)} > 0)")
    return "\nand on() ".join(parts)


def _error_rate_query(model: str) -> str:
    def share(role: str) -> str:
        failed = _rate(model, role, ',status=~"5.."')
        return f"(({failed} or vector(0)) / {_rate(model, role)})"

    return f"{share('canary')}\n- {share('stable')}"


def _latency_query(model: str, tolerance: float) -> str:
    """The p99 ratio, or 0 when the canary is at most ``tolerance`` seconds slower."""

    def p99(role: str) -> str:
        bucket = f"keel_request_latency_seconds_bucket{{{_selector(model, role)}}}"
        return f"histogram_quantile(0.99, sum by (le) (rate({bucket}[{_WINDOW}])))"

    canary, stable = p99("canary"), p99("stable")
    return f"({canary}\n/ ({stable} > 0))\n* (({canary} - {stable}) > bool {_number(tolerance)})"
