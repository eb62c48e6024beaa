"""The one-pass engine: every check of a contract in a single query over the data.

1. Static checks (column presence, types) are decided from the schema alone.
2. Every other check contributes aggregate expressions to **one** ``select``; the data is
   scanned once (streamed, for Polars lazy frames).
3. Only checks that failed are looked at again: one more query per failed check fetches up
   to ``examples`` failing rows with their row numbers (sharing one scan where the library
   can), and checks whose cheap summary is not a row count (``unique``) count rows exactly.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
from narwhals.exceptions import NarwhalsError

from keel.contracts._backends import ROW, Backend, engine_error, open_frame
from keel.contracts._checks import (
    Check,
    Coerced,
    ColumnsPresent,
    DTypeCheck,
    Outcome,
    Scope,
    Unique,
)
from keel.contracts._coerce import RAW, coercion_error
from keel.contracts._coerce import coerce as coerce_columns
from keel.contracts._contract import Contract
from keel.contracts._io import inferred_csv, read_as_declared, read_data
from keel.contracts._report import CheckResult, Report
from keel.errors import InputError, KeelError

__all__ = ["check_data", "checked_data"]

_ROWS = "__keel_rows__"
_FAIL = "__keel_fail__"


@dataclass
class _Planned:
    check: Check
    aliases: list[str]
    outcome: Outcome | None = None
    skipped: str = ""
    exprs: list[Any] = field(default_factory=list)  # the aliased summary aggregates
    sorted_unique: bool = False  # streamed Polars data: checked by sorting its key column
    examples: tuple[dict[str, Any], ...] = ()


def check_data(
    contract: Contract,
    data: Any,
    *,
    coerce: bool = False,
    strict: bool | None = None,
    examples: int = 5,
) -> Report:
    """Check ``data`` (a dataframe or a file path) against ``contract``; return the report."""
    return checked_data(contract, data, coerce=coerce, strict=strict, examples=examples)[0]


def checked_data(
    contract: Contract,
    data: Any,
    *,
    coerce: bool = False,
    strict: bool | None = None,
    examples: int = 5,
    source: str | None = None,
) -> tuple[Report, Any]:
    """Check ``data`` against ``contract``; return the report and the (coerced) native data."""
    with warnings.catch_warnings():
        # narwhals announces that Dask support moves to a separate package; nothing to do yet
        warnings.filterwarnings("ignore", message="Dask support is moving", category=FutureWarning)
        # Dask partitions without complete pairs make NumPy warn inside its correlation
        for numpy_note in ("Mean of empty", "invalid value", "Degrees of freedom", "divide by"):
            warnings.filterwarnings("ignore", message=numpy_note, category=RuntimeWarning)
        options: dict[str, Any] = {"coerce": coerce, "strict": strict, "examples": examples}
        if isinstance(data, str | os.PathLike):
            return _run_file(contract, os.fspath(data), source or os.fspath(data), options)
        return _run(contract, data, source=source, **options)


def _run_file(
    contract: Contract, path: str, source: str, options: dict[str, Any]
) -> tuple[Report, Any]:
    """A CSV is parsed with the declared types first, so no pass over it infers them.

    A value that is not of its declared type fails that read; the file is then read with
    inferred types, so the type check reports what the column holds, as for any frame.
    """
    declared = read_as_declared(path, contract)
    if declared is None:
        return _run(contract, path, source=source, **options)
    try:
        return _run(contract, declared, source=source, **options)
    except NarwhalsError:
        pass
    except InputError as exc:
        if not isinstance(exc.__cause__, _ENGINE_ERRORS):
            raise  # unusable for another reason: ragged rows, duplicate names...
    return _run(contract, inferred_csv(Path(path)), source=source, **options)  # shape checked


def _run(
    contract: Contract,
    data: Any,
    *,
    coerce: bool,
    strict: bool | None,
    examples: int,
    source: str | None,
) -> tuple[Report, Any]:
    started = time.perf_counter()
    if isinstance(data, str | os.PathLike):
        source = source or os.fspath(data)
        data = read_data(os.fspath(data))
    if strict is not None:
        contract = contract.with_strict(strict)
    backend = open_frame(data)
    try:
        dtypes = backend.schema()
        frame, coerced = (
            coerce_columns(backend, contract, dtypes) if coerce else (backend.frame, {})
        )
        scope = Scope(
            dict(frame.collect_schema()),
            library=backend.library,
            guard_nulls=backend.guards_nulls,
            python_text=backend.python_text(),
        )
        plan = _plan(
            contract, scope, coerced, sort_unique=backend.lazy and backend.library == "polars"
        )
        rows = _summarize(backend, frame, plan, scope)
        _sort_unique(backend, frame, plan, examples)
        results = [_result(p, rows, scope) for p in plan]
        results = _add_examples(backend, frame, plan, results, scope, examples, rows)
    except _ENGINE_ERRORS as exc:
        raise engine_error(exc, source) from exc
    except KeelError:
        raise
    except Exception as exc:  # an engine refusing a conversion (text 'x' as a date)
        if not coerce or backend.library == "polars":
            raise
        raise coercion_error(exc, contract, backend.schema()) from exc
    native = backend.to_native(frame.drop([RAW + c for c in coerced]) if coerced else frame)
    report = Report(
        contract=contract.name,
        rows=rows,
        checks=tuple(results),
        elapsed_seconds=time.perf_counter() - started,
        source=source,
    )
    return report, native


def _engine_errors() -> tuple[type[Exception], ...]:
    import polars as pl

    return (pl.exceptions.PolarsError, OSError)


_ENGINE_ERRORS = _engine_errors()


def _plan(
    contract: Contract, scope: Scope, coerced: dict[str, Any], *, sort_unique: bool
) -> list[_Planned]:
    usable = {
        spec.name
        for spec in contract.columns
        if spec.name in scope.dtypes and spec.dtype.accepts(scope.dtypes[spec.name])
    }
    plan: list[_Planned] = []
    for declared in contract.checks():
        check = declared
        if isinstance(declared, DTypeCheck) and declared.column in coerced:
            check = Coerced(
                column=declared.column,
                dtype=declared.dtype,
                raw=RAW + declared.column,
                severity=declared.severity,
                name=declared.name,
            )
        if isinstance(check, ColumnsPresent | DTypeCheck):
            plan.append(_Planned(check, [], outcome=check.evaluate(scope)))
            continue
        unusable = [c for c in check.columns if c not in usable]
        if unusable:
            reason = "missing" if unusable[0] not in scope.dtypes else "of the wrong type"
            plan.append(_Planned(check, [], skipped=f"skipped: column {unusable[0]!r} is {reason}"))
            continue
        if sort_unique and _single_key(check):
            plan.append(_Planned(check, [], sorted_unique=True))
            continue
        if check.windowed:  # summed from a marked column, built in _summarize
            plan.append(_Planned(check, [f"__keel_{len(plan)}_0"]))
            continue
        summary = check.summary(scope)
        aliases = [f"__keel_{len(plan)}_{j}" for j in range(len(summary))]
        exprs = [e.alias(a) for e, a in zip(summary, aliases, strict=True)]
        plan.append(_Planned(check, aliases, exprs=exprs))
    return plan


def _step_reader(name: str) -> Callable[[int], str]:
    return lambda j: f"{name}{j}"


def _mark(frame: Any, marked: Sequence[tuple[str, Check]], scope: Scope) -> Any:
    """Add each check's failing-row predicate as the column named with it, step by step."""
    steps = {name: check.marks(scope, _step_reader(name)) for name, check in marked}
    depth = max((len(s) for s in steps.values()), default=0)
    for j in range(depth):
        exprs = [
            (s[j] if j < len(s) else nw.col(f"{name}{len(s) - 1}")).alias(f"{name}{j}")
            for name, s in steps.items()
        ]
        frame = frame.with_columns(exprs)
    return frame.with_columns(nw.col(f"{name}{depth - 1}").alias(name) for name in steps)


