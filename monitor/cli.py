"""`hotel monitor ...`: the exporters this package serves (the local stack starts them, and they
are the compose services' commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotel_models.settings import get_settings
from monitor import db_exporter, textfile

app = typer.Typer(help="The platform's own Prometheus exporters.", no_args_is_help=True)


@app.command("db-exporter")
def db_exporter_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9190,
) -> None:
    """Serve business and health metrics read from HOTEL_DATABASE_URL (the primary port)."""
    db_exporter.serve(get_settings().require_database_url(), host, port)


@app.command("textfile-exporter")
def textfile_exporter(
    directory: Annotated[Path, typer.Option(help="Directory of *.prom files.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9191,
) -> None:
    """Serve the *.prom files of a directory (the backup tool's backup.prom)."""
    textfile.serve(directory, host, port)
