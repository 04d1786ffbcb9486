"""`hotel monitor ...`: the exporters this package serves (the local stack starts them, and they
are the compose services' commands), and the monitoring role they log in as."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from hotel_models.errors import HotelError
from hotel_models.settings import get_settings, libpq_url
from monitor.role import MONITOR_ROLE, ensure_monitor_role, parse_nodes

app = typer.Typer(
    help="The platform's own Prometheus exporters and their role.", no_args_is_help=True
)
console = Console()


@app.command("db-exporter")
def db_exporter_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9190,
    node: Annotated[
        list[str] | None,
        typer.Option(help="NAME=HOST:PORT of a node whose statements to read (repeat)."),
    ] = None,
) -> None:
    """Serve business and health metrics read from HOTEL_DATABASE_URL (the primary port);
    with --node, each node's statements as hotel_monitor (password: HOTEL_MONITOR_PASSWORD)."""
    from monitor import db_exporter  # prometheus_client: not for every command

    nodes = {}
    if node:
        try:
            nodes = parse_nodes(node, monitor_password())
        except ValueError as exc:
            raise HotelError(str(exc)) from None
    db_exporter.serve(get_settings().require_database_url(), host, port, nodes)


@app.command("textfile-exporter")
def textfile_exporter(
    directory: Annotated[Path, typer.Option(help="Directory of *.prom files.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9191,
) -> None:
    """Serve the *.prom files of a directory (the backup tool's backup.prom)."""
    from monitor import textfile  # prometheus_client: not for every command

    textfile.serve(directory, host, port)


@app.command()
def role() -> None:
    """Create or update the hotel_monitor login (pg_monitor only) with HOTEL_MONITOR_PASSWORD,
    as HOTEL_DATABASE_URL's superuser (compose runs this once; `hotel cluster monitor up` does
    it for the local stack)."""
    password = monitor_password()
    conninfo = libpq_url(get_settings().require_database_url())
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            ensure_monitor_role(conn, password)
    except psycopg.Error as exc:
        raise HotelError(f"could not set up {MONITOR_ROLE}: {str(exc).strip()}") from None
    console.print(f"[green]{MONITOR_ROLE} ready[/] (pg_monitor)")


def monitor_password() -> str:
    password = get_settings().monitor_password
    if password is None or not password.get_secret_value():
        raise HotelError("HOTEL_MONITOR_PASSWORD is not set: the monitoring role's password")
    return password.get_secret_value()
