"""Evaluating registered models on data, and gating a candidate against a baseline.

Both read the evaluation data through :func:`keel.tracking.open_source` (a path, a frame,
or a registered dataset version), check it against the model's input contract (data that breaks the
contract is reported, not silently scored), and predict. ``gate`` runs the policy's
checks on the same rows for candidate and baseline (see :mod:`keel.registry._policy`),
records the result in the model's event log and, when asked and passed, promotes the
candidate to the baseline's alias.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from keel.errors import ContractError, UsageError, did_you_mean
from keel.models import Evaluation, KeelModel, evaluate
from keel.registry._policy import GatePolicy, GateResult, run_gate
from keel.registry._registry import actor, load, resolve
from keel.store import ModelVersion
from keel.tracking import (
    Project,
    dataset_reference,
    dataset_version,
    open_project,
    open_source,
)

__all__ = ["evaluate_model", "gate", "read_frame"]


def read_frame(data: Any, *, project: Project) -> Any:
    """A Polars frame of ``data``: any data source :func:`keel.tracking.open_source` reads
    (a path, a frame, a dataset reference)."""
    return open_source(data, project=project).collect()


def _predictions(
    model: KeelModel, frame: Any, where: str, *, check: bool = True
) -> tuple[Any, Any]:
    """Predicted labels or values, and P(positive) for binary classifiers; the data is first
    checked against the model's input contract (``check``)."""
    contract = model.input_contract
    if check and contract is not None:
        from keel.contracts import check_data

        report = check_data(contract, frame, examples=3)
        if not report.passed:
            raise ContractError(report, where=f"{where}: the evaluation data")
    pred = model.predict(frame)
    score = None
    if model.manifest.task == "classification":
        proba = model.predict_proba(frame)
        classes = model.classes or []
        if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
            score = proba[:, 1]  # P(the greater label), as the metrics expect
        elif proba is not None and len(classes) == 2:
            score = proba
    return pred, score


def _target(frame: Any, target: str, where: str) -> Any:
    if target not in frame.columns:
        raise UsageError(
            f"{where}: the data has no target column {target!r}.",
            hint=f"Name it with --target; columns: {', '.join(frame.columns)}.",
        )
    return frame[target].to_numpy()


def _slices(frame: Any, columns: Sequence[str], where: str) -> dict[str, Any]:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{where}: cannot slice by {', '.join(missing)}: no such column.",
            hint=did_you_mean(missing[0], frame.columns),
        )
    return {c: frame[c].to_numpy() for c in columns}


