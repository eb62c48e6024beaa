"""``keel deploy render --to argo-rollouts``: every manifest as kubectl would take it.

The Rollout and AnalysisTemplates are validated against the OpenAPI schemas of Argo
Rollouts' own CRDs (v1.9.1, tests/deploy/data/argo/README.md); Services and the
ServiceMonitor get structural checks and cross-references (selectors, port names, template
names and arguments); and the pod a Rollout describes is checked against what
``keel serve`` really serves.
"""

from __future__ import annotations

import asyncio
import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from keel.deploy import (
    UNMAPPED_ANNOTATION,
    DeploySpec,
    parse_spec,
    render,
    unmapped,
    write_manifests,
)
from keel.serve import create_app
from tests.serve._serving import client, make_project, records

DATA = Path(__file__).parent / "data" / "argo"
IMAGE = "registry.example.com/churn:1.4"

CANARY = """\
challenger:
  key: {header: X-User-Id}
  steps: [{setWeight: 10}, {pause: {duration: 2m}}, {analysis: {}}, {setWeight: 60}, {pause: {}}]
  analysis:
    interval: 30s
    failureLimit: 2
    minRequests: 50
    guardrails: {errorRate: {maxIncrease: 0.02}, latencyP99: {maxRatio: 1.3}}
  promotion: manual
"""
SHADOW = "challenger: {mode: shadow, shadowFraction: 0.5}"
NO_PROMETHEUS_GUARDRAILS = """\
challenger:
  analysis:
    guardrails: {errorRate: false, latencyP99: false, metric: {name: accuracy}}
"""
SPECS = {
    "canary": CANARY,
    "shadow": SHADOW,
    "no-prometheus-guardrails": NO_PROMETHEUS_GUARDRAILS,
    "default": "{}",
}


def rendered(text: str, **options: Any) -> list[dict[str, Any]]:
    """The manifests as a user applies them: rendered, written as YAML, read back."""
    spec = parse_spec(text, name="churn")
    documents = render(
        spec, to="argo-rollouts", image=IMAGE, stable_version=1, canary_version=2, **options
    )
    written = write_manifests(documents, None)
    assert isinstance(written, str)
    found = [d for d in yaml.safe_load_all(written) if d is not None]
    assert found == documents
    return found


# -- the CRD schemas as the API server reads them -------------------------------------------