def _sort_unique(backend: Backend, frame: Any, plan: Sequence[_Planned], examples: int) -> None:
    """Uniqueness of streamed data, by sorting the key column in a second, one-column read.

    An exact distinct count in Polars' streaming engine holds every value in a hash table
    (about 3 GB at 50M rows); sorting one column needs a third of that, and is faster.
    """
    for planned in plan:
        if planned.sorted_unique:
            found = backend.duplicates(frame, _single_key(planned.check), examples)
            assert found is not None  # sorted_unique is planned for Polars only
            planned.outcome = Outcome(failures=found[0])
            planned.examples = _examples(found[1], examples)


def _summarize(backend: Backend, frame: Any, plan: Sequence[_Planned], scope: Scope) -> int:
    exprs = [nw.len().alias(_ROWS)]
    windowed = []  # window predicates become columns first: SQL and Dask engines need that
    for i, planned in enumerate(plan):
        if not planned.aliases:
            continue
        if planned.check.windowed:
            windowed.append((f"__keel_w{i}_", planned.check))
            exprs.append(nw.col(f"__keel_w{i}_").sum().alias(planned.aliases[0]))
        else:
            exprs += planned.exprs
    source = _mark(frame, windowed, scope) if windowed else frame
    row = backend.collect(source.select(exprs)).row(0)
    values = dict(zip([_ROWS, *(a for p in plan for a in p.aliases)], row, strict=True))
    rows = int(values[_ROWS])
    for planned in plan:
        if planned.outcome is None and not planned.skipped and not planned.sorted_unique:
            values_of = [values[a] for a in planned.aliases]
            planned.outcome = planned.check.outcome(values_of, rows, scope)
    return rows


