"""The validation report: one result per check, readable as a table, JSON or a message.

JSON shape (stable; extra keys may be added, none removed)::

    {"contract": str, "passed": bool, "rows": int, "elapsed_seconds": float,
     "errors": int, "warnings": int,
     "checks": [{"name": str, "kind": str, "columns": [str, ...],
                 "severity": "error" | "warn", "status": "passed" | "failed" | "skipped",
                 "passed": bool, "failures": int, "fraction": float, "observed": any,
                 "message": str, "examples": [{"row": int | null, "values": {col: value}}]}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from keel._json import json_safe

__all__ = ["CheckResult", "Report"]

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class CheckResult:
    """The result of one check."""

    name: str
    kind: str
    columns: tuple[str, ...]
    severity: Literal["error", "warn"]
    status: Status
    failures: int = 0
    fraction: float = 0.0
    observed: Any = None
    message: str = ""
    examples: tuple[dict[str, Any], ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "columns": list(self.columns),
            "severity": self.severity,
            "status": self.status,
            "passed": self.passed,
            "failures": self.failures,
            "fraction": self.fraction,
            "observed": json_safe(self.observed),
            "message": self.message,
            "examples": [json_safe(e) for e in self.examples],
        }


@dataclass(frozen=True)
class Report:
    """Every check's result for one dataset and one contract."""

    contract: str
    rows: int
    checks: tuple[CheckResult, ...]
    elapsed_seconds: float = 0.0
    source: str | None = field(default=None, compare=False)

    @property
    def passed(self) -> bool:
        """True when no error-severity check failed or was skipped (warnings never fail)."""
        return not any(self.errors)

    @property
    def errors(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.severity == "error" and not c.passed)

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.severity == "warn" and not c.passed)

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "source": self.source,
            "passed": self.passed,
            "rows": self.rows,
            "elapsed_seconds": round(self.elapsed_seconds, 4),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary(self, *, examples: int = 3) -> str:
        """A concise message: what failed, how much, and a few failing rows."""
        where = f" ({self.source})" if self.source else ""
        head = f"contract {self.contract!r}{where}: "
        if self.passed:
            extra = f", {len(self.warnings)} warning(s)" if self.warnings else ""
            return head + f"all checks passed on {self.rows:,} rows{extra}."
        lines = [head + f"{len(self.errors)} check(s) failed on {self.rows:,} rows:"]
        for check in (*self.errors, *self.warnings):
            lines.append("  " + _one_line(check))
            for example in check.examples[:examples]:
                lines.append(f"      {_example_text(example)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        warned = f"; {len(self.warnings)} warning(s)" if self.warnings else ""
        if self.passed:
            verdict = f"passed all {len(self.checks)} checks"
        else:
            names = ", ".join(c.name for c in self.errors[:3])
            more = ", ..." if len(self.errors) > 3 else ""
            verdict = f"FAILED {len(self.errors)} of {len(self.checks)} checks ({names}{more})"
        head = f"<Report contract {self.contract!r}{where} on {self.rows:,} rows"
        return f"{head}: {verdict}{warned}>"

    def to_html(self, *, title: str | None = None) -> str:
        """The report as a self-contained HTML page: the verdict, then every check with its
        status, failing rows and a few failing examples."""
        from keel._html import facts, page, table

        where = f" · {self.source}" if self.source else ""
        verdict = "PASSED" if self.passed else f"FAILED: {len(self.errors)} check(s) failed"
        warned = f" · {len(self.warnings)} warning(s)" if self.warnings else ""
        elapsed = self.elapsed_seconds
        rows = [
            (
                c.name,
                ", ".join(c.columns),
                c.severity,
                c.status,
                c.failures,
                f"{c.fraction:.2%}" if c.fraction else "",
                c.message,
                "; ".join(_example_text(e) for e in c.examples[:3]),
            )
            for c in sorted(self.checks, key=lambda c: c.passed)
        ]
        headers = ("check", "columns", "severity", "status", "failures", "fraction", "detail")
        return page(
            title or f"Contract {self.contract}",
            [
                facts(f"{verdict} · {self.rows:,} rows{where}{warned} · {elapsed:.2f}s"),
                table((*headers, "examples"), rows),
            ],
        )

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())

    def table(self, *, show_passed: bool = False) -> RenderableType:
        """The report as a rich table: failed, warned and skipped checks (all with
        ``show_passed``), titled with the verdict and closed by a count of passed checks."""
        return _render(self, show_passed=show_passed)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table()


def _one_line(check: CheckResult) -> str:
    tag = "warn" if check.severity == "warn" else check.status.upper()
    detail = check.message or (
        f"{check.failures:,} rows ({check.fraction:.2%})" if check.failures else ""
    )
    return f"[{tag}] {check.name}" + (f": {detail}" if detail else "")


def _example_text(example: dict[str, Any]) -> str:
    values = ", ".join(f"{k}={v!r}" for k, v in example.get("values", {}).items())
    row = example.get("row")
    return f"row {row}: {values}" if row is not None else values


_STYLE = {"passed": "green", "failed": "red", "skipped": "yellow"}


def _render(report: Report, *, show_passed: bool) -> RenderableType:
    verdict = Text("PASSED", style="bold green") if report.passed else Text("FAILED", "bold red")
    title = Text.assemble(
        f"Contract {report.contract} on {report.rows:,} rows ",
        verdict,
        f" ({report.elapsed_seconds:.2f}s)",
    )
    passed = sum(c.passed for c in report.checks)
    caption = f"{passed} of {len(report.checks)} checks passed"
    if passed == len(report.checks) and not show_passed:
        return Text.assemble(title, f"\n{caption} (--all lists them)")
    if not show_passed and passed:
        caption += " (not listed; --all lists them)"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("check")
    table.add_column("severity")
    table.add_column("status")
    table.add_column("failures", justify="right")
    table.add_column("fraction", justify="right")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        if check.passed and not show_passed:
            continue
        style = _STYLE[check.status] if check.severity == "error" or check.passed else "yellow"
        detail = check.message
        if check.examples:
            shown = "; ".join(_example_text(e) for e in check.examples[:3])
            detail = f"{detail}; e.g. {shown}" if detail else f"e.g. {shown}"
        table.add_row(
            check.name,
            check.severity,
            Text(check.status, style=style),
            f"{check.failures:,}" if check.failures else "",
            f"{check.fraction:.2%}" if check.fraction else "",
            detail,
        )
    return table
