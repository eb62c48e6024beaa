"""Gate policies: reading gate.yaml with helpful errors, and evaluating a candidate."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from keel.errors import InvalidFileError, UsageError
from keel.registry._policy import (
    Check,
    GatePolicy,
    GateResult,
    MetricRule,
    SliceRule,
    run_gate,
)

Array = npt.NDArray[Any]

EXAMPLE = """\
confidence: 0.9
metrics:
  auc:
    min: 0.70
    min_delta: -0.01
    significance: non-inferior
  log_loss:
    max: 0.6
slices:
  columns: [state]
  metric: auc
  max_drop: 0.05
  min_rows: 50
contract: true
"""


# -- reading ---------------------------------------------------------------------------------
def test_the_documented_example_reads() -> None:
    policy = GatePolicy.from_yaml(EXAMPLE)
    assert policy == GatePolicy(
        metrics=(
            MetricRule("auc", min=0.7, min_delta=-0.01, significance="non-inferior"),
            MetricRule("log_loss", max=0.6),
        ),
        slices=SliceRule(("state",), "auc", 0.05, 50),
        contract=True,
        confidence=0.9,
    )
    assert GatePolicy.from_dict(policy.to_dict()) == policy
    assert json.loads(json.dumps(policy.to_dict())) == policy.to_dict()


def test_defaults() -> None:
    policy = GatePolicy.from_yaml("metrics:\n  rmse:\n    max: 3\n")
    assert policy.confidence == 0.95
    assert policy.contract is True
    assert policy.slices is None
    assert policy.metrics == (MetricRule("rmse", max=3.0),)
    sliced = GatePolicy.from_yaml("slices:\n  columns: state\n  metric: auc\n  max_drop: 0.1\n")
    assert sliced.slices == SliceRule(("state",), "auc", 0.1, 50)
    assert GatePolicy.from_yaml("contract: true").metrics == ()


def test_default_policies() -> None:
    classification = GatePolicy.default("classification")
    assert classification.metrics == (
        MetricRule("auc", min_delta=-0.01, significance="non-inferior"),
    )
    regression = GatePolicy.default("regression")
    assert regression.metrics == (
        MetricRule("rmse", min_relative_delta=-0.02, significance="non-inferior"),
    )
    assert classification.contract
    assert regression.contract
    with pytest.raises(UsageError, match="unknown task"):
        GatePolicy.default("ranking")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "metric:\n  auc: {min: 0.7}\n",
            r"gate\.yaml:1: metric: unknown key \(did you mean 'metrics'\?\)",
        ),
        (
            "metrics:\n  auc:\n    min: 0.7\n    min_detla: -0.01\n",
            r":4: metrics\.auc\.min_detla: unknown key \(did you mean 'min_delta'\?\)",
        ),
        ("metrics:\n  auc:\n    min: high\n", r":3: metrics\.auc\.min: expected a number"),
        (
            "metrics:\n  auc:\n    significance: noninferior\n",
            r"^gate\.yaml:3: metrics\.auc\.significance: unknown significance 'noninferior'",
        ),
        ("metrics:\n  auc:\n    min: 0.9\n    max: 0.8\n", r":2: metrics\.auc: min 0\.9"),
        ("metrics:\n  auc: {}\n", r":2: metrics\.auc: states no rule"),
        (
            "confidence: 95\nmetrics:\n  auc: {min: 0.7}\n",
            r":1: confidence: expected a number > 0 and < 1; got 95",
        ),
        ("contract: yes please\n", r":1: contract: expected true or false"),
        (
            "metrics:\n  auc: {min: 0.7}\n  rmse: {max: 3}\n",
            r":1: metrics: mixes classification and regression metrics \(auc, rmse\)",
        ),
        (
            "metrics:\n  auc: {min: 0.7}\nslices:\n  columns: [state]\n  metric: auc\n",
            r":3: slices: missing the required key 'max_drop'",
        ),
        (
            "slices:\n  columns: []\n  metric: auc\n  max_drop: 0.1\n",
            r":2: slices\.columns: expected a list of column names",
        ),
        (
            "slices:\n  columns: [a]\n  metric: auc\n  max_drop: 0.1\n  min_rows: 0\n",
            r":5: slices\.min_rows: expected an integer >= 1; got 0",
        ),
        (
            "slices:\n  columns: [a]\n  metric: auc\n  max_drop: -0.1\n",
            r":4: slices\.max_drop: expected a number >= 0; got -0\.1",
        ),
        ("metrics:\n  auc: {min: 0.7}\n  auc: {min: 0.8}\n", r":3: metrics\.auc: duplicate key"),
        ("metrics:\n  auc:\n    min: [0.7\n", r"gate\.yaml:4: invalid YAML"),
        ("contract: false\n", r"gate\.yaml:1: the gate policy checks nothing"),
        ("", r"gate\.yaml: the gate policy is empty"),
        ("- auc\n", r"gate\.yaml:1: expected a mapping; got a list"),
    ],
)
def test_mistakes_name_the_line_and_the_key(text: str, expected: str) -> None:
    with pytest.raises(UsageError, match=expected):
        GatePolicy.from_yaml(text, source="gate.yaml")


def test_unknown_names_get_a_suggestion() -> None:
    with pytest.raises(UsageError) as info:
        GatePolicy.from_yaml("metrics:\n  acu:\n    min: 0.7\n", source="gate.yaml")
    assert "gate.yaml:2: metrics.acu: unknown metric 'acu'." in str(info.value)
    assert "Did you mean 'auc'?" in str(info.value)
    assert "Known: accuracy, auc, ece" in str(info.value)
    with pytest.raises(UsageError, match="did you mean 'metrics'"):
        GatePolicy.from_yaml("metric: {}\n")
    with pytest.raises(UsageError, match="did you mean 'non-inferior'"):
        GatePolicy.from_yaml("metrics:\n  auc: {significance: non_inferior}\n")
    with pytest.raises(UsageError, match=r":4: slices\.metric: unknown metric 'rsme'"):
        GatePolicy.from_yaml("slices:\n  columns: [a]\n  max_drop: 1\n  metric: rsme\n")


def test_every_mistake_is_reported_at_once_with_its_line() -> None:
    text = "confidence: 2\nmetrics:\n  auc: {min: high}\n  acu: {min: 0.7}\ncontract: maybe\n"
    with pytest.raises(InvalidFileError) as caught:
        GatePolicy.from_yaml(text, source="gate.yaml")
    error = caught.value
    assert isinstance(error, UsageError)
    assert [(p.line, p.key) for p in error.problems] == [
        (1, "confidence"),
        (3, "metrics.auc.min"),
        (4, "metrics.acu"),
        (5, "contract"),
    ]
    assert "gate.yaml is not a valid gate policy (4 problems)" in error.message
    assert "gate.yaml:5: contract: expected true or false; got text 'maybe'" in error.message


def test_exponent_without_a_dot_gets_a_hint() -> None:
    with pytest.raises(UsageError, match=r"write 0\.01 or 1\.0e-2"):
        GatePolicy.from_yaml("metrics:\n  auc:\n    min_delta: 1e-2\n")


def test_from_dict_errors_name_the_source_and_key() -> None:
    with pytest.raises(UsageError, match=r"^policy of churn: metrics\.auc\.max: expected a number"):
        GatePolicy.from_dict({"metrics": {"auc": {"max": "x"}}}, source="policy of churn")


# -- running ---------------------------------------------------------------------------------
def _sigmoid(x: Array) -> Array:
    result: Array = 1 / (1 + np.exp(-x))
    return result


def _data(n: int = 1200, seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    noise = rng.normal(0, 1, n)
    return {
        "y": y,
        "state": rng.choice(np.array(["CA", "NY", "TX"]), n),
        "income": rng.normal(50_000, 10_000, n),
        "base": _sigmoid(0.6 * (2 * y - 1) + noise),  # AUC about 0.80
        "better": _sigmoid(0.9 * (2 * y - 1) + 0.6 * noise + rng.normal(0, 0.6, n)),  # 0.93
        "worse": _sigmoid(0.3 * (2 * y - 1) + noise),  # 0.66
    }


def _gate(
    policy: GatePolicy, data: dict[str, Array], cand: str, base: str | None = "base", **kw: Any
) -> GateResult:
    return run_gate(
        policy,
        data["y"],
        cand_pred=(data[cand] > 0.5).astype(int),
        cand_score=data[cand],
        base_pred=None if base is None else (data[base] > 0.5).astype(int),
        base_score=None if base is None else data[base],
        **kw,
    )


def _by_name(result: GateResult) -> dict[str, Check]:
    return {check.name: check for check in result.checks}


def test_a_better_candidate_passes() -> None:
    data = _data()
    policy = GatePolicy.from_yaml(EXAMPLE.replace("max: 0.6", "max: 0.9"))
    result = _gate(policy, data, "better", slices={"state": data["state"]}, contract_ok=True)
    assert result.passed, [c.detail for c in result.failures]
    checks = _by_name(result)
    assert list(checks) == [
        "contract",
        "auc.min",
        "auc.min_delta",
        "auc.significance",
        "log_loss.max",
        "slices",
    ]
    assert checks["auc.min"].detail.startswith("auc 0.9")
    assert ">= 0.700" in checks["auc.min"].detail
    significance = checks["auc.significance"].detail
    assert "(90% CI +" in significance
    assert "DeLong p=" in significance
    assert significance.endswith(": non-inferior with margin 0.010")
    assert checks["auc.significance"].data["method"] == "delong"


def test_a_worse_candidate_fails_and_names_the_failing_checks() -> None:
    data = _data()
    policy = GatePolicy.from_yaml("metrics:\n  auc:\n    min_delta: -0.01\n")
    result = _gate(policy, data, "worse")
    assert not result.passed
    assert [check.name for check in result.failures] == ["auc.min_delta"]
    detail = result.failures[0].detail
    assert detail.startswith("auc improvement -0.")
    assert "< -0.010 (candidate 0." in detail


def test_absolute_thresholds_fail_on_their_own() -> None:
    data = _data()
    policy = GatePolicy.from_yaml("metrics:\n  auc: {min: 0.99}\n  log_loss: {max: 0.01}\n")
    result = _gate(policy, data, "better")
    assert [c.name for c in result.failures] == ["auc.min", "log_loss.max"]
    assert " < 0.990" in result.failures[0].detail
    assert " > 0.010" in result.failures[1].detail


def test_significance_modes() -> None:
    data = _data(n=400)
    same = {**data, "same": data["base"].copy()}
    slightly = {**data, "slightly": _sigmoid(np.log(data["base"] / (1 - data["base"])) * 1.02)}

    def significance(mode: str, cand: str, rows: dict[str, Array], margin: str = "") -> Check:
        text = f"metrics:\n  auc:\n    significance: {mode}\n{margin}"
        return _by_name(_gate(GatePolicy.from_yaml(text), rows, cand))["auc.significance"]

    # the same model: not better, but non-inferior even with no margin
    assert not significance("better", "same", same).passed
    assert "not shown better" in significance("better", "same", same).detail
    assert significance("non-inferior", "same", same).passed
    # clearly better: both
    assert significance("better", "better", data).passed
    assert significance("non-inferior", "better", data).passed
    # clearly worse: neither, even with a small margin
    worse = significance("non-inferior", "worse", data, "    min_delta: -0.01\n")
    assert not worse.passed
    assert "not shown non-inferior with margin 0.010 (lower bound -" in worse.detail
    # a monotone rescaling has the same AUC: non-inferior, not better
    assert significance("non-inferior", "slightly", slightly).passed
    assert not significance("better", "slightly", slightly).passed
    # none: point estimates only, no significance check (the interval is still recorded)
    policy = GatePolicy.from_yaml("metrics:\n  auc: {min_delta: -1, significance: none}\n")
    result = _gate(policy, data, "worse")
    assert [c.name for c in result.checks] == ["auc.min_delta"]
    assert result.passed
    assert result.checks[0].data["improvement_high"] < 0


def test_non_inferiority_margin_follows_the_delta_rule() -> None:
    data = _data(n=300)
    noisy = {**data, "noisy": _sigmoid(np.log(data["base"] / (1 - data["base"])) + 0.8)}
    noisy["noisy"] = np.clip(noisy["noisy"] + np.random.default_rng(9).normal(0, 0.08, 300), 0, 1)

    def check(margin: float) -> Check:
        policy = GatePolicy.from_dict(
            {"metrics": {"auc": {"min_delta": -margin, "significance": "non-inferior"}}}
        )
        return _by_name(_gate(policy, noisy, "noisy"))["auc.significance"]

    tight, loose = check(0.0), check(0.2)
    assert tight.data["margin"] == 0.0
    assert loose.data["margin"] == 0.2
    assert tight.data["improvement_low"] < 0  # this candidate is not shown as good
    assert not tight.passed
    assert loose.passed


def test_lower_is_better_metrics_use_the_improvement() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 500)
    base, cand = y + rng.normal(0, 1.0, 500), y + rng.normal(0, 0.7, 500)
    policy = GatePolicy.from_yaml(
        "metrics:\n  rmse:\n    max: 1.5\n    min_relative_delta: 0.1\n    significance: better\n"
    )
    result = run_gate(policy, y, cand_pred=cand, cand_score=None, base_pred=base)
    assert result.passed, [c.detail for c in result.failures]
    relative = _by_name(result)["rmse.min_relative_delta"]
    assert relative.data["improvement"] > 0
    assert relative.data["delta"] < 0
    assert "lower is better" in relative.detail
    assert "relative improvement +" in relative.detail
    # the other way round: the old model as the candidate fails the relative rule
    swapped = run_gate(policy, y, cand_pred=base, cand_score=None, base_pred=cand)
    assert [c.name for c in swapped.failures] == [
        "rmse.min_relative_delta",
        "rmse.significance",
    ]


def test_default_regression_policy_passes_the_same_model() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, 200)
    pred = y + rng.normal(0, 0.5, 200)
    policy = GatePolicy.default("regression")
    result = run_gate(policy, y, cand_pred=pred, cand_score=None, base_pred=pred.copy())
    assert result.passed
    assert _by_name(result)["rmse.significance"].data["improvement_low"] == 0.0


def test_no_baseline_skips_the_delta_rules_in_a_passing_check() -> None:
    data = _data()
    result = _gate(GatePolicy.from_yaml(EXAMPLE), data, "better", base=None)
    checks = _by_name(result)
    assert checks["auc.delta"].passed
    assert checks["auc.delta"].detail == "auc: no baseline (first version): delta rules skipped"
    assert checks["slices"].passed
    assert "no baseline" in checks["slices"].detail
    assert "auc.min" in checks
    assert "auc.significance" not in checks


def test_a_regression_in_one_slice_fails_only_the_slice_check() -> None:
    data = _data()
    texas = data["state"] == "TX"
    cand = data["base"].copy()
    cand[texas] = np.random.default_rng(1).uniform(0, 1, int(texas.sum()))  # TX ruined
    policy = GatePolicy.from_yaml(
        "metrics:\n  auc: {min: 0.5, min_delta: -0.5}\n"
        "slices:\n  columns: [state]\n  metric: auc\n  max_drop: 0.05\n"
    )
    result = run_gate(
        policy,
        data["y"],
        cand_pred=(cand > 0.5).astype(int),
        cand_score=cand,
        base_pred=(data["base"] > 0.5).astype(int),
        base_score=data["base"],
        slices={"state": data["state"]},
    )
    assert [c.name for c in result.failures] == ["slices"]
    check = result.failures[0]
    assert check.detail.startswith("auc dropped more than 0.050 in 1 of 3 slice(s): state=TX -0.")
    outcome = {s["slice"]: s["passed"] for s in check.data["slices"]}
    assert outcome == {"state=CA": True, "state=NY": True, "state=TX": False}


def test_numeric_slices_are_binned_and_small_slices_skipped() -> None:
    data = _data()
    state = data["state"].copy()
    state[:10] = "WY"  # ten rows: under min_rows
    policy = GatePolicy.from_yaml(
        "slices:\n  columns: [state, income]\n  metric: accuracy\n  max_drop: 0.5\n"
    )
    result = _gate(policy, data, "better", slices={"state": state, "income": data["income"]})
    check = _by_name(result)["slices"]
    assert check.passed
    labels = [s["slice"] for s in check.data["slices"]]
    assert labels[:3] == ["state=CA", "state=NY", "state=TX"]
    assert len(labels) == 7
    assert all(label.startswith("income in [") for label in labels[3:])
    assert sum(s["rows"] for s in check.data["slices"][3:]) == len(data["y"])
    assert check.data["skipped_small"] == 1
    assert "1 slice(s) under 50 rows skipped" in check.detail


def test_missing_slice_column_is_a_usage_error() -> None:
    data = _data(n=100)
    policy = GatePolicy.from_yaml("slices:\n  columns: [state]\n  metric: auc\n  max_drop: 0.1\n")
    with pytest.raises(UsageError, match="slices by 'state'") as info:
        _gate(policy, data, "better", slices={"stat": data["state"]})
    assert info.value.hint is not None
    assert "Did you mean 'stat'" in info.value.hint


def test_contract_check() -> None:
    data = _data(n=200)
    policy = GatePolicy.from_yaml("metrics:\n  auc: {min: 0.5}\n")
    broken = _gate(policy, data, "better", contract_ok=False)
    assert [c.name for c in broken.failures] == ["contract"]
    assert broken.failures[0].detail == "the candidate's input contract rejects the data"
    assert "contract" not in _by_name(_gate(policy, data, "better"))  # not checked by caller
    off = GatePolicy.from_yaml("contract: false\nmetrics:\n  auc: {min: 0.5}\n")
    assert _gate(off, data, "better", contract_ok=False).passed


def test_to_dict_is_strict_json_even_with_undefined_values() -> None:
    data = _data(n=800)
    data["state"][data["y"] == 1] = "CA"  # every positive in CA: AUC undefined elsewhere
    policy = GatePolicy.from_yaml(EXAMPLE)
    result = _gate(policy, data, "better", slices={"state": data["state"]}, contract_ok=True)
    undefined = [s for s in _by_name(result)["slices"].data["slices"] if s["slice"] != "state=CA"]
    assert len(undefined) == 2
    assert all(math.isnan(s["improvement"]) for s in undefined)
    assert "auc undefined in 2 slice(s)" in _by_name(result)["slices"].detail
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text)["passed"] is result.passed
    assert {c["name"] for c in out["checks"]} == {c.name for c in result.checks}


def test_wrong_lengths_are_usage_errors() -> None:
    policy = GatePolicy.from_yaml("metrics:\n  rmse: {max: 1}\n")
    with pytest.raises(UsageError, match="cand_pred has shape"):
        run_gate(policy, [1.0, 2.0], cand_pred=[1.0], cand_score=None)
    with pytest.raises(UsageError, match="needs cand_pred"):
        run_gate(policy, [1.0, 2.0], cand_pred=None, cand_score=[0.1, 0.2])
