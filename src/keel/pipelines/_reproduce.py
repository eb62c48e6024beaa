"""``keel reproduce RUN_ID``: re-execute a recorded pipeline run and check its outputs.

The pipeline is loaded from where ``keel run`` found it, run again with the recorded
parameters, every step executed (no cache), and each output compared with the recorded one:
byte-identical, or (for numbers in JSON outputs and float columns of frames) within a
relative tolerance. Data the run read from outside the pipeline is restored from the
dataset version recorded for it when the file at that path has changed since. The report
also says whether the code or the environment differ from the record, since that is the
usual reason a result does not reproduce.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

from keel.errors import UsageError
from keel.grammar import Reference
from keel.pipelines._load import load_pipeline
from keel.pipelines._runner import StepEvent, run_pipeline
from keel.store import StepIO, StepRunRecord, safe_join
from keel.tracking import Project, compare_runs, get_dataset, open_project
from keel.versioning import HashCache, hash_path

__all__ = ["OutputCheck", "ReproduceReport", "reproduce_run"]


@dataclass(frozen=True)
class OutputCheck:
    step: str
    output: str
    status: str  # identical, within-tolerance, differs, missing
    detail: str = ""


@dataclass
class ReproduceReport:
    original: str
    rerun: str
    differences: list[str]  # which of code, environment, params, data differ
    notes: list[str]
    checks: list[OutputCheck] = field(default_factory=list)
    tolerance: float = 0.0

    @property
    def reproduced(self) -> bool:
        return all(c.status in ("identical", "within-tolerance") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "original_run": self.original,
            "rerun": self.rerun,
            "reproduced": self.reproduced,
            "tolerance": self.tolerance,
            "differences": self.differences,
            "notes": self.notes,
            "outputs": [c.__dict__ for c in self.checks],
        }

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        verdict = "[green]reproduced[/]" if self.reproduced else "[bold red]NOT reproduced[/]"
        yield f"Run {self.original[:8]} re-executed as {self.rerun[:8]}: {verdict}"
        if self.differences:
            yield "Differs from the record: " + ", ".join(self.differences)
        else:
            yield "Code, environment, params and data are as recorded."
        for note in self.notes:
            yield f"  - {note}"
        table = Table(box=None, header_style="bold")
        for column in ("step", "output", "result", "detail"):
            table.add_column(column)
        style = {"identical": "green", "within-tolerance": "cyan"}
        for check in self.checks:
            shown = f"[{style.get(check.status, 'bold red')}]{check.status}[/]"
            table.add_row(check.step, check.output, shown, check.detail)
        yield table


def reproduce_run(
    run_id: str,
    *,
    tolerance: float = 0.0,
    project: Project | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> ReproduceReport:
    """Re-execute pipeline run ``run_id`` (an id or unique prefix) and compare its outputs."""
    if tolerance < 0:
        raise UsageError(f"--tolerance {tolerance}: must be >= 0.", hint="--tolerance 1e-6")
    project = project or open_project()
    original = project.metadata.get_run(project.metadata.resolve_run_id(run_id))
    source = original.tags.get("keel.source")
    if not source:
        raise UsageError(
            f"run {original.id} was not started by keel run (it records no pipeline source).",
            hint="keel reproduce needs a run made with keel run path/to/file.py:pipeline.",
        )
    recorded = project.metadata.pipelines.for_run(original.id)
    pipeline = load_pipeline(source)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="keel-reproduce-") as scratch:
        replaced = _restore_inputs(project, recorded, Path(scratch), notes)
        result = run_pipeline(
            pipeline,
            dict(original.params),
            force=["*"],
            project=project,
            on_event=on_event,
            tags={"keel.reproduces": original.id},
            replace_inputs=replaced,
        )
    rerun = project.metadata.get_run(result.run_id)
    differs = compare_runs([original, rerun]).differs
    differences = [part for part, different in differs.items() if different]
    report = ReproduceReport(original.id, rerun.id, differences, notes, tolerance=tolerance)
    new = {r.step: r for r in result.steps}
    for old in recorded:
        if old.status == "failed":
            continue
        again = new.get(old.step)
        for item in old.outputs:
            match = next((o for o in again.outputs if o.name == item.name), None) if again else None
            report.checks.append(_compare(project, old.step, item, match, tolerance))
    return report


def _restore_inputs(
    project: Project, recorded: list[StepRunRecord], scratch: Path, notes: list[str]
) -> dict[str, dict[str, Path]]:
    """Put back the recorded version of external data that changed since the run."""
    replaced: dict[str, dict[str, Path]] = {}
    cache = HashCache(project.config.state_dir / "cache")
    for record in recorded:
        for item in record.inputs:
            if item.kind != "external":
                continue
            path = Path(str(item.detail.get("path", "")))
            current = hash_path(path, cache=cache).digest if path.exists() else None
            if current == item.digest:
                continue
            versions = [
                v for v in project.metadata.dataset_versions_with_digest(item.digest) if v.stored
            ]
            if not versions:
                notes.append(
                    f"data at {path} changed since the run and no stored dataset version has "
                    "its recorded content; the step reads the current data."
                )
                continue
            version = versions[-1]
            where = f"the metadata store's record of input {item.name!r} of step {record.step}"
            target = safe_join(
                scratch, f"{version.name}-{version.version}/{path.name}", where=where, what="store"
            )
            ref = Reference("dataset", version.name, version.version)
            get_dataset(ref, target, project=project)
            replaced.setdefault(record.step, {})[item.name] = target
            notes.append(f"data at {path} changed since the run; restored {ref} as recorded.")
    return replaced


def _compare(  # noqa: PLR0911 - one return per verdict
    project: Project, step: str, old: StepIO, new: StepIO | None, tolerance: float
) -> OutputCheck:
    if new is None:
        return OutputCheck(step, old.name, "missing", "the re-run did not produce it")
    if new.digest == old.digest:
        return OutputCheck(step, old.name, "identical", new.digest[:12])
    store = project.artifacts
    if old.kind == "json":
        a, b = json.loads(store.get_bytes(old.digest)), json.loads(store.get_bytes(new.digest))
        worst = _json_distance(a, b)
        if worst is not None and worst <= tolerance:
            return OutputCheck(step, old.name, "within-tolerance", f"max rel. diff {worst:.3g}")
        shown = "structure differs" if worst is None else f"max rel. diff {worst:.3g}"
        return OutputCheck(step, old.name, "differs", shown)
    if old.kind == "frame":
        import polars as pl
        from polars.testing import assert_frame_equal

        a_frame = pl.read_parquet(io.BytesIO(store.get_bytes(old.digest)))
        b_frame = pl.read_parquet(io.BytesIO(store.get_bytes(new.digest)))
        try:
            assert_frame_equal(a_frame, b_frame, rel_tol=tolerance, abs_tol=0.0)
        except AssertionError as exc:
            return OutputCheck(step, old.name, "differs", str(exc).splitlines()[0][:120])
        return OutputCheck(step, old.name, "within-tolerance", "equal values, other bytes")
    return OutputCheck(step, old.name, "differs", f"{old.digest[:12]} -> {new.digest[:12]}")


def _json_distance(a: Any, b: Any) -> float | None:  # noqa: PLR0911 - one return per shape
    """The largest relative difference of numbers in two JSON values (None: shapes differ)."""
    if _number(a) and _number(b):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return 0.0
        scale = max(abs(a), abs(b))
        return abs(a - b) / scale if scale else math.inf
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            return None
        parts = [_json_distance(a[k], b[k]) for k in a]
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return None
        parts = [_json_distance(x, y) for x, y in zip(a, b, strict=True)]
    else:
        return 0.0 if a == b else None
    if any(p is None for p in parts):
        return None
    return max((p for p in parts if p is not None), default=0.0)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
