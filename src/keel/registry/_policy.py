"""Gate policies: what a candidate model must show before it may replace the champion.

A policy is the ``gate.yaml`` a team commits next to its model code::

    confidence: 0.95              # of every interval; default 0.95
    metrics:
      auc:
        min: 0.70                 # absolute floor on the candidate (max: for a ceiling)
        min_delta: -0.01          # improvement over the baseline must be >= this
        significance: non-inferior
      log_loss:
        max: 0.6
    slices:                       # per-slice tolerance against the baseline
      columns: [state]
      metric: auc
      max_drop: 0.05
      min_rows: 50                # default 50; smaller slices are skipped (and counted)
    contract: true                # default true: a broken input contract fails the gate

**Direction.** Every relative rule is stated in terms of the *improvement*::

    improvement = (candidate - baseline) * (+1 if the metric is higher-is-better else -1)

so ``min_delta: -0.01`` means "at most 0.01 worse" for AUC (higher is better) and for
RMSE (lower is better) alike, and a positive ``min_delta`` demands a real gain.
``min_relative_delta`` applies to ``improvement / |baseline|`` (``-0.02``: at most 2%
worse). Absolute thresholds are plain: ``min`` is a floor and ``max`` a ceiling on the
candidate's value, whatever the metric's direction (``max`` suits log loss and RMSE; an
AUC ``max`` of 0.99 can catch a leak).

**Significance.** Point estimates on a few hundred rows are noisy, so a rule may ask for
confidence from a paired comparison on the same rows (:func:`keel.registry._stats.compare`:
DeLong for AUC, McNemar for accuracy, a paired bootstrap otherwise):

- ``none`` (default): point estimates only; the interval is still recorded.
- ``better``: the whole interval of the improvement lies above 0.
- ``non-inferior``: the interval's lower bound is at least ``-margin``, where the margin is
  ``-min_delta`` (or ``-min_relative_delta * |baseline|``) when that is negative, else 0. A
  positive ``min_delta`` is a point-estimate requirement; "non-inferior" then means "not
  shown worse" (lower bound >= 0); ask for ``better`` to require a confident gain.

With no baseline (the first version of a model) the delta, significance and slice rules
are skipped, and a passing check says so. Slices are taken one column at a time:
categorical values as they are, numeric columns with more than 10 distinct values in
quartile bins. Comparisons allow a 1e-9 rounding slack, so a drop of exactly ``max_drop``
passes.

:func:`run_gate` is pure: it takes arrays (labels, predictions, scores, slice columns)
and returns a :class:`GateResult` whose checks each carry a sentence for people and
JSON-safe data for the event log. Loading models and data, checking the contract and
recording the result are the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from keel._json import nulled
from keel.errors import UsageError, did_you_mean
from keel.grammar import Document, KeyPath, Reader, kind_of, read_yaml
from keel.models import METRICS, Metric, Task
from keel.models import metric as lookup_metric
from keel.registry._stats import PairedComparison, _inputs, compare

__all__ = [
    "Check",
    "GatePolicy",
    "GateResult",
    "MetricRule",
    "Significance",
    "SliceRule",
    "run_gate",
]

Significance = Literal["none", "better", "non-inferior"]
Array = npt.NDArray[Any]

_SLACK = 1e-9  # rounding slack on every threshold comparison
_MAX_LEVELS = 10  # numeric slice columns with more distinct values are binned
_QUARTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
_TOP_KEYS = ("confidence", "metrics", "slices", "contract")
_RULE_KEYS = ("min", "max", "min_delta", "min_relative_delta", "significance")
_SLICE_KEYS = ("columns", "metric", "max_drop", "min_rows")
_METHOD_NAMES = {"delong": "DeLong", "mcnemar": "McNemar", "paired-bootstrap": "paired bootstrap"}
_EXAMPLE = "metrics:\n  auc:\n    min: 0.70\n    min_delta: -0.01"


# -- the policy ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricRule:
    """What one metric must satisfy; ``None`` leaves a rule out (see the module docstring)."""

    metric: str
    min: float | None = None
    max: float | None = None
    min_delta: float | None = None
    min_relative_delta: float | None = None
    significance: Significance = "none"

    @property
    def compares(self) -> bool:
        """Whether the rule needs a baseline (a delta or significance rule)."""
        return (
            self.min_delta is not None
            or self.min_relative_delta is not None
            or self.significance != "none"
        )


@dataclass(frozen=True)
class SliceRule:
    """In every slice with ``min_rows`` rows, improvement on ``metric`` >= ``-max_drop``."""

    columns: tuple[str, ...]
    metric: str
    max_drop: float
    min_rows: int = 50


@dataclass(frozen=True)
class GatePolicy:
    """A gate: metric rules, an optional slice rule, the contract flag, the confidence."""

    metrics: tuple[MetricRule, ...] = ()
    slices: SliceRule | None = None
    contract: bool = True
    confidence: float = 0.95

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "gate policy") -> GatePolicy:
        """Read a policy from YAML; every mistake is reported at once with its line and key."""
        return _read(read_yaml(text, source, what=_WHAT))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "gate policy") -> GatePolicy:
        """Build a policy from plain data in the ``gate.yaml`` form."""
        return _read(Document(source, data))

    @classmethod
    def default(cls, task: Task) -> GatePolicy:
        """The policy used without a ``gate.yaml``.

        Classification: AUC at most 0.01 worse than the baseline and shown non-inferior
        with that margin. Regression: RMSE at most 2% worse (``min_relative_delta: -0.02``
        on the improvement ``baseline - candidate``) and shown non-inferior with a margin
        of 2% of the baseline's RMSE. Both keep the contract check.
        """
        if task == "classification":
            rule = MetricRule("auc", min_delta=-0.01, significance="non-inferior")
        elif task == "regression":
            rule = MetricRule("rmse", min_relative_delta=-0.02, significance="non-inferior")
        else:
            raise UsageError(
                f"unknown task {task!r}.", hint=did_you_mean(str(task), get_args(Task))
            )
        return cls(metrics=(rule,))

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data in the ``gate.yaml`` form (``from_dict`` reads it back)."""
        metrics: dict[str, Any] = {}
        for rule in self.metrics:
            entry = {key: getattr(rule, key) for key in _RULE_KEYS}
            metrics[rule.metric] = {
                k: v
                for k, v in entry.items()
                if v is not None and (k, v) != ("significance", "none")
            }
        out: dict[str, Any] = {"confidence": self.confidence, "metrics": metrics}
        if self.slices is not None:
            rule_ = self.slices
            out["slices"] = {
                "columns": list(rule_.columns),
                "metric": rule_.metric,
                "max_drop": rule_.max_drop,
                "min_rows": rule_.min_rows,
            }
        out["contract"] = self.contract
        return out