def _result(planned: _Planned, rows: int, scope: Scope) -> CheckResult:
    check = planned.check
    base: dict[str, Any] = {
        "name": check.label,
        "kind": check.kind,
        "columns": check.columns,
        "severity": check.severity,
    }
    if planned.outcome is None:
        return CheckResult(**base, status="skipped", message=planned.skipped)
    outcome = planned.outcome
    if check.counts_rows:
        fraction = outcome.failures / rows if rows else 0.0
    else:
        fraction = 0.0 if outcome.failures == 0 else 1.0
    passed = outcome.passed
    if passed is None:
        passed = _within_mostly(check, outcome.failures, fraction)
        if check.recount and outcome.failures and not planned.sorted_unique:
            passed = False  # a cheap estimate: judged once the exact count is in (_add_examples)
    return CheckResult(
        **base,
        status="passed" if passed else "failed",
        failures=outcome.failures,
        fraction=round(fraction, 8),
        observed=outcome.observed,
        message=outcome.message,
        examples=() if passed else planned.examples,
    )


def _add_examples(  # noqa: PLR0917  # private helper of run(), called once
    backend: Backend,
    frame: Any,
    plan: Sequence[_Planned],
    results: list[CheckResult],
    scope: Scope,
    examples: int,
    rows: int,
) -> list[CheckResult]:
    """Fetch failing rows (and exact counts where needed) for the checks that failed."""
    wanted = [
        i
        for i, (p, r) in enumerate(zip(plan, results, strict=True))
        if r.failures
        and not r.passed
        and not p.sorted_unique
        and p.check.failing(scope) is not None
    ]
    if not wanted:
        return results
    found, counts = _fetch(backend, frame, [(i, plan[i].check) for i in wanted], scope, examples)
    updated = list(results)
    for i, got in found.items():
        result = updated[i]
        if i in counts:
            failures = int(counts[i] or 0)
            fraction = round(failures / rows, 8) if rows else 0.0
            result = _with(result, failures=failures, fraction=fraction)
            if _within_mostly(plan[i].check, failures, fraction):
                updated[i] = _with(result, status="passed", examples=())
                continue
        updated[i] = _with(result, examples=_examples(got, examples))
    return updated


def _within_mostly(check: Check, failures: int, fraction: float) -> bool:
    """No failures, or few enough for the check's ``mostly``."""
    return failures == 0 or (check.mostly is not None and fraction <= 1 - check.mostly + 1e-12)


def _fetch(
    backend: Backend, frame: Any, failed: list[tuple[int, Check]], scope: Scope, examples: int
) -> tuple[dict[int, Any], dict[int, Any]]:
    """Failing rows per failed check, and exact failure counts for ``recount`` checks.

    Predicates over whole columns (duplicates, dependencies) are computed once, in a marked
    frame that their example queries and counts share. Row-local predicates get a query
    each, which Polars stops after N matching rows instead of scanning everything.
    """
    found: dict[int, Any] = {}
    counts: dict[int, Any] = {}
    for i, check in failed:
        sorted_way = _single_key(check) and backend.duplicates(frame, _single_key(check), examples)
        if sorted_way:
            counts[i], found[i] = sorted_way
    failed = [(i, c) for i, c in failed if i not in found]
    indexed = backend.with_row_index(backend.deferred(frame))
    shared_checks = [(f"{_FAIL}{i}_", c) for i, c in failed if _is_global(c)]
    shared = _mark(indexed, shared_checks, scope)
    local: dict[int, Any] = {}
    joint: dict[int, Any] = {}
    for i, check in failed:
        name = f"{_FAIL}{i}_"
        source = shared if _is_global(check) else _mark(indexed, [(name, check)], scope)
        shown = [e.alias(label) for label, e in check.example_columns(scope)]
        query = source.filter(nw.col(name)).select(nw.col(ROW), *shown)
        (joint if _is_global(check) else local)[i] = backend.head(query, max(examples, 0))
    recount = [i for i, c in failed if c.recount]
    counting = [shared.select(nw.col(f"{_FAIL}{i}_").sum() for i in recount)] if recount else []
    got_local = backend.collect_all(list(local.values()), early_stop=True) if local else []
    got_joint = backend.collect_all([*joint.values(), *counting]) if joint or counting else []
    counts.update(zip(recount, got_joint[-1].row(0), strict=True) if recount else ())
    found.update(zip([*local, *joint], [*got_local, *got_joint], strict=False))
    return found, counts


def _examples(got: Any, examples: int) -> tuple[dict[str, Any], ...]:
    rows_out = []
    for record in got.sort(ROW).head(max(examples, 0)).rows(named=True):
        row = record.pop(ROW)
        rows_out.append({"row": None if row is None else int(row), "values": record})
    return tuple(rows_out)


def _single_key(check: Check) -> str:
    """The key of a one-column uniqueness check, else ``""``."""
    return check.keys[0] if isinstance(check, Unique) and len(check.keys) == 1 else ""


def _is_global(check: Check) -> bool:
    """Whether a row's verdict depends on other rows (duplicates, dependencies)."""
    return check.windowed or check.recount


def _with(result: CheckResult, **changes: Any) -> CheckResult:
    from dataclasses import replace

    return replace(result, **changes)
