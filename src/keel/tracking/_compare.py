"""Comparing runs: which of code, environment, params, seed and data differ, and metric deltas.

Two runs that differ in nothing but their metrics are a reproducibility problem; two runs
that differ in code *and* params cannot say which change moved the metric. The comparison
names every dimension that differs, relative to the first run (the baseline).

Data is compared by content, never by name or path: the digests of the dataset versions a
run declared (``run.use_dataset``) and of every file or folder its pipeline steps read (the
fingerprint's ``files``, one per step input). Two runs reading ``data.txt`` and ``other.txt``
with the same bytes saw the same data; two runs reading ``data.txt`` before and after it was
rewritten did not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

from keel._json import json_safe
from keel.store import ArtifactRecord, Run

__all__ = ["RunComparison", "compare_runs", "run_to_dict"]


@dataclass(frozen=True)
class RunComparison:
    """The runs, what differs between them, and each metric relative to the first run."""

    runs: tuple[Run, ...]
    differs: dict[str, bool]
    """``code``, ``environment``, ``params``, ``seed``, ``data``: differs from the baseline."""
    params: dict[str, list[Any]]
    """Every param that is not the same in all runs: its value per run."""
    metrics: dict[str, list[float | None]]
    """Every metric: its latest value per run (``None`` where a run lacks it)."""
    data: dict[str, list[dict[str, str | None] | None]] = field(default_factory=dict)
    """Every input read with different content in some run (``dataset NAME``, ``file
    STEP.INPUT``): per run, what was read (``NAME/3`` or the path) and its ``digest``, or
    ``None`` where a run did not read it."""

    def deltas(self, key: str) -> list[float | None]:
        """Each run's value of metric ``key`` minus the baseline's."""
        values = self.metrics[key]
        base = values[0]
        return [None if v is None or base is None else v - base for v in values]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.id for r in self.runs],
            "differs": self.differs,
            "params": json_safe(self.params),
            "data": self.data,
            "metrics": {
                key: {"values": json_safe(values), "deltas": json_safe(self.deltas(key))}
                for key, values in self.metrics.items()
            },
        }

    def __repr__(self) -> str:
        differs = ", ".join(k for k, v in self.differs.items() if v) or "nothing"
        metrics = ", ".join(self.metrics) or "none"
        return (
            f"<RunComparison of {len(self.runs)} runs against {self.runs[0].id[:8]}: "
            f"{differs} differs; metrics {metrics}>"
        )

    def _rows(self) -> list[list[str]]:
        rows = [
            [dimension, "baseline", *(["differs" if differs else "same"] * (len(self.runs) - 1))]
            for dimension, differs in self.differs.items()
        ]
        rows += [[f"param {key}", *map(repr, values)] for key, values in self.params.items()]
        for key in self.metrics:
            cells = [_number(self.metrics[key][0])]
            for value, delta in zip(self.metrics[key][1:], self.deltas(key)[1:], strict=True):
                cells.append(f"{_number(value)} ({_signed(delta)})")
            rows.append([f"metric {key}", *cells])
        return rows

    def to_html(self, *, title: str = "What differs from the first run") -> str:
        """The comparison as a self-contained HTML page: one column per run, the first the
        baseline; each metric with its delta from the baseline."""
        from keel._html import facts, page, table

        differs = ", ".join(k for k, v in self.differs.items() if v) or "nothing"
        headers = ["", *(f"{run.name or ''} {run.id[:8]}".strip() for run in self.runs)]
        return page(
            title,
            [facts(f"{len(self.runs)} runs · differs: {differs}"), table(headers, self._rows())],
        )

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(title="What differs from the first run", title_justify="left")
        table.add_column("")
        for run in self.runs:
            table.add_column(f"{run.name or ''} {run.id[:8]}")
        for dimension, differs in self.differs.items():
            table.add_row(
                dimension, "baseline", *(["differs" if differs else "same"] * (len(self.runs) - 1))
            )
        for key, values in self.params.items():
            table.add_row(f"param {key}", *(repr(v) for v in values))
        for label, reads in self.data.items():
            table.add_row(label, *(_read_cell(r) for r in reads))
        for key in self.metrics:
            cells = [_number(self.metrics[key][0])]
            for value, delta in zip(self.metrics[key][1:], self.deltas(key)[1:], strict=True):
                cells.append(f"{_number(value)} ({_signed(delta)})")
            table.add_row(f"metric {key}", *cells)
        yield table


def compare_runs(runs: Sequence[Run]) -> RunComparison:
    """Compare ``runs`` (at least two) against the first."""
    base = runs[0]
    others = runs[1:]

    def fp(run: Run, *path: str) -> Any:
        value: Any = run.fingerprint or {}
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    dimensions: dict[str, Callable[[Run], Any]] = {
        "code": lambda r: (
            fp(r, "code", "commit"),
            fp(r, "code", "diff_digest"),
            fp(r, "code", "source_digest"),
        ),
        "environment": lambda r: fp(r, "environment", "packages_digest"),
        "params": lambda r: dict(r.params),
        "seed": lambda r: fp(r, "seed"),
        "data": _content_read,
    }
    differs = {name: any(get(r) != get(base) for r in others) for name, get in dimensions.items()}
    keys = sorted({k for r in runs for k in r.params})
    params = {
        k: [r.params.get(k) for r in runs]
        for k in keys
        if any(r.params.get(k) != base.params.get(k) for r in others)
    }
    metric_keys = sorted({k for r in runs for k in r.metrics})
    metrics = {k: [r.metrics.get(k) for r in runs] for k in metric_keys}
    reads = [_reads(r) for r in runs]
    labels = sorted({label for read in reads for label in read})
    data = {
        label: [read.get(label) for read in reads]
        for label in labels
        if differs["data"] and len({_digest(read.get(label)) for read in reads}) > 1
    }
    return RunComparison(tuple(runs), differs, params, metrics, data)


def _reads(run: Run) -> dict[str, dict[str, str | None]]:
    """What a run read, by where it read it: ``dataset NAME`` and ``file STEP.INPUT``."""
    fingerprint = run.fingerprint or {}
    found: dict[str, dict[str, str | None]] = {}
    for item in fingerprint.get("data") or []:
        read = f"{item.get('name')}/{item.get('version')}"
        found[f"dataset {item.get('name')}"] = {"read": read, "digest": item.get("digest")}
    for item in fingerprint.get("files") or []:
        label = f"file {item.get('step')}.{item.get('input')}"
        found[label] = {"read": item.get("path"), "digest": item.get("digest")}
    return found


def _content_read(run: Run) -> tuple[list[str], dict[str, str | None]]:
    """The data dimension: the digests of the datasets read (whatever their names) and the
    digest each step input read (whatever its path)."""
    reads = _reads(run)
    datasets = sorted(str(v["digest"]) for k, v in reads.items() if k.startswith("dataset "))
    files = {k: v["digest"] for k, v in reads.items() if k.startswith("file ")}
    return datasets, files


def _digest(read: Mapping[str, str | None] | None) -> str | None:
    return None if read is None else read.get("digest")


def _read_cell(read: Mapping[str, str | None] | None) -> str:
    if read is None:
        return "—"
    return f"{read.get('read')} {str(read.get('digest') or '')[:12]}"


def run_to_dict(run: Run, artifacts: Sequence[ArtifactRecord] | None = None) -> dict[str, Any]:
    """The stable JSON shape of a run (``keel runs list --format json``); with its
    ``artifacts``, the shape of ``keel runs show --format json``."""
    shape: dict[str, Any] = json_safe(
        {
            "id": run.id,
            "name": run.name,
            "status": run.status,
            "experiment": run.experiment,
            "parent_id": run.parent_id,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "params": dict(run.params),
            "metrics": dict(run.metrics),
            "tags": dict(run.tags),
            "error": run.error,
            "fingerprint": dict(run.fingerprint or {}),
            "host": run.host,
            "pid": run.pid,
        }
    )
    if artifacts is not None:
        shape["artifacts"] = [
            {"name": a.name, "digest": a.digest, "size": a.size} for a in artifacts
        ]
    return shape


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.6g}"
