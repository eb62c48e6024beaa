"""``keel serve NAME``, ``keel predictions export NAME`` and ``keel predictions recover NAME``.

``keel predictions export --format json`` prints ``{"model": NAME, "path": OUT, "rows": N}``;
``keel predictions recover --format json`` prints ``{"model": NAME, "rows": N}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel.cli._output import Format, out, print_json, reporting

__all__ = ["app", "serve"]

# Library code is imported inside each command, so that `keel X` loads only what X needs.

app = typer.Typer(help="A served model's prediction log.", no_args_is_help=True)


def _seconds(text: str | None, flag: str, *, positive: bool = False) -> float | None:
    """A duration flag's value in seconds (the one duration grammar: 250ms, 30s, 1h, ...);
    ``positive`` refuses 0 (a timeout of 0 would fail every request)."""
    from keel.grammar import parse_duration

    return None if text is None else parse_duration(text, where=flag, positive=positive).seconds


def serve(
    name: Annotated[str, typer.Argument(help="The registered model to serve.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_batching: Annotated[
        bool, typer.Option("--no-batching", help="Predict each request alone.")
    ] = False,
    log_flush: Annotated[
        str | None,
        typer.Option("--log-flush", help="How often the prediction log is written (5s)."),
    ] = None,
    max_body: Annotated[
        int | None, typer.Option("--max-body", help="Largest request body in bytes (1 MiB).")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="How long a request may take (30s).")
    ] = None,
    model_version: Annotated[
        int | None,
        typer.Option(
            "--model-version", min=1, help="Serve this version alone (KEEL_MODEL_VERSION)."
        ),
    ] = None,
    max_header_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-header-bytes", min=1024, help="Largest request line + headers (64 KiB): 431."
        ),
    ] = None,
    header_timeout: Annotated[
        str | None,
        typer.Option("--header-timeout", help="How long to send a request's headers (10s): 408."),
    ] = None,
    max_connections: Annotated[
        int | None,
        typer.Option("--max-connections", min=1, help="Open connections (1000); beyond: 503."),
    ] = None,
) -> None:
    """Serve NAME@champion (or what deploy/NAME.yaml says) over HTTP until SIGTERM."""
    import os

    from keel.serve import serve as run

    if model_version is not None:  # read by the app in every worker process
        os.environ["KEEL_MODEL_VERSION"] = str(model_version)

    with reporting():
        run(
            name,
            host,
            port,
            workers,
            batching=not no_batching,
            log_flush_interval=_seconds(log_flush, "--log-flush"),
            max_body_bytes=max_body,
            request_timeout=_seconds(timeout, "--timeout", positive=True),
            max_header_bytes=max_header_bytes,
            header_timeout=_seconds(header_timeout, "--header-timeout", positive=True),
            max_connections=max_connections,
        )


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="The served model.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    since: Annotated[
        str | None, typer.Option(help="Rows from then on: 24h, 7d or an ISO date.")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Write the prediction log of NAME as one Parquet file, one row per predicted record."""
    from keel.serve import export_predictions

    with reporting():
        rows = export_predictions(name, output, since=since)
    if fmt is Format.json:
        print_json({"model": name, "path": str(output), "rows": rows})
        return
    out.print(f"Wrote {rows} prediction row(s) of {name} to {output}", highlight=False)


@app.command("recover")
def recover(
    name: Annotated[str, typer.Argument(help="The served model.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Write the rows a killed `keel serve NAME` left in the local journal into the logs
    (`keel serve` does it when it starts)."""
    from keel.serve import recover_predictions

    with reporting():
        rows = recover_predictions(name)
    if fmt is Format.json:
        print_json({"model": name, "rows": rows})
        return
    out.print(f"Recovered {rows} prediction row(s) of {name} from the journal", highlight=False)
