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


def _check_port(host: str, port: int) -> None:
    """Fail with a usage error unless ``host:port`` can be bound as uvicorn will bind it.

    uvicorn sets ``SO_REUSEADDR`` (so a port left in TIME_WAIT by a server just stopped is
    free again): so does this check, so it refuses exactly what uvicorn would, a port another
    socket listens on, an address this machine does not have, a port needing privileges.
    """
    import errno
    import socket

    from keel.errors import UsageError

    where = f"keel serve --host {host} --port {port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UsageError(
            f"{where}: the host {host!r} cannot be resolved ({exc.strerror}).",
            hint="--host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface).",
        ) from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"{where}: port {port} on {host} is already in use by another process.",
                    hint=f"Stop what listens there (lsof -i :{port} names it) or serve on "
                    f"another port: keel serve MODEL --port {port + 1 if port < 65535 else 8080}.",
                ) from exc
            if exc.errno == errno.EACCES:
                raise UsageError(
                    f"{where}: binding port {port} needs privileges this user lacks.",
                    hint="Use a port above 1023: keel serve MODEL --port 8080.",
                ) from exc
            raise UsageError(
                f"{where}: cannot listen on {host}:{port}: {exc.strerror or exc}.",
                hint="--host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every "
                "interface), with a free --port.",
            ) from exc


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
        # the arguments first: a bad flag is named whatever the port
        flush_every = _seconds(log_flush, "--log-flush")
        request_timeout = _seconds(timeout, "--timeout", positive=True)
        headers_within = _seconds(header_timeout, "--header-timeout", positive=True)
        _check_port(host, port)  # before any model is loaded: a taken port fails at once
        run(
            name,
            host,
            port,
            workers,
            batching=not no_batching,
            log_flush_interval=flush_every,
            max_body_bytes=max_body,
            request_timeout=request_timeout,
            max_header_bytes=max_header_bytes,
            header_timeout=headers_within,
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
