"""``keel deploy check|status|render|advance|promote|rollback``: exit codes and JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from keel.cli import app
from keel.config import init_project
from keel.registry import set_alias
from keel.tracking import open_project

runner = CliRunner()

SPEC = """\
model: churn
challenger:
  mode: canary
  key: {header: X-User-Id}
  steps: [{setWeight: 10}, {pause: {duration: 2m}}, {analysis: {}}, {setWeight: 60}, {pause: {}}]
  analysis:
    interval: 30s
    failureLimit: 2
    guardrails: {errorRate: {maxIncrease: 0.02}, latencyP99: {maxRatio: 1.3}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEEL_ACTOR", "ana")
    init_project(tmp_path)
    opened = open_project(tmp_path)
    for _ in range(2):
        opened.metadata.models.add_version(
            "churn", manifest="m", listing="l", adapter="sklearn", actor="ana"
        )
    set_alias("churn", "champion", 1, project=opened)
    set_alias("churn", "challenger", 2, project=opened)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "churn.yaml").write_text(SPEC)
    return tmp_path


def _json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_check_accepts_a_valid_spec(project: Path) -> None:
    found = _json("deploy", "check", "churn")
    assert (found["name"], found["file"], found["valid"]) == ("churn", "deploy/churn.yaml", True)
    spec = found["spec"]
    assert isinstance(spec, dict)
    assert spec["challenger"]["steps"][1] == {"pause": {"duration": "2m"}}
    text = runner.invoke(app, ["deploy", "check", "churn"])
    assert text.exit_code == 0
    assert "deploy/churn.yaml is valid: canary rollout of @challenger, 5 steps" in text.stdout
    alone = runner.invoke(app, ["deploy", "check", "fraud"])
    assert alone.exit_code == 0
    assert "fraud@champion would be served alone" in alone.stdout


def test_check_lists_every_problem_and_exits_2(project: Path) -> None:
    (project / "deploy" / "churn.yaml").write_text(
        "challenger:\n  mode: blue\n  steps: [{setWeight: 200}]\ninputs: {checks: maybe}\n"
    )
    result = runner.invoke(app, ["deploy", "check", "churn"])
    assert result.exit_code == 2
    assert "deploy/churn.yaml is not a valid deployment spec (3 problems)" in result.stderr
    assert "deploy/churn.yaml:2: challenger.mode: 'blue' is not allowed" in result.stderr
    as_json = runner.invoke(app, ["deploy", "check", "churn", "--format", "json"])
    assert as_json.exit_code == 2
    found = json.loads(as_json.stdout)
    assert found["valid"] is False
    assert len(found["problems"]) == 3
    assert found["problems"][0]["line"] == 2
    assert found["problems"][0]["key"] == "challenger.mode"


def test_status_shows_aliases_step_weight_and_decisions(project: Path) -> None:
    assert runner.invoke(app, ["deploy", "advance", "churn", "--reason", "skip"]).exit_code == 0
    found = _json("deploy", "status", "churn")
    assert set(found) == {"name", "file", "spec", "aliases", "rollout", "phase", "decisions"}
    assert found["aliases"] == {"challenger": 2, "champion": 1}
    rollout = found["rollout"]
    assert isinstance(rollout, dict)
    assert (rollout["step"], rollout["steps"], rollout["weight"]) == (2, 5, 10.0)
    assert rollout["active"] is True
    assert rollout["challenger_version"] == 2
    assert found["phase"] == "step 3/5: analysis, advances when the guardrails pass"
    decisions = found["decisions"]
    assert isinstance(decisions, list)
    last = decisions[-1]
    assert (last["kind"], last["reason"], last["actor"]) == ("advance", "skip", "ana")
    text = runner.invoke(app, ["deploy", "status", "churn"])
    assert text.exit_code == 0
    assert "rollout of version 2 (canary), weight 10%" in text.stdout


def test_promote_and_rollback_by_hand(project: Path) -> None:
    found = _json("deploy", "promote", "churn", "--reason", "good enough")
    assert found == {"name": "churn", "action": "promote", "aliases": {"champion": 2}}
    again = runner.invoke(app, ["deploy", "rollback", "churn"])
    assert again.exit_code == 2
    assert "nothing to roll back" in again.stderr
    assert _json("deploy", "status", "churn")["rollout"]["active"] is False  # type: ignore[index]


IMAGE = ["--image", "registry.example.com/churn:1.4"]


