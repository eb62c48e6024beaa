"""Deployment specs: deploy/NAME.yaml read strictly, every mistake reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.deploy._render import render
from keel.deploy._spec import (
    DeploySpec,
    DeploySpecError,
    KeySource,
    Step,
    load_spec,
    parse_spec,
)
from keel.errors import UsageError
from keel.grammar import format_duration

FULL = """\
model: churn
champion: champion
challenger:
  alias: challenger
  mode: canary
  key: {header: X-User-Id}
  steps: [{setWeight: 10}, {pause: {duration: 2m}}, {analysis: {}}, {setWeight: 50},
          {pause: {}}, {analysis: {}}]
  analysis:
    interval: 30s
    failureLimit: 2
    minRequests: 200
    guardrails:
      errorRate: {maxIncrease: 0.02}
      latencyP99: {maxRatio: 1.5}
      predictionDrift: false
      metric: {name: accuracy, alpha: 0.05, margin: 0.01}
  promotion: manual
inputs: {checks: warn}
batching: {maxBatchSize: 32, maxWaitMs: 5}
admin: {tokenEnv: CHURN_TOKEN}
feedback: {tokenEnv: CHURN_FEEDBACK, window: 2h}
reload: {interval: 500ms}
predictionLog: {flushInterval: 1m}
"""


def test_a_full_spec_reads_into_typed_values(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "churn.yaml").write_text(FULL)
    spec = load_spec("churn", root=tmp_path)
    assert spec.source == "deploy/churn.yaml"
    assert (spec.inputs_mode, spec.max_batch_size, spec.max_wait_ms) == ("warn", 32, 5.0)
    assert (spec.admin_token_env, spec.reload_interval, spec.log_flush_interval) == (
        "CHURN_TOKEN",
        0.5,
        60.0,
    )
    assert (spec.feedback_token_env, spec.feedback_window) == ("CHURN_FEEDBACK", 7200.0)
    challenger = spec.challenger
    assert challenger is not None
    assert (challenger.mode, challenger.promotion) == ("canary", "manual")
    assert challenger.key == KeySource(header="X-User-Id")
    assert challenger.steps == (
        Step("setWeight", weight=10),
        Step("pause", duration=120.0),
        Step("analysis"),
        Step("setWeight", weight=50),
        Step("pause"),
        Step("analysis"),
    )
    analysis = challenger.analysis
    assert (analysis.interval, analysis.failure_limit, analysis.min_requests) == (30.0, 2, 200)
    rules = analysis.guardrails
    assert rules.error_rate_max_increase == 0.02
    assert rules.prediction_drift_max is None  # switched off
    assert rules.metric is not None
    assert (rules.metric.name, rules.metric.margin) == ("accuracy", 0.01)


def test_the_written_form_reads_back_to_the_same_spec() -> None:
    spec = parse_spec(FULL, name="churn")
    again = parse_spec(yaml.safe_dump(spec.to_dict()), name="churn")
    assert again == spec


def test_every_duration_reads_the_one_grammar_and_argo_gets_hours() -> None:
    spec = parse_spec(
        "challenger:\n"
        "  steps: [{pause: {duration: 15m}}, {pause: {duration: 1w}}, {pause: {duration: '90'}}]\n"
        "  analysis: {interval: 250ms}\n"
        "feedback: {window: 1w}\n"
        "reload: {interval: 15m}\n"
        "predictionLog: {flushInterval: 250ms}\n",
        name="churn",
    )
    assert spec.challenger is not None
    assert [s.duration for s in spec.challenger.steps] == [900.0, 604_800.0, 90.0]
    assert spec.challenger.analysis.interval == 0.25
    assert (spec.feedback_window, spec.reload_interval) == (604_800.0, 900.0)
    assert spec.log_flush_interval == 0.25
    written = spec.to_dict()
    assert written["challenger"]["steps"][1] == {"pause": {"duration": "1w"}}
    assert written["feedback"]["window"] == "1w"
    rollout, *_, analysis = render(spec, to="argo-rollouts", image="keel-churn:1")
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert [s["pause"]["duration"] for s in steps] == ["15m", "168h", "90s"]  # Go has no d, w
    assert analysis["spec"]["metrics"][0]["interval"] == "250ms"


def test_without_a_file_the_champion_is_served_alone(tmp_path: Path) -> None:
    spec = load_spec("churn", root=tmp_path)
    assert spec == DeploySpec(name="churn")
    assert spec.challenger is None
    assert (spec.champion, spec.inputs_mode, spec.max_batch_size) == ("champion", "reject", 64)
    assert (spec.max_wait_ms, spec.admin_token_env) == (2.0, "KEEL_ADMIN_TOKEN")
    assert (spec.feedback_token_env, spec.feedback_window) == ("KEEL_FEEDBACK_TOKEN", 86400.0)


def test_defaults_fill_a_minimal_challenger() -> None:
    spec = parse_spec("challenger: {mode: shadow, shadowFraction: 0.25}", name="churn")
    challenger = spec.challenger
    assert challenger is not None
    assert (challenger.alias, challenger.shadow_fraction) == ("challenger", 0.25)
    assert [s.kind for s in challenger.steps] == ["pause", "analysis"]
    assert challenger.analysis.guardrails.error_rate_max_increase == 0.01
    assert challenger.analysis.guardrails.metric is None
    canary = parse_spec("challenger: {}", name="churn").challenger
    assert canary is not None
    assert [s.weight for s in canary.steps if s.kind == "setWeight"] == [10, 50]


def test_every_mistake_is_reported_at_once_with_line_key_and_what_is_allowed(
    tmp_path: Path,
) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "churn.yaml").write_text(
        "model: churn\n"
        "champion: champion\n"
        "challenger:\n"
        "  mode: blue\n"
        "  steps: [{setWeight: 120}, {wait: 1}, {pause: {duration: soon}}]\n"
        "  analysis: {interval: x, failureLimit: -1, guardrails: {errorRate: {max: 1}}}\n"
        "inputs: {checks: maybe}\n"
        "batching: {maxBatchSize: 0}\n"
        "replicas: 3\n"
    )
    with pytest.raises(DeploySpecError) as caught:
        load_spec("churn", root=tmp_path)
    error = caught.value
    assert isinstance(error, UsageError)
    assert "deploy/churn.yaml" in error.message
    text = "\n".join(map(str, error.problems))
    assert len(error.problems) == 10, text
    for expected in (
        "deploy/churn.yaml:4: challenger.mode: 'blue' is not allowed; allowed: shadow, canary",
        "churn.yaml:5: challenger.steps[0].setWeight: expected an integer >= 0 and <= 100; got 120",
        "challenger.steps[1]: a step is one of {setWeight: 0-100}",
        "challenger.steps[2].pause.duration: expected a duration such as 30s",
        "challenger.analysis.interval",
        "challenger.analysis.failureLimit: expected an integer >= 0; got -1",
        "challenger.analysis.guardrails.errorRate.max: unknown key; allowed: maxIncrease",
        "churn.yaml:7: inputs.checks: 'maybe' is not allowed; allowed: reject, warn",
        "churn.yaml:8: batching.maxBatchSize: expected an integer >= 1 and <= 100000; got 0",
        "churn.yaml:9: replicas: unknown key",
    ):
        assert expected in text
    lines = [p.line for p in error.problems]
    assert lines == sorted(lines)  # in file order
    assert all(str(p) in error.message for p in error.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model: fraud\n", "this file deploys model 'churn'"),
        ("champion: a\nchampion: b\n", "champion: duplicate key"),
        ("challenger: {mode: shadow, steps: [{setWeight: 5}]}", "no meaning in mode: shadow"),
        ("challenger: {mode: canary, shadowFraction: 0.5}", "applies to mode: shadow only"),
        ("challenger: {alias: champion}", "must differ from the champion alias"),
        ("challenger: {key: {header: A, column: b}}", "exactly one of header: NAME or column"),
        (
            "challenger: {analysis: {guardrails: {metric: {name: auc}}}}",
            "use one of accuracy, mae, mse",
        ),
        ("challenger: [1, 2]", "challenger: expected a mapping"),
        ("champion: [unclosed\n", "invalid YAML"),
        ("challenger: {analysis: {successCondition: x}}", "take the place of Argo's metric"),
        ("challenger: {analysis: {threshold: 2}}", "Flagger's threshold is failureLimit"),
        ("- just\n- a list\n", "expected a mapping"),
        ("feedback: {window: 0s}", "feedback.window: must be longer than 0s"),
        ("feedback: {token: s3cret}", "feedback.token: unknown key"),
    ],
)
def test_specific_mistakes_are_named(text: str, expected: str) -> None:
    with pytest.raises(DeploySpecError, match=r"deploy/churn\.yaml") as caught:
        parse_spec(text, name="churn", source="deploy/churn.yaml")
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems


def test_a_misnamed_file_is_not_silently_ignored(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "churn.yml").write_text("champion: champion\n")
    with pytest.raises(UsageError, match=r"churn\.yml is ignored"):
        load_spec("churn", root=tmp_path)


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=4),
    pause=st.one_of(st.none(), st.integers(0, 10**6).map(lambda ms: ms / 1000)),
    interval=st.sampled_from([0.25, 1.0, 30.0, 90.0, 3600.0, 7200.0]),
)
def test_durations_and_steps_survive_writing_and_reading(
    weights: list[int], pause: float | None, interval: float
) -> None:
    steps: list[dict[str, object]] = []
    for w in weights:
        steps += [{"setWeight": w}, {"pause": {} if pause is None else {"duration": pause}}]
    text = yaml.safe_dump({"challenger": {"steps": steps, "analysis": {"interval": interval}}})
    spec = parse_spec(text, name="m")
    assert spec.challenger is not None
    assert spec.challenger.analysis.interval == interval
    assert parse_spec(yaml.safe_dump(spec.to_dict()), name="m") == spec
    assert format_duration(interval) in {"250ms", "1s", "30s", "90s", "1h", "2h"}
