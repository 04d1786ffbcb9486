"""`hotel cluster monitor ...`: monitoring of the local stack, and the processes it runs
(`db-exporter` is also the compose service's command)."""

from __future__ import annotations

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
) -> None:
    """Serve business and health metrics read from HOTEL_DATABASE_URL (the primary port)."""
    from deploy.migrations import require_url
    from deploy.monitor.db_exporter import serve

    serve(require_url(), host, port)


@monitor_app.command("textfile-exporter")
def textfile_exporter(
    directory: Annotated[Path, typer.Option(help="Directory of *.prom files.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9191,
) -> None:
    """Serve the *.prom files of a directory (the backup tool's backup.prom)."""
    from deploy.monitor.textfile import serve

    serve(directory, host, port)
