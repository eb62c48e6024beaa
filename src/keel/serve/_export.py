"""``export_predictions``: a served model's prediction log as one Parquet file.
``recover_predictions``: the rows a killed server left in its journal, into the logs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keel.tracking import Project

__all__ = ["export_predictions", "recover_predictions"]


def export_predictions(
    name: str,
    out: str | Path,
    *,
    since: str | datetime | None = None,
    project: Project | None = None,
) -> int:
    """Write the prediction log of model ``name`` (one row per predicted record, oldest
    first) to the Parquet file ``out``; return the number of rows.

    ``since`` keeps rows from that time on: a datetime, an ISO date or datetime, or a span
    back from now (``"24h"``, ``"7d"``). An empty log writes a file with no rows.
    """
    from keel.monitor import PredictionLog, parse_time
    from keel.tracking import open_project

    project = project or open_project()
    log = PredictionLog(project.artifacts, name)
    frame = log.scan(since=parse_time(since)).collect()
    if "time" in frame.columns and frame.height:
        frame = frame.sort("time", "request_id", "row", maintain_order=True)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.part")
    frame.write_parquet(scratch)
    scratch.replace(target)
    return frame.height


def recover_predictions(name: str, *, project: Project | None = None) -> int:
    """Write the prediction and feedback rows that stopped servers of model ``name`` left in
    the project's journal (``.keel/journal/NAME/``) into the logs; return the number of
    prediction rows written.

    ``keel serve`` does this when it starts and when it stops. Segments that a running
    server still writes are left alone, a damaged last record is dropped, and rows already
    in the logs are not written again.
    """
    from keel.serve._journal import journal_folder
    from keel.serve._logwriter import LogWriter
    from keel.tracking import open_project

    project = project or open_project()
    folder = journal_folder(project.config.state_dir, name)
    return LogWriter(project.artifacts, name, None, journal=folder).recover()