def test_render_writes_argo_rollouts_manifests_with_the_steps_mapped(project: Path) -> None:
    result = runner.invoke(app, ["deploy", "render", "churn", "--to", "argo-rollouts", *IMAGE])
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    kinds = [d["kind"] for d in documents]
    assert kinds == ["Rollout", "Service", "Service", "AnalysisTemplate", "AnalysisTemplate"]
    rollout = documents[0]
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    canary = rollout["spec"]["strategy"]["canary"]
    assert (canary["canaryService"], canary["stableService"]) == ("churn-canary", "churn-stable")
    steps = canary["steps"]
    assert steps[0] == {"setWeight": 10}
    assert steps[1] == {"pause": {"duration": "2m"}}
    assert steps[2]["analysis"]["templates"] == [{"templateName": "churn-analysis"}]
    assert steps[3:] == [{"setWeight": 60}, {"pause": {}}]
    args = {a["name"]: a["value"] for a in canary["analysis"]["args"]}
    assert args == {"stable-version": "1", "canary-version": "2"}  # from the registry
    container = rollout["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/churn:1.4"
    assert container["args"][:2] == ["serve", "churn"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["KEEL_MODEL_VERSION"] == "2"
    assert env["KEEL_STORE_URL"]["secretKeyRef"]["name"] == "keel-store"
    assert env["KEEL_FEEDBACK_TOKEN"]["secretKeyRef"]["name"] == "churn-feedback"
    unmapped = rollout["metadata"]["annotations"]["keel.dev/unmapped"].split("\n")
    assert [line.split(" ")[0] for line in unmapped] == [
        "challenger.key",
        "challenger.analysis.guardrails.predictionDrift:",
    ]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: deploy/churn.yaml: not rendered: {line}" for line in unmapped]
    background = documents[3]
    assert background["metadata"]["name"] == "churn-guardrails"
    metrics = {m["name"]: m for m in background["spec"]["metrics"]}
    errors, latency = metrics["error-rate-increase"], metrics["latency-p99-ratio"]
    assert (errors["interval"], errors["failureLimit"]) == ("30s", 2)
    assert errors["failureCondition"] == "len(result) > 0 && result[0] > 0.02"
    query = errors["provider"]["prometheus"]["query"]
    assert 'keel_requests_total{model="churn",version="{{args.canary-version}}"' in query
    assert 'status=~"5.."' in query
    assert latency["failureCondition"] == "len(result) > 0 && result[0] > 1.3"
    latency_query = latency["provider"]["prometheus"]["query"]
    assert "keel_request_latency_seconds_bucket" in latency_query
    assert "> bool 0.005)" in latency_query  # toleranceMs: 5
    step = documents[4]["spec"]["metrics"][0]
    assert step["consecutiveSuccessLimit"] == 1  # the step ends at its first pass


def test_render_to_a_folder(project: Path) -> None:
    found = _json(
        "deploy",
        "render",
        "churn",
        "--to",
        "argo-rollouts",
        *IMAGE,
        "-o",
        "k8s",
        "--stable-version",
        "7",
        "--canary-version",
        "8",
        "--service-monitor",
    )
    assert found["files"] == [
        "k8s/rollout.yaml",
        "k8s/services.yaml",
        "k8s/analysis-templates.yaml",
        "k8s/service-monitor.yaml",
    ]
    services = list(yaml.safe_load_all((project / "k8s" / "services.yaml").read_text()))
    assert [s["metadata"]["name"] for s in services] == ["churn-stable", "churn-canary"]
    rollout = yaml.safe_load((project / "k8s" / "rollout.yaml").read_text())
    assert rollout["metadata"]["annotations"]["keel.dev/model-version"] == "8"
    monitor = yaml.safe_load((project / "k8s" / "service-monitor.yaml").read_text())
    assert monitor["kind"] == "ServiceMonitor"
    assert "prometheus.io/scrape" not in rollout["spec"]["template"]["metadata"]["annotations"]


def test_a_shadow_rollout_renders_at_weight_zero_with_a_warning(project: Path) -> None:
    (project / "deploy" / "churn.yaml").write_text("challenger: {mode: shadow}")
    result = runner.invoke(app, ["deploy", "render", "churn", "--to", "argo-rollouts", *IMAGE])
    assert result.exit_code == 0, result.output
    rollout = next(yaml.safe_load_all(result.stdout))
    assert rollout["spec"]["strategy"]["canary"]["steps"][0] == {"setWeight": 0}
    assert (
        "warning: deploy/churn.yaml: not rendered: challenger.mode shadow (shadowFraction 1):"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "flagger", *IMAGE], "Targets: argo-rollouts"),
        (["--to", "argo-rollouts"], "Missing option '--image'"),
    ],
)
def test_render_refuses_what_it_cannot_map(project: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["deploy", "render", "churn", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_rolled_back_challenger_reads_as_removed_in_the_history(project: Path) -> None:
    done = runner.invoke(app, ["deploy", "rollback", "churn", "--reason", "tickets"])
    assert done.exit_code == 0, done.output
    assert _json("deploy", "status", "churn")["aliases"] == {"champion": 1}
    history = runner.invoke(app, ["models", "history", "churn"], env={"COLUMNS": "200"})
    rollback = next(line for line in history.stdout.splitlines() if "rollback" in line)
    assert "2 removed" in rollback
    assert "None" not in history.stdout
