"""`hotel cluster monitor ...`: monitoring of the local stack, and the processes it runs
(`db-exporter` is also the compose service's command)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deploy.errors import HotelError
from deploy.monitor.local import LocalMonitor

monitor_app = typer.Typer(
    help="Prometheus and exporters for the local HA stack; the db exporter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


def local_monitor() -> LocalMonitor:
    from deploy.cluster.cli import local_cluster
    from hotel_models.settings import get_settings

    return LocalMonitor(local_cluster(), get_settings().state_dir / "metrics")


def monitor_up() -> LocalMonitor:
    """Start the local monitoring (used by `hotel up --ha --monitor` too)."""
    monitor = local_monitor()
    with console.status("starting monitoring") as spinner:
        absent = monitor.up(progress=lambda what: spinner.update(what))
    console.print(f"[green]monitoring up[/]: Prometheus {monitor.prometheus_url}/alerts")
    if absent:
        console.print(
            f"[yellow]not running yet[/]: {', '.join(absent)}; their targets show down and "
            "their panels stay empty until they run"
        )
    return monitor


@monitor_app.command()
def up() -> None:
    """Start postgres_exporter x3, the db exporter and Prometheus for the local stack."""
    monitor_up()


@monitor_app.command()
def down() -> None:
    """Stop the monitoring processes (the cluster keeps running)."""
    stopped = local_monitor().down()
    console.print(f"[green]monitoring down[/]: stopped {', '.join(stopped) or 'nothing'}")


@monitor_app.command()
def targets() -> None:
    """Every scrape target and its health, as Prometheus sees it."""
    monitor = local_monitor()
    if not monitor.ready():
        raise HotelError("Prometheus is not running: `hotel cluster monitor up`")
    table = Table(title="scrape targets")
    for column in ("job", "instance", "health", "last error"):
        table.add_column(column)
    for target in sorted(monitor.targets(), key=lambda t: (t["labels"]["job"], t["scrapeUrl"])):
        table.add_row(
            target["labels"]["job"],
            target["labels"]["instance"],
            target["health"],
            target.get("lastError", ""),
        )
    console.print(table)


@monitor_app.command("db-exporter")
def db_exporter(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9190,
    node: Annotated[
        list[str] | None,
        typer.Option(help="NAME=HOST:PORT of a node whose statements to read (repeat)."),
    ] = None,
) -> None:
    """Serve business and health metrics read from HOTEL_DATABASE_URL (the primary port);
    with --node, each node's statements as hotel_monitor (password: HOTEL_MONITOR_PASSWORD)."""
    from deploy.migrations import require_url
    from deploy.monitor.db_exporter import serve
    from deploy.monitor.node_stats import parse_nodes

    nodes = {}
    if node:
        password = monitor_password()
        try:
            nodes = parse_nodes(node, password)
        except ValueError as exc:
            raise HotelError(str(exc)) from None
    serve(require_url(), host, port, nodes)


def monitor_password() -> str:
    password = os.environ.get("HOTEL_MONITOR_PASSWORD", "")
    if not password:
        raise HotelError("HOTEL_MONITOR_PASSWORD is not set: the monitoring role's password")
    return password


@monitor_app.command("role")
def role() -> None:
    """Create or update the hotel_monitor login (pg_monitor only) with HOTEL_MONITOR_PASSWORD,
    as HOTEL_DATABASE_URL's superuser (compose runs this once; `monitor up` does it locally)."""
    import psycopg

    from deploy.migrations import require_url
    from deploy.monitor.db_exporter import conninfo_from_url
    from deploy.monitor.node_stats import MONITOR_ROLE, ensure_monitor_role

    password = monitor_password()
    try:
        with psycopg.connect(conninfo_from_url(require_url()), autocommit=True) as conn:
            ensure_monitor_role(conn, password)
    except psycopg.Error as exc:
        raise HotelError(f"could not set up {MONITOR_ROLE}: {str(exc).strip()}") from None
    console.print(f"[green]{MONITOR_ROLE} ready[/] (pg_monitor)")


@monitor_app.command("textfile-exporter")
def textfile_exporter(
    directory: Annotated[Path, typer.Option(help="Directory of *.prom files.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9191,
) -> None:
    """Serve the *.prom files of a directory (the backup tool's backup.prom)."""
    from deploy.monitor.textfile import serve

    serve(directory, host, port)