# -- reading ---------------------------------------------------------------------------------
_WHAT = "gate policy"


def _start_hint() -> str:
    return f"A gate policy is a mapping, for example:\n{_EXAMPLE}"


def _read(document: Document) -> GatePolicy:
    reader = _Reader(document, what=_WHAT, hint="docs/models.md lists every key of gate.yaml.")
    policy = reader.policy(document.data)
    reader.finish()
    assert policy is not None
    return policy


class _Reader(Reader):
    """Turns plain data into a policy, collecting every mistake with its line and key."""

    def metric(self, data: Mapping[Any, Any], key: str, path: KeyPath) -> str | None:
        """A metric name of the vocabulary; ``None`` (and the vocabulary's own error, placed
        at its line and key) for any other."""
        try:
            return lookup_metric(data.get(key)).name
        except UsageError as exc:
            self.problem((*path, key), exc.message, hint=exc.hint or "")
            return None

    def policy(self, data: Any) -> GatePolicy | None:
        if data is None:
            self.problem((), "the gate policy is empty", hint=_start_hint())
            return None
        top = self.mapping(data, (), _TOP_KEYS)
        if top is None:
            return None
        confidence = self.number(
            top, "confidence", (), 0.95, low=0, high=1, open_low=True, open_high=True
        )
        contract = self.boolean(top, "contract", (), True)
        metrics = self.metric_rules(top.get("metrics"))
        slices = None if top.get("slices") is None else self.slice_rule(top["slices"])
        if not self.problems and not metrics and slices is None and not contract:
            self.problem((), "the gate policy checks nothing", hint=_start_hint())
        return GatePolicy(metrics, slices, contract, confidence)

    def metric_rules(self, data: Any) -> tuple[MetricRule, ...]:
        body = self.mapping(data, ("metrics",), None) or {}
        rules = []
        for name in body:
            if self.metric({name: name}, name, ("metrics",)):
                rule = self.metric_rule(name, body[name])
                rules.extend([] if rule is None else [rule])
        tasks = {METRICS[rule.metric].task: rule.metric for rule in rules}
        if len(tasks) > 1:
            names = ", ".join(sorted(tasks.values()))
            self.problem(
                ("metrics",),
                f"mixes classification and regression metrics ({names})",
                hint="A gate compares models of one task; keep the metrics of that task.",
            )
        return tuple(rules)

    def metric_rule(self, name: str, data: Any) -> MetricRule | None:
        path = ("metrics", name)
        before = len(self.problems)
        body = self.mapping(data, path, _RULE_KEYS)
        if body is None:
            return None
        bounds = {
            key: None if body.get(key) is None else self.number(body, key, path, math.nan)
            for key in _RULE_KEYS[:-1]
        }
        significance = "none"
        if body.get("significance") is not None:
            allowed = get_args(Significance)
            significance = self.choice(
                body, "significance", path, allowed, "none", what="significance"
            )
        rule = MetricRule(name, significance=cast(Significance, significance), **bounds)
        if rule.min is not None and rule.max is not None and rule.min > rule.max:
            self.problem(path, f"min {rule.min} is above max {rule.max}", hint="Swap them.")
        stated = rule.min is not None or rule.max is not None or rule.compares
        if not stated and len(self.problems) == before:  # a wrong key may have been the rule
            self.problem(
                path,
                "states no rule",
                hint="Give min or max, min_delta or min_relative_delta, or significance.",
            )
        return rule

    def slice_rule(self, data: Any) -> SliceRule | None:
        path = ("slices",)
        body = self.mapping(data, path, _SLICE_KEYS)
        if body is None:
            return None
        present = [self.require(body, key, path) for key in _SLICE_KEYS[:3]]  # each reported
        if not all(present):
            return None
        columns = body["columns"]
        if isinstance(columns, str):
            columns = [columns]
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) for c in columns)
        ):
            self.problem(
                (*path, "columns"),
                f"expected a list of column names; got {kind_of(columns)}",
                hint="Write columns: [state] or columns: [state, channel].",
            )
        max_drop = self.number(body, "max_drop", path, 0.0, low=0)
        min_rows = int(self.number(body, "min_rows", path, 50, low=1, integer=True))
        metric = self.metric(body, "metric", path)
        if metric is None:
            return None
        return SliceRule(tuple(columns), metric, max_drop, min_rows)


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One verdict of a gate: a name, whether it passed, a sentence, and JSON-safe data."""

    name: str
    passed: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict, the one result type of every gate: every check, and ``passed`` when
    all passed (exit 0 in CI, else 1).

    :func:`keel.registry.gate` also says what it compared: the ``model``, the ``candidate``
    version, the ``baseline`` version the alias ``against`` named (``None``: no baseline,
    the delta rules were skipped) and whether the candidate was ``promoted``. A result of
    the checks alone (:func:`run_gate`, a gate event's ``detail``) leaves ``model`` ``None``.
    """

    passed: bool
    checks: tuple[Check, ...]
    model: str | None = None
    candidate: int | None = None
    baseline: int | None = None
    against: str | None = None
    promoted: bool = False

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data (``nan`` becomes ``None``): ``passed`` and ``checks``
        (the event log's shape), after ``model``, ``candidate``, ``baseline``, ``against``
        and ``promoted`` when the result names what it compared (``keel models gate
        --format json``)."""
        named = (
            {}
            if self.model is None
            else {
                "model": self.model,
                "candidate": self.candidate,
                "baseline": self.baseline,
                "against": self.against,
                "promoted": self.promoted,
            }
        )
        return named | {
            "passed": self.passed,
            "checks": [
                {
                    "name": check.name,
                    "passed": check.passed,
                    "detail": check.detail,
                    "data": nulled(check.data),
                }
                for check in self.checks
            ],
        }

    def _subject(self) -> str:
        if self.model is None:
            return "gate"
        baseline = (
            f" against {self.against} (version {self.baseline})"
            if self.baseline is not None
            else " (no baseline)"
        )
        return f"gate of {self.model} version {self.candidate}{baseline}"

    def __repr__(self) -> str:
        if self.passed:
            verdict = f"passed all {len(self.checks)} checks"
        else:
            names = ", ".join(c.name for c in self.failures)
            verdict = f"FAILED {len(self.failures)} of {len(self.checks)} checks ({names})"
        promoted = "; promoted" if self.promoted else ""
        return f"<GateResult {self._subject()}: {verdict}{promoted}>"

    def to_html(self, *, title: str | None = None) -> str:
        """The verdict as a self-contained HTML page: every check, failed ones first."""
        from keel._html import facts, page, table

        verdict = "PASSED" if self.passed else f"FAILED: {len(self.failures)} check(s) failed"
        promoted = " · promoted" if self.promoted else ""
        rows = [
            (c.name, "passed" if c.passed else "FAILED", c.detail)
            for c in sorted(self.checks, key=lambda c: c.passed)
        ]
        return page(
            title or self._subject().capitalize(),
            [
                facts(f"{verdict} · {len(self.checks)} checks{promoted}"),
                table(("check", "status", "detail"), rows),
            ],
        )

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())


# -- running ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Model:
    pred: Array | None
    score: Array | None


@dataclass(frozen=True)
class _Context:
    y: Array
    cand: _Model
    base: _Model | None
    confidence: float
    seed: int


def run_gate(
    policy: GatePolicy,
    y_true: npt.ArrayLike,
    *,
    cand_pred: npt.ArrayLike | None,
    cand_score: npt.ArrayLike | None,
    base_pred: npt.ArrayLike | None = None,
    base_score: npt.ArrayLike | None = None,
    slices: Mapping[str, npt.ArrayLike] | None = None,
    contract_ok: bool | None = None,
    seed: int = 0,
) -> GateResult:
    """Check a candidate against ``policy`` (and a baseline, when given) on the same rows.

    ``contract_ok`` is the caller's verdict on the candidate's input contract; ``None``
    (not checked) adds no check. ``slices`` maps each slice column to its row values.
    """
    y = np.asarray(y_true)
    cand = _Model(*_as_arrays(cand_pred, cand_score, len(y), "cand"))
    has_base = base_pred is not None or base_score is not None
    base = _Model(*_as_arrays(base_pred, base_score, len(y), "base")) if has_base else None
    ctx = _Context(y, cand, base, policy.confidence, seed)
    checks: list[Check] = []
    if policy.contract and contract_ok is not None:
        checks.append(_contract_check(contract_ok))
    for rule in policy.metrics:
        checks.extend(_metric_checks(rule, ctx))
    if policy.slices is not None:
        checks.append(_slice_check(policy.slices, ctx, slices))
    return GateResult(all(check.passed for check in checks), tuple(checks))


def _as_arrays(
    pred: npt.ArrayLike | None, score: npt.ArrayLike | None, length: int, who: str
) -> tuple[Array | None, Array | None]:
    arrays = []
    for kind, values in (("pred", pred), ("score", score)):
        array = None if values is None else np.asarray(values)
        if array is not None and (array.ndim != 1 or len(array) != length):
            raise UsageError(
                f"{who}_{kind} has shape {array.shape} but y_true has {length} rows.",
                hint="Score both models on the same rows, one value per row.",
            )
        arrays.append(array)
    return arrays[0], arrays[1]


def _contract_check(ok: bool) -> Check:
    verdict = "accepts" if ok else "rejects"
    return Check("contract", ok, f"the candidate's input contract {verdict} the data", {})


def _metric_checks(rule: MetricRule, ctx: _Context) -> list[Check]:
    spec = METRICS[rule.metric]
    value = spec.fn(ctx.y, *_inputs(spec, "cand", ctx.cand.pred, ctx.cand.score, len(ctx.y)))
    checks = [
        _threshold_check(spec, value, bound, kind)
        for kind, bound in (("min", rule.min), ("max", rule.max))
        if bound is not None
    ]
    if not rule.compares:
        return checks
    if ctx.base is None:
        detail = f"{spec.name}: no baseline (first version): delta rules skipped"
        return [*checks, Check(f"{spec.name}.delta", True, detail, {"baseline": None})]
    comparison = compare(
        spec.name,
        ctx.y,
        base_pred=ctx.base.pred,
        base_score=ctx.base.score,
        cand_pred=ctx.cand.pred,
        cand_score=ctx.cand.score,
        confidence=ctx.confidence,
        seed=ctx.seed,
    )
    delta = _Delta(spec, comparison, ctx.confidence)
    if rule.min_delta is not None:
        checks.append(delta.absolute_check(rule.min_delta))
    if rule.min_relative_delta is not None:
        checks.append(delta.relative_check(rule.min_relative_delta))
    if rule.significance != "none":
        checks.append(delta.significance_check(rule))
    return checks


def _threshold_check(spec: Metric, value: float, bound: float, kind: str) -> Check:
    data = {"metric": spec.name, "value": value, kind: bound}
    name = f"{spec.name}.{kind}"
    if math.isnan(value):
        return Check(name, False, f"{spec.name} is undefined on these rows", data)
    passed = value >= bound - _SLACK if kind == "min" else value <= bound + _SLACK
    sign = (">=" if passed else "<") if kind == "min" else ("<=" if passed else ">")
    return Check(name, passed, f"{spec.name} {_num(value)} {sign} {_num(bound)}", data)


@dataclass(frozen=True)
class _Delta:
    """A comparison seen in the metric's good direction."""

    spec: Metric
    comparison: PairedComparison
    confidence: float

    @property
    def sign(self) -> int:
        return 1 if self.spec.higher_is_better else -1

    @property
    def improvement(self) -> float:
        return self.comparison.delta * self.sign

    @property
    def interval(self) -> tuple[float, float]:
        low, high = self.comparison.low * self.sign, self.comparison.high * self.sign
        return (min(low, high), max(low, high)) if self.sign < 0 else (low, high)

    @property
    def values(self) -> str:
        c = self.comparison
        direction = "" if self.spec.higher_is_better else "; lower is better"
        return f"candidate {_num(c.candidate)}, baseline {_num(c.baseline)}{direction}"

    def data(self, **extra: Any) -> dict[str, Any]:
        low, high = self.interval
        c = self.comparison
        return {
            "metric": c.metric,
            "baseline": c.baseline,
            "candidate": c.candidate,
            "delta": c.delta,
            "improvement": self.improvement,
            "improvement_low": low,
            "improvement_high": high,
            "confidence": self.confidence,
            "p_value": c.p_value,
            "method": c.method,
            **extra,
        }

    def absolute_check(self, min_delta: float) -> Check:
        name = f"{self.spec.name}.min_delta"
        data = self.data(min_delta=min_delta)
        if math.isnan(self.improvement):
            return Check(name, False, f"{self.spec.name} is undefined on these rows", data)
        passed = self.improvement >= min_delta - _SLACK
        sign = ">=" if passed else "<"
        detail = (
            f"{self.spec.name} improvement {_signed(self.improvement)} {sign} "
            f"{_signed(min_delta)} ({self.values})"
        )
        return Check(name, passed, detail, data)

    def relative_check(self, min_relative: float) -> Check:
        name = f"{self.spec.name}.min_relative_delta"
        relative = _relative(self.improvement, self.comparison.baseline)
        data = self.data(min_relative_delta=min_relative, relative_improvement=relative)
        if math.isnan(relative):
            return Check(name, False, f"{self.spec.name} is undefined on these rows", data)
        passed = relative >= min_relative - _SLACK
        sign = ">=" if passed else "<"
        detail = (
            f"{self.spec.name} relative improvement {relative:+.1%} {sign} "
            f"{min_relative:+.1%} ({self.values})"
        )
        return Check(name, passed, detail, data)

    def significance_check(self, rule: MetricRule) -> Check:
        name = f"{self.spec.name}.significance"
        low, high = self.interval
        c = self.comparison
        p_text = "" if c.p_value is None else f" p={c.p_value:.2g}"
        summary = (
            f"{self.spec.name} improvement {_signed(self.improvement)} "
            f"({self.confidence:.0%} CI {_signed(low)} to {_signed(high)}, "
            f"{_METHOD_NAMES.get(c.method, c.method)}{p_text})"
        )
        if rule.significance == "better":
            passed = low > 0
            verdict = "better" if passed else "not shown better (the interval reaches 0)"
            data = self.data(significance="better")
        else:
            margin = self._margin(rule)
            passed = low >= -margin - _SLACK
            verdict = f"non-inferior with margin {_num(margin)}"
            if not passed:
                verdict = f"not shown {verdict} (lower bound {_signed(low)} < {_signed(-margin)})"
            data = self.data(significance="non-inferior", margin=margin)
        if math.isnan(low):
            passed, verdict = False, "the interval is undefined on these rows"
        return Check(name, passed, f"{summary}: {verdict}", data)

    def _margin(self, rule: MetricRule) -> float:
        if rule.min_delta is not None:
            return max(-rule.min_delta, 0.0)
        if rule.min_relative_delta is not None:
            return max(-rule.min_relative_delta, 0.0) * abs(self.comparison.baseline)
        return 0.0


def _relative(improvement: float, baseline: float) -> float:
    if math.isnan(improvement) or math.isnan(baseline):
        return math.nan
    if baseline == 0:
        return 0.0 if improvement == 0 else math.copysign(math.inf, improvement)
    return improvement / abs(baseline)


# -- slices ----------------------------------------------------------------------------------
def _slice_check(
    rule: SliceRule, ctx: _Context, columns: Mapping[str, npt.ArrayLike] | None
) -> Check:
    spec = METRICS[rule.metric]
    settings = {"metric": spec.name, "max_drop": rule.max_drop, "min_rows": rule.min_rows}
    if ctx.base is None:
        detail = "slices: no baseline (first version): slice rule skipped"
        return Check("slices", True, detail, {**settings, "baseline": None})
    cand = _inputs(spec, "cand", ctx.cand.pred, ctx.cand.score, len(ctx.y))
    base = _inputs(spec, "base", ctx.base.pred, ctx.base.score, len(ctx.y))
    sign = 1 if spec.higher_is_better else -1
    results: list[dict[str, Any]] = []
    skipped = 0
    for label, rows in _slices(rule.columns, columns or {}, len(ctx.y)):
        if int(rows.sum()) < rule.min_rows:
            skipped += 1
            continue
        b = spec.fn(ctx.y[rows], *(None if a is None else a[rows] for a in base))
        c = spec.fn(ctx.y[rows], *(None if a is None else a[rows] for a in cand))
        improvement = (c - b) * sign
        passed = math.isnan(improvement) or improvement >= -rule.max_drop - _SLACK
        results.append(
            {
                "slice": label,
                "rows": int(rows.sum()),
                "baseline": b,
                "candidate": c,
                "improvement": improvement,
                "passed": passed,
            }
        )
    failed = [r for r in results if not r["passed"]]
    data = {**settings, "slices": results, "skipped_small": skipped}
    return Check("slices", not failed, _slice_detail(rule, results, failed, skipped), data)


def _slice_detail(
    rule: SliceRule, results: list[dict[str, Any]], failed: list[dict[str, Any]], skipped: int
) -> str:
    defined = [r for r in results if not math.isnan(r["improvement"])]
    notes = f"; {skipped} slice(s) under {rule.min_rows} rows skipped" if skipped else ""
    if len(defined) < len(results):
        notes += f"; {rule.metric} undefined in {len(results) - len(defined)} slice(s)"
    if not results:
        return f"{rule.metric}: no slice has {rule.min_rows} rows or more; slice rule not applied"
    if failed:
        worst = sorted(failed, key=lambda r: float(r["improvement"]))[:3]
        shown = "; ".join(
            f"{r['slice']} {_signed(r['improvement'])} (candidate {_num(r['candidate'])}, "
            f"baseline {_num(r['baseline'])})"
            for r in worst
        )
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        return (
            f"{rule.metric} dropped more than {_num(rule.max_drop)} in {len(failed)} of "
            f"{len(results)} slice(s): {shown}{more}{notes}"
        )
    worst_text = ""
    if defined:
        lowest = min(defined, key=lambda r: float(r["improvement"]))
        worst_text = f" (worst: {lowest['slice']} {_signed(lowest['improvement'])})"
    return (
        f"{rule.metric} within {_num(rule.max_drop)} of the baseline in all {len(results)} "
        f"slice(s){worst_text}{notes}"
    )


def _slices(
    names: tuple[str, ...], columns: Mapping[str, npt.ArrayLike], length: int
) -> list[tuple[str, Array]]:
    """``(label, row mask)`` for every value (or quartile bin) of every slice column."""
    out: list[tuple[str, Array]] = []
    for name in names:
        if name not in columns:
            raise UsageError(
                f"the gate policy slices by {name!r}, but no such column was given.",
                hint=did_you_mean(name, columns),
            )
        values = np.asarray(columns[name])
        if values.ndim != 1 or len(values) != length:
            raise UsageError(
                f"the slice column {name!r} has shape {values.shape} but y_true has {length} rows.",
                hint="Pass the slice columns of the same rows the models were scored on.",
            )
        out.extend((f"{name}{label}", rows) for label, rows in _groups(values))
    return out


def _groups(values: Array) -> list[tuple[str, Array]]:
    if values.dtype.kind in "iuf":
        numbers = values.astype(float)
        present = ~np.isnan(numbers)
        if len(np.unique(numbers[present])) > _MAX_LEVELS:
            return _quartile_groups(numbers, present)
    labels = np.array([_text(v) for v in values.tolist()], dtype=object)
    return [(f"={level}", labels == level) for level in sorted(set(labels.tolist()))]


def _quartile_groups(numbers: Array, present: Array) -> list[tuple[str, Array]]:
    edges = np.unique(np.quantile(numbers[present], _QUARTILES))
    index = np.searchsorted(edges[1:-1], numbers, side="right")
    groups = []
    for i in range(len(edges) - 1):
        close = "]" if i == len(edges) - 2 else ")"
        label = f" in [{edges[i]:.6g}, {edges[i + 1]:.6g}{close}"
        groups.append((label, present & (index == i)))
    if not present.all():
        groups.append(("=(missing)", ~present))
    return groups


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "(missing)"
    return str(value)


def _num(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.4g}"


def _signed(value: float) -> str:
    return f"{value:+.3f}" if abs(value) < 1e4 else f"{value:+.4g}"