def _structural(node: Any) -> Any:
    """A CRD's OpenAPI v3 schema as JSON Schema, with the Kubernetes extensions applied."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":  # field names, kept whatever they are called
            out[key] = {name: _structural(field) for name, field in value.items()}
        elif not key.startswith("x-kubernetes-") and key not in ("nullable", "description"):
            out[key] = _structural(value)
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if out.get("type") == "object" and "properties" in out and not preserve:
        out.setdefault("additionalProperties", False)  # kubectl's strict field validation
    if node.get("nullable"):
        out = {"anyOf": [{"type": "null"}, out]}
    return out


@functools.cache
def crd_validator(file: str) -> tuple[str, Draft202012Validator]:
    crd = yaml.load((DATA / file).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    assert version["served"]
    assert version["storage"]
    schema = _structural(version["schema"]["openAPIV3Schema"])
    Draft202012Validator.check_schema(schema)
    return crd["spec"]["names"]["kind"], Draft202012Validator(schema)


CRDS = {"Rollout": "rollout-crd.yaml", "AnalysisTemplate": "analysis-template-crd.yaml"}


def crd_errors(document: dict[str, Any]) -> list[str]:
    kind, validator = crd_validator(CRDS[document["kind"]])
    assert document["kind"] == kind
    assert document["apiVersion"] == "argoproj.io/v1alpha1"
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


# -- what a CRD leaves to the API server: metadata, and the built-in kinds --------------------

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035: Service names
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_QUALIFIED.match(name))


def check_metadata(document: dict[str, Any]) -> None:
    metadata = document["metadata"]
    assert set(metadata) <= {"name", "labels", "annotations"}
    name = metadata["name"]
    pattern = _DNS_LABEL if document["kind"] == "Service" else _SUBDOMAIN
    assert len(name) <= (63 if document["kind"] == "Service" else 253)
    assert pattern.match(name), name
    for key, value in metadata.get("labels", {}).items():
        assert _qualified_name(key), key
        assert isinstance(value, str)
        assert value == "" or _qualified_name(value), value
    for key, value in metadata.get("annotations", {}).items():
        assert _qualified_name(key), key
        assert isinstance(value, str)


def check_service(service: dict[str, Any], pod: dict[str, Any]) -> None:
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    spec = service["spec"]
    assert set(spec) == {"type", "selector", "ports"}
    assert spec["type"] == "ClusterIP"
    assert spec["selector"].items() <= pod["metadata"]["labels"].items()
    container_ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    for port in spec["ports"]:
        assert set(port) <= {"name", "port", "targetPort", "protocol"}
        assert isinstance(port["port"], int)
        assert 0 < port["port"] < 65536
        assert port["protocol"] in ("TCP", "UDP", "SCTP")
        assert port["targetPort"] in container_ports  # a named port of the pod


def check_service_monitor(monitor: dict[str, Any], services: list[dict[str, Any]]) -> None:
    """Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1): it selects both
    Services by label, and scrapes their named port on keel serve's metrics path."""
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) == {"selector", "endpoints"}
    selector = spec["selector"]["matchLabels"]
    assert all(selector.items() <= s["metadata"]["labels"].items() for s in services)
    ports = {p["name"] for s in services for p in s["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval"}
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"


def check_metric_rules(metric: dict[str, Any]) -> None:
    """The rules Argo's controller applies to a metric beyond its CRD schema
    (``ValidateMetric`` in utils/analysis/factory.go of v1.9.1), restated."""
    count = int(metric.get("count", 0))
    failure = int(metric.get("failureLimit", 0))
    success = int(metric.get("consecutiveSuccessLimit", 0))
    inconclusive = int(metric.get("inconclusiveLimit", 0))
    assert success >= 0
    assert failure >= -1
    assert not (success == 0 and failure == -1)  # one of the two must apply
    assert inconclusive >= 0
    if count > 0:
        assert count >= (failure + success if failure >= 0 else success)
        assert count >= inconclusive
    if count > 1:
        assert metric.get("interval")
    assert re.fullmatch(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+", metric["interval"])  # Go durations


def check_references(documents: list[dict[str, Any]]) -> None:
    """What ties the objects together: templates named exist, their arguments are given,
    the Rollout's selector matches its pods, probes use a port the container names."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in documents:
        by_kind.setdefault(d["kind"], []).append(d)
    (rollout,) = by_kind["Rollout"]
    templates = {t["metadata"]["name"]: t for t in by_kind["AnalysisTemplate"]}
    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    pod = rollout["spec"]["template"]
    assert rollout["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    canary = rollout["spec"]["strategy"]["canary"]
    assert {canary["canaryService"], canary["stableService"]} == set(services)
    runs = [canary["analysis"]] + [s["analysis"] for s in canary["steps"] if "analysis" in s]
    for run in runs:
        given = {a["name"] for a in run["args"]}
        for ref in run["templates"]:
            declared = {a["name"] for a in templates[ref["templateName"]]["spec"]["args"]}
            assert declared == given
    for template in templates.values():
        for metric in template["spec"]["metrics"]:
            check_metric_rules(metric)
        names = [m["name"] for m in template["spec"]["metrics"]]
        assert names
        assert len(set(names)) == len(names)
    (container,) = pod["spec"]["containers"]
    ports = {p["name"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    for service in services.values():
        check_service(service, pod)
    for monitor in by_kind.get("ServiceMonitor", []):
        check_service_monitor(monitor, list(services.values()))


@pytest.mark.parametrize("service_monitor", [False, True])
@pytest.mark.parametrize("text", SPECS.values(), ids=SPECS.keys())
def test_every_object_is_valid_against_the_argo_rollouts_crds(
    text: str, service_monitor: bool
) -> None:
    documents = rendered(text, service_monitor=service_monitor)
    kinds = sorted(d["kind"] for d in documents)
    expected = ["AnalysisTemplate", "AnalysisTemplate", "Rollout", "Service", "Service"]
    assert kinds == sorted(expected + (["ServiceMonitor"] if service_monitor else []))
    for document in documents:
        check_metadata(document)
        if document["kind"] in CRDS:
            assert crd_errors(document) == []
    check_references(documents)


def test_the_crd_check_refuses_what_argo_would_refuse() -> None:
    """The validator is not vacuous: a misspelled field, a wrong type, a missing field."""
    rollout, *_, step_template = rendered(CANARY)
    canary = rollout["spec"]["strategy"]["canary"]
    canary["steps"][0] = {"setWeight": "10"}
    canary["analysis"]["startingstep"] = 1
    step_template["spec"]["metrics"][0]["inconclusivelimit"] = 3
    del step_template["spec"]["metrics"][1]["provider"]
    assert any("'10' is not of type 'integer'" in e for e in crd_errors(rollout))
    assert any("'startingstep' was unexpected" in e for e in crd_errors(rollout))
    errors = crd_errors(step_template)
    assert any("'inconclusivelimit' was unexpected" in e for e in errors)
    assert any("'provider' is a required property" in e for e in errors)


def test_no_yaml_anchors_or_aliases_although_the_analysis_args_are_shared() -> None:
    spec = parse_spec(CANARY, name="churn")
    documents = render(spec, to="argo-rollouts", image=IMAGE, stable_version=1, canary_version=2)
    text = write_manifests(documents, None)
    assert isinstance(text, str)
    events = list(yaml.parse(text))
    assert not [e for e in events if isinstance(e, yaml.AliasEvent)]
    assert not [e for e in events if getattr(e, "anchor", None)]


def _metrics(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in template["spec"]["metrics"]}


def test_no_sample_is_no_verdict_in_the_background_and_waits_in_a_step() -> None:
    """Without canary traffic Prometheus answers an empty vector; `result[0]` would make
    every measurement an Error (and 5 in a row abort the rollout). Each query is guarded by
    minRequests on both versions, and the conditions read an empty result first."""
    _, _, _, background, step = rendered(CANARY)
    for template in (background, step):
        for metric in template["spec"]["metrics"]:
            query = metric["provider"]["prometheus"]["query"]
            for role in ("canary", "stable"):
                selector = f'model="churn",version="{{{{args.{role}-version}}}}"'
                assert f"and on() (sum(keel_requests_total{{{selector}}}) >= 50)" in query
                assert f"and on() (sum(rate(keel_requests_total{{{selector}}}[2m])) > 0)" in query
    errors = _metrics(background)["error-rate-increase"]
    assert errors["interval"] == "30s"
    assert errors["failureLimit"] == 2
    assert errors["failureCondition"] == "len(result) > 0 && result[0] > 0.02"
    assert "successCondition" not in errors  # no sample: success, i.e. no verdict yet
    assert "count" not in errors  # runs until the rollout ends
    latency = _metrics(step)["latency-p99-ratio"]
    assert latency["successCondition"] == "len(result) > 0 && result[0] <= 1.3"
    assert latency["failureCondition"] == "len(result) > 0 && result[0] > 1.3"
    assert latency["consecutiveSuccessLimit"] == 1  # ends at the first passing measurement
    assert latency["failureLimit"] == 2
    assert latency["inconclusiveLimit"] == 120  # an hour of 30s measurements without traffic
    assert "count" not in latency
    assert latency["provider"]["prometheus"]["query"].count("> bool 0.005") == 1


def test_without_a_prometheus_guardrail_the_step_waits_for_traffic_alone() -> None:
    _, _, _, background, step = rendered(NO_PROMETHEUS_GUARDRAILS)
    (floor,) = step["spec"]["metrics"]
    assert floor["name"] == "requests"
    assert (floor["successCondition"], floor["failureCondition"]) == ("len(result) > 0", "false")
    assert floor["provider"]["prometheus"]["query"].startswith("vector(1) and on() (sum(")
    (watch,) = background["spec"]["metrics"]
    assert "successCondition" not in watch
    assert "failureCondition" not in watch


def test_what_cannot_be_rendered_is_listed_on_the_rollout() -> None:
    rollout = rendered(CANARY)[0]
    listed = rollout["metadata"]["annotations"][UNMAPPED_ANNOTATION].split("\n")
    assert listed == unmapped(parse_spec(CANARY, name="churn"))
    assert [line.split(" ")[0] for line in listed] == [
        "challenger.key",
        "challenger.analysis.guardrails.predictionDrift:",
    ]
    assert "header X-User-Id" in listed[0]
    shadow = rendered(SHADOW)[0]
    listed = shadow["metadata"]["annotations"][UNMAPPED_ANNOTATION]
    assert listed.startswith("challenger.mode shadow (shadowFraction 0.5):")
    steps = shadow["spec"]["strategy"]["canary"]["steps"]
    assert steps[0] == {"setWeight": 0}  # the new version answers nothing until promoted
    assert all(s.get("setWeight", 0) == 0 for s in steps)
    default = rendered("challenger: {analysis: {}}")[0]
    assert default["metadata"]["annotations"][UNMAPPED_ANNOTATION] == (
        "challenger.analysis.guardrails.predictionDrift: needs the predictions, which "
        "Prometheus lacks"
    )
    off = "challenger: {analysis: {guardrails: {predictionDrift: false}}}"
    assert UNMAPPED_ANNOTATION not in rendered(off)[0]["metadata"]["annotations"]


def test_manual_promotion_ends_in_an_indefinite_pause() -> None:
    steps = rendered(CANARY)[0]["spec"]["strategy"]["canary"]["steps"]
    assert steps[-2:] == [{"pause": {}}, {"pause": {}}]  # the spec's own, then promotion
    auto = rendered("challenger: {steps: [{setWeight: 50}]}")[0]
    assert auto["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 50}]


def test_pods_carry_scrape_annotations_unless_a_service_monitor_is_asked_for() -> None:
    pod = rendered(CANARY)[0]["spec"]["template"]["metadata"]["annotations"]
    assert pod == {
        "keel.dev/model-version": "2",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }
    documents = rendered(CANARY, service_monitor=True)
    pod = documents[0]["spec"]["template"]["metadata"]["annotations"]
    assert pod == {"keel.dev/model-version": "2"}  # scraped once, by the ServiceMonitor
    assert documents[-1]["kind"] == "ServiceMonitor"


def test_an_empty_image_is_refused() -> None:
    from keel.errors import UsageError

    with pytest.raises(UsageError, match="needs a container image"):
        render(DeploySpec(name="churn"), to="argo-rollouts", image=" ")


def test_the_rendered_pod_is_what_keel_serve_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probes and the scrape path of the pod answer in keel serve, and the metrics it
    exposes carry the model and version labels the analysis queries select."""
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    project = make_project(tmp_path, versions=2)
    rollout = rendered(CANARY)[0]
    pod = rollout["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app(container["args"][1], project=project)
    paths = [container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")]
    scrape = pod["metadata"]["annotations"]["prometheus.io/path"]

    async def work() -> tuple[list[int], str]:
        async with client(app) as http:
            await http.post("/predict", json=records(2))
            codes = [(await http.get(path)).status_code for path in paths]
            metrics = await http.get(scrape)
            codes.append(metrics.status_code)
            return codes, metrics.text

    codes, text = asyncio.run(work())
    assert codes == [200, 200, 200]
    assert 'keel_requests_total{model="churn",route="/predict",status="200",version="2"}' in text
    assert 'keel_request_latency_seconds_bucket{le="0.0005",model="churn"' in text
