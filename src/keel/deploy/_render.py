"""``keel deploy render NAME --to argo-rollouts``: the spec as Kubernetes manifests.

For teams that run on Kubernetes with Argo Rollouts, the same ``deploy/NAME.yaml`` becomes:

- a ``Rollout`` (``argoproj.io/v1alpha1``) whose pods run ``keel serve NAME`` with the model
  version pinned (``KEEL_MODEL_VERSION`` and the ``keel.dev/model-version`` annotation),
  the shared store from the ``keel-store`` Secret (keys ``store-url``, ``artifacts-url``)
  and the admin token from ``NAME-admin`` (key ``token``);
  its canary ``steps`` are the spec's, one for one (``setWeight``, ``pause`` with or without
  a duration, ``analysis`` running the step template), and a background ``analysis`` runs
  the guardrails from the first step, as Keel's own controller does (durations written in
  hours at most, ``24h`` not ``1d``: Argo reads them with Go's ``time.ParseDuration``);
- two ``Service`` objects, ``NAME-stable`` and ``NAME-canary``, that Argo points at the
  stable and the canary pods;
- two ``AnalysisTemplate`` objects, ``NAME-guardrails`` (background, every
  ``analysis.interval``, ``failureLimit`` as in the spec) and ``NAME-analysis`` (one
  measurement, for ``analysis`` steps), whose Prometheus queries read the serving metrics
  ``keel_requests_total{model,version,route,status}`` and
  ``keel_request_latency_seconds`` by model version: the error-rate increase and the p99
  latency ratio of the canary version over the stable one (0 when the canary is at most
  ``toleranceMs`` slower, as Keel's own guardrail reads it).

Prediction divergence and the feedback metric need the predictions themselves, which
Prometheus does not have: they are not mapped, and the Rollout's
``keel.dev/unmapped-guardrails`` annotation says so. Shadow mode has no Argo Rollouts
equivalent without a service mesh (traffic mirroring), so it is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from keel.deploy._spec import ChallengerSpec, DeploySpec, GuardrailSpec
from keel.errors import UsageError
from keel.grammar import format_duration

__all__ = ["TARGETS", "render", "write_manifests"]

TARGETS = ("argo-rollouts",)
_PORT = 8080
_WINDOW = "2m"  # the rate() window of every query


def render(
    spec: DeploySpec,
    *,
    to: str,
    stable_version: int | None = None,
    canary_version: int | None = None,
    image: str = "keel:latest",
    prometheus: str = "http://prometheus.monitoring.svc:9090",
    replicas: int = 2,
) -> list[dict[str, Any]]:
    """The manifests for target ``to`` (only ``argo-rollouts`` for now): a Rollout, its two
    Services and two AnalysisTemplates (see the module docstring).

    ``canary_version`` is the version the new pods serve (default: ``stable_version``),
    ``stable_version`` the one the running pods serve; the analysis compares the two.
    """
    if to not in TARGETS:
        raise UsageError(
            f"cannot render deployment {spec.name!r} to {to!r}.",
            hint=f"Targets: {', '.join(TARGETS)}.",
        )
    challenger = spec.challenger or ChallengerSpec()
    if challenger.mode == "shadow":
        raise UsageError(
            f"deploy/{spec.name}.yaml rolls out in mode shadow, which Argo Rollouts has no "
            "equivalent for without a service mesh (traffic mirroring).",
            hint="Render a canary (mode: canary), or keep shadow rollouts on keel serve.",
        )
    name = spec.name
    canary = canary_version if canary_version is not None else stable_version
    args = [
        {"name": "stable-version", "value": _text(stable_version)},
        {"name": "canary-version", "value": _text(canary)},
    ]
    return [
        _rollout(spec, challenger, canary, args, image=image, replicas=replicas),
        _service(name, "stable"),
        _service(name, "canary"),
        _template(spec, challenger, f"{name}-guardrails", prometheus, background=True),
        _template(spec, challenger, f"{name}-analysis", prometheus, background=False),
    ]


def write_manifests(documents: list[dict[str, Any]], folder: Path | None) -> list[Path] | str:
    """Write ``rollout.yaml``, ``services.yaml`` and ``analysis-templates.yaml`` into
    ``folder`` (returns the paths), or return one multi-document YAML text when None."""
    if folder is None:
        return _dump(documents)
    folder.mkdir(parents=True, exist_ok=True)
    groups = {
        "rollout.yaml": "Rollout",
        "services.yaml": "Service",
        "analysis-templates.yaml": "AnalysisTemplate",
    }
    written = []
    for file, kind in groups.items():
        path = folder / file
        path.write_text(_dump([d for d in documents if d["kind"] == kind]), encoding="utf-8")
        written.append(path)
    return written


def _dump(documents: list[dict[str, Any]]) -> str:
    header = "# Rendered by `keel deploy render` from deploy/*.yaml; edit the spec, not this.\n"
    return header + yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


def _text(version: int | None) -> str:
    return "" if version is None else str(version)


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "keel"}


def _rollout(
    spec: DeploySpec,
    challenger: ChallengerSpec,
    version: int | None,
    args: list[dict[str, str]],
    *,
    image: str,
    replicas: int,
) -> dict[str, Any]:
    name = spec.name
    steps: list[dict[str, Any]] = []
    for step in challenger.steps:
        if step.kind == "setWeight":
            steps.append({"setWeight": step.weight})
        elif step.kind == "pause":
            steps.append(
                {
                    "pause": {}
                    if step.duration is None
                    else {"duration": format_duration(step.duration, largest="h")}
                }
            )
        else:
            steps.append(
                {"analysis": {"templates": [{"templateName": f"{name}-analysis"}], "args": args}}
            )
    unmapped = _unmapped(challenger.analysis.guardrails)
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
        "ports": [{"name": "http", "containerPort": _PORT}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}},
    }
    annotations = {"keel.dev/model-version": _text(version)}
    if unmapped:
        annotations["keel.dev/unmapped-guardrails"] = ", ".join(unmapped)
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
                    "annotations": {"keel.dev/model-version": _text(version)},
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
                    "steps": steps,
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


def _template(
    spec: DeploySpec,
    challenger: ChallengerSpec,
    template: str,
    prometheus: str,
    *,
    background: bool,
) -> dict[str, Any]:
    analysis = challenger.analysis
    rules = analysis.guardrails
    metrics: list[dict[str, Any]] = []

    def metric(name: str, query: str, condition: str) -> None:
        entry: dict[str, Any] = {
            "name": name,
            "interval": format_duration(analysis.interval, largest="h"),
        }
        if background:
            entry["failureLimit"] = analysis.failure_limit
        else:
            entry["count"] = 1
        entry["successCondition"] = condition
        entry["provider"] = {"prometheus": {"address": prometheus, "query": query}}
        metrics.append(entry)

    if rules.error_rate_max_increase is not None:
        metric(
            "error-rate-increase",
            _error_rate_query(spec.name),
            f"result[0] <= {rules.error_rate_max_increase:g}",
        )
    if rules.latency_p99_max_ratio is not None:
        metric(
            "latency-p99-ratio",
            _latency_query(spec.name, rules.latency_p99_tolerance_ms / 1000),
            f"result[0] <= {rules.latency_p99_max_ratio:g}",
        )
    if not metrics:  # an AnalysisTemplate needs one metric: a traffic floor
        metric("requests", _requests_query(spec.name), "result[0] >= 0")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": template, "labels": _labels(spec.name)},
        "spec": {
            "args": [{"name": "stable-version"}, {"name": "canary-version"}],
            "metrics": metrics,
        },
    }


def _selector(model: str, role: str, extra: str = "") -> str:
    return f'model="{model}",version="{{{{args.{role}-version}}}}"{extra}'


def _rate(model: str, role: str, extra: str = "") -> str:
    return f"sum(rate(keel_requests_total{{{_selector(model, role, extra)}}}[{_WINDOW}]))"


def _error_rate_query(model: str) -> str:
    def share(role: str) -> str:
        failed = _rate(model, role, ',status=~"5.."')
        return f"(({failed} or vector(0)) / {_rate(model, role)})"

    return f"{share('canary')} - {share('stable')}"


def _latency_query(model: str, tolerance: float) -> str:
    """The p99 ratio, or 0 when the canary is at most ``tolerance`` seconds slower."""

    def p99(role: str) -> str:
        bucket = f"keel_request_latency_seconds_bucket{{{_selector(model, role)}}}"
        return f"histogram_quantile(0.99, sum by (le) (rate({bucket}[{_WINDOW}])))"

    canary, stable = p99("canary"), p99("stable")
    return f"({canary} / {stable}) * (({canary} - {stable}) > bool {tolerance:g})"


def _requests_query(model: str) -> str:
    return _rate(model, "canary")


def _unmapped(rules: GuardrailSpec) -> list[str]:
    found = []
    if rules.prediction_drift_max is not None:
        found.append("predictionDrift")
    if rules.metric is not None:
        found.append(f"metric ({rules.metric.name})")
    return found
