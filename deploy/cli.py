"""The `hotel` command: each package's sub-app composed into one, plus the platform's own
`up`, `down` and `status`.

Every error a user can cause ends in one red line and exit code 1, never a traceback; a
mistyped command or option gets click's usage line and exit code 2.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from alembic.util.exc import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from deploy.backup.cli import backup_app
from deploy.backup.context import context_from_settings
from deploy.cluster.cli import (
    Purge,
    PurgeBackups,
    Yes,
    cluster_app,
    cluster_up,
    local_cluster,
    monitor_up,
    stop_local_stack,
)
from deploy.embedded import EmbeddedPostgres
from deploy.migrate import cli as migrate_cli
from deploy.migrate.runner import current_revision, migrate, script_directory
from deploy.process import PidFile, start_service, write_secret
from hotel_models import cli as models_cli
from hotel_models.errors import HotelError
from hotel_models.roles import HOTEL_APP, login_url
from hotel_models.settings import get_settings
from loadtest import cli as load_cli
from monitor import cli as monitor_cli
from monitor.targets import LOAD_METRICS_PORT
from seeding import cli as seeding_cli
from seeding.bulk import is_seeded

app = typer.Typer(
    help="Hotel-booking PostgreSQL platform: schema, migrations, seeding, load, HA, backups.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # usage errors as click prints them: the usage, then one Error: line
)
for package_app in (migrate_cli.app, seeding_cli.app, load_cli.app, models_cli.app):
    app.add_typer(package_app)
app.add_typer(cluster_app, name="cluster")
app.add_typer(backup_app, name="backup")
app.add_typer(monitor_cli.app, name="monitor")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one error, one line


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Started:
    url: str
    secret: Path  # where the superuser password lives
    offset: int  # the local stack's port offset (0 for the embedded server)
    ca_file: Path | None = None  # the HA stack's CA: clients verify its servers with it

    def login(self, role: str, password: str) -> str:
        """A login's DSN: the HA stack's is through HAProxy with TLS verified (the superuser's
        goes through the nodes' sockets), the embedded server's the same as the superuser's."""
        if self.ca_file is None:
            return login_url(self.url, role, password)
        return local_cluster().service_url(role, password)


def _start_embedded() -> Started:
    server = EmbeddedPostgres.for_state_dir(get_settings().state_dir)
    with console.status("starting the local PostgreSQL"):
        server.init()
        server.start()
    return Started(server.url(), server.root / "superuser.password", 0)


def _start_ha() -> Started:
    cluster = cluster_up(offset=get_settings().cluster_port_offset)
    return Started(
        cluster.primary_url(), cluster.root / "secrets.json", cluster.offset, cluster.ca_file
    )


def _publish_url(url: str) -> None:
    """Write the DSN where settings find it when HOTEL_DATABASE_URL is unset (0600)."""
    path = get_settings().local_url_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    write_secret(path, url + "\n")


def key_value_table(title: str) -> Table:
    """Two columns; values fold rather than end in an ellipsis: a DSN is copied whole."""
    table = Table(title=title, show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


@app.command()
def up(
    ha: Annotated[
        bool, typer.Option("--ha", help="The HA stack (etcd x3, Patroni x3, HAProxy).")
    ] = False,
    seed_scale: Annotated[
        str | None,
        typer.Option("--seed", help="Seed an empty database: tiny, demo or large."),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Run `hotel load` in the background (gentle rate).")
    ] = False,
    monitor: Annotated[
        bool,
        typer.Option("--monitor", help="With --ha: also Prometheus and the exporters."),
    ] = False,
) -> None:
    """Start the platform: PostgreSQL (the embedded server, or the HA stack with --ha) migrated
    to head, optionally seeded, under load and monitored. Idempotent."""
    if monitor and not ha:
        raise HotelError("--monitor needs --ha: monitoring watches the HA stack")
    started = _start_ha() if ha else _start_embedded()
    _publish_url(started.url)
    app_secret = _app_password()  # before migrating: the migration's after hook sets it
    result = migrate(started.url, "head")
    console.print(f"[green]up[/]: migrated {result.before or 'empty'} -> {result.after}")
    if seed_scale is not None:
        if is_seeded(started.url):
            console.print("seed: the database has data already; left as it is")
        else:
            seeding_cli.seed(scale=seed_scale)
    where = key_value_table("hotel up")
    app_url = started.login(HOTEL_APP, get_settings().resolved_app_password() or "")
    where.add_row("database", f"{masked(started.url)} (password in {started.secret})")
    where.add_row("service (hotel_app)", f"{masked(app_url)} (password in {app_secret})")
    if started.ca_file is not None:
        where.add_row("CA certificate", f"{started.ca_file} (sslrootcert; sslmode=verify-full)")
    if ha:
        from deploy.backup.jobs import first_backup  # prometheus_client: not for every command

        stats = started.secret.parent / "haproxy-stats.password"
        where.add_row(
            "HAProxy stats",
            f"http://127.0.0.1:{7000 + started.offset}/ (user stats, password in {stats})",
        )
        with console.status("first full backup"):
            where.add_row("backup", first_backup(context_from_settings()))
    if load:
        port = LOAD_METRICS_PORT + started.offset
        where.add_row("load", f"{_start_load(app_url, port)}; metrics :{port}/metrics")
    if monitor:
        where.add_row("Prometheus", monitor_up().prometheus_url)
    _print_status(started.url)
    console.print(where)


def _app_password() -> str:
    """Where hotel_app's password lives: HOTEL_APP_PASSWORD, else one generated once into the
    state directory (0600). Every `hotel migrate` sets it on the role."""
    settings = get_settings()
    if settings.app_password is not None:
        return "HOTEL_APP_PASSWORD"
    if not settings.app_password_file.is_file():
        write_secret(settings.app_password_file, secrets.token_urlsafe(24))
    return str(settings.app_password_file)


def _load_pid_file() -> PidFile:
    return PidFile(get_settings().state_dir / "load.pid")


def _start_load(url: str, port: int) -> str:
    """`hotel load` at a gentle rate in the background; monitoring, started next, finds it."""
    argv = [sys.executable, "-m", "deploy", "load", "--rate", "20", "--metrics-port", str(port)]
    log = get_settings().state_dir / "load.log"
    env = {"HOTEL_DATABASE_URL": url}
    return start_service("load service", argv, _load_pid_file(), log, port, env)


@app.command()
def down(purge: Purge = False, purge_backups: PurgeBackups = False, yes: Yes = False) -> None:
    """Stop what `hotel up` started: the load service, the HA stack with its monitoring, and the
    embedded server (with --purge also delete their data)."""
    if _load_pid_file().stop():
        console.print("[green]down[/]: stopped the load service")
    if local_cluster().exists():
        stop_local_stack(purge, purge_backups, yes)
        console.print(f"[green]down[/]: stopped the HA stack{' and removed it' if purge else ''}")
    settings = get_settings()
    server = EmbeddedPostgres.for_state_dir(settings.state_dir)
    if purge:
        server.remove()
        for leftover in (settings.local_url_file, settings.app_password_file):
            leftover.unlink(missing_ok=True)
        (settings.state_dir / "pg.location").unlink(missing_ok=True)
        console.print("[green]down[/]: stopped and removed the local server")
    else:
        server.stop()
        console.print("[green]down[/]: stopped the local server (data kept; --purge removes it)")


@app.command()
def status() -> None:
    """Show the database the platform points at: server, revision, tables."""
    _print_status(get_settings().require_database_url())


def _print_status(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            recovery = conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one()
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
    finally:
        engine.dispose()
    table = key_value_table("hotel status")
    table.add_row("database", masked(url))
    table.add_row("server", f"PostgreSQL {version} ({'replica' if recovery else 'primary'})")
    head = script_directory().get_current_head()
    table.add_row("revision", f"{current_revision(url) or 'empty'} (head {head})")
    table.add_row("tables", str(tables))
    cluster = local_cluster()
    if cluster.exists():
        table.add_row("CA certificate", f"{cluster.ca_file} (the HA stack's; sslmode=verify-full)")
    console.print(table)


def _one_line(exc: BaseException) -> str:
    """The first line of a driver error: psycopg's message carries the useful part."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> None:
    """Console-script entry: click handles usage errors (exit 2); known failures are one line
    and exit 1."""
    try:
        app(prog_name="hotel")
        return
    except HotelError as exc:
        line = f"[red]error:[/] {exc}"
    except DBAPIError as exc:
        line = f"[red]database error:[/] {_one_line(exc)}"
    except (psycopg.Error, ArgumentError, CommandError) as exc:
        line = f"[red]error:[/] {_one_line(exc)}"
    except ValidationError as exc:  # a malformed HOTEL_* setting
        first = exc.errors()[0]
        where = f"HOTEL_{str(first['loc'][0]).upper()}" if first["loc"] else exc.title
        line = f"[red]error:[/] {where}: {first['msg']}"
    err_console.print(line, highlight=False)
    sys.exit(1)