def evaluate_model(
    ref: str,
    data: Any,
    *,
    target: str,
    slices: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
    trusted: bool = False,
    record: bool = True,
    project: Project | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[ModelVersion, Evaluation]:
    """Metrics of the model ``ref`` on ``data``, overall and per slice, with bootstrap CIs.

    With ``record`` (the default) the result is appended to the model's event log as an
    ``evaluation`` event of the version: ``detail`` holds ``data`` (the dataset version
    ``NAME/3`` a reference resolved to, the path, or ``<TYPE>`` for a frame passed from
    Python), ``dataset`` (``NAME/3`` or ``None``), ``target``, ``seed`` and ``evaluation``
    (:meth:`Evaluation.to_dict`), which ``keel ui`` shows on the version's page.
    ``on_progress(done, total)`` follows the bootstrap (see :func:`keel.models.evaluate`).
    """
    project = project or open_project()
    version = resolve(ref, project=project)
    model = load(f"{version.name}/{version.version}", trusted=trusted, project=project)
    frame = read_frame(data, project=project)
    where = f"model {version.name}/{version.version}"
    y_true = _target(frame, target, where)
    pred, score = _predictions(model, frame, where)
    evaluation = evaluate(
        y_true,
        y_pred=pred,
        y_score=score,
        task="classification" if model.manifest.task == "classification" else "regression",
        slices=_slices(frame, slices, where),
        n_boot=n_boot,
        seed=seed,
        on_progress=on_progress,
    )
    if record:
        dataset = _dataset_named(data, project)
        shown = dataset or (str(data) if isinstance(data, str | os.PathLike) else None)
        detail = {
            "data": shown or f"<{type(data).__name__}>",
            "dataset": dataset,
            "target": target,
            "seed": seed,
            "evaluation": evaluation.to_dict(),
        }
        project.metadata.models.record_event(
            version.name,
            "evaluation",
            actor=actor(),
            version=version.version,
            reason=f"evaluated on {detail['data']} (target {target}, {evaluation.rows} rows)",
            detail=detail,
        )
    return version, evaluation


def _dataset_named(data: Any, project: Project) -> str | None:
    """``NAME/3``: the dataset version ``data`` names, when it is a dataset reference."""
    ref = dataset_reference(data) if isinstance(data, str) else None
    if ref is None:
        return None
    found = dataset_version(ref, project=project)
    return f"{found.name}/{found.version}"


def gate(
    name: str,
    *,
    candidate: int,
    against: str = "champion",
    data: Any,
    target: str,
    policy: GatePolicy | str | os.PathLike[str] | None = None,
    promote: bool = False,
    seed: int = 0,
    trusted: bool = False,
    project: Project | None = None,
) -> GateResult:
    """Check version ``candidate`` of ``name`` against the version ``against`` names.

    ``policy`` is a :class:`GatePolicy` or the path of its ``gate.yaml`` (default: the
    built-in policy for the candidate's task). Without that alias (the first version), the
    delta rules are skipped. The result is
    recorded in the event log; with ``promote`` and a pass, ``against`` moves to the
    candidate (recorded as a promotion). The :class:`GateResult` names what it compared.
    """
    rules = _read_policy(policy)  # a bad policy file fails before anything is read
    project = project or open_project()
    store = project.metadata.models
    cand_version = store.get_version(name, candidate)
    cand = load(f"{name}/{candidate}", trusted=trusted, project=project)
    frame = read_frame(data, project=project)
    where = f"model {name}/{candidate}"
    y_true = _target(frame, target, where)
    chosen = rules or GatePolicy.default(
        "classification" if cand.manifest.task == "classification" else "regression"
    )
    contract_report = None
    if chosen.contract:
        try:
            cand_pred, cand_score = _predictions(cand, frame, where)
        except ContractError as exc:
            contract_report = exc
            cand_pred = cand_score = None
    else:  # the policy does not ask for the contract: score the data as it is
        cand_pred, cand_score = _predictions(cand, frame, where, check=False)
    aliases = store.aliases(name)
    if aliases and against not in aliases:
        raise UsageError(
            f"model {name!r} has no alias {against!r} to gate against.",
            hint=did_you_mean(against, aliases),
        )
    baseline: int | None = None
    read_revision = 0
    base_pred = base_score = None
    if against in aliases:
        state = store.alias(name, against)
        baseline, read_revision = state.version, state.revision
        base = load(f"{name}/{baseline}", trusted=trusted, project=project)
        base_pred, base_score = _predictions(base, frame, where, check=False)
    slice_columns = chosen.slices.columns if chosen.slices else ()
    if contract_report is None:
        result = run_gate(
            chosen,
            y_true,
            cand_pred=cand_pred,
            cand_score=cand_score,
            base_pred=base_pred,
            base_score=base_score,
            slices=_slices(frame, slice_columns, where),
            contract_ok=True if cand.input_contract is not None and chosen.contract else None,
            seed=seed,
        )
        if cand.input_contract is None and chosen.contract:
            result = _with_check(result, "contract", True, "no input contract: not checked")
    else:
        detail = contract_report.report.summary().splitlines()
        result = _with_check(
            GateResult(True, ()),
            "contract",
            False,
            "the evaluation data breaks the candidate's input contract: " + "; ".join(detail[1:4]),
        )
    promoted = False
    verdict = "passed" if result.passed else "failed"
    store.record_event(
        name,
        "gate",
        actor=actor(),
        version=cand_version.version,
        alias=against,
        reason=f"gate {verdict} against {against}"
        + (f" (version {baseline})" if baseline else " (no baseline)"),
        detail={**result.to_dict(), "baseline": baseline, "policy": chosen.to_dict()},
    )
    if promote and result.passed and baseline != candidate:
        store.move_alias(
            name,
            against,
            candidate,
            expected_revision=read_revision,  # someone else's move since the gate read wins
            actor=actor(),
            reason=f"promoted after passing the gate against version {baseline}"
            if baseline is not None
            else "promoted: the first version to pass the gate",
            kind="promote",
        )
        promoted = True
    return replace(
        result,
        model=name,
        candidate=candidate,
        baseline=baseline,
        against=against,
        promoted=promoted,
    )


def _read_policy(policy: GatePolicy | str | os.PathLike[str] | None) -> GatePolicy | None:
    if policy is None or isinstance(policy, GatePolicy):
        return policy
    path = Path(policy)
    if not path.is_file():
        raise UsageError(f"no gate policy at {path}.", hint="Check the path.")
    return GatePolicy.from_yaml(path.read_text(encoding="utf-8"), source=str(path))


def _with_check(result: GateResult, name: str, passed: bool, detail: str) -> GateResult:
    from keel.registry._policy import Check

    checks = (Check(name, passed, detail, {}), *(c for c in result.checks if c.name != name))
    return GateResult(result.passed and passed, checks)
