"""The `hotel` command: one entry point for the platform's whole life cycle.

Every error a user can cause ends in one red line and exit code 1, never a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from deploy.backup.cli import backup_app
from deploy.cluster.cli import cluster_app
from deploy.embedded import EmbeddedPostgres
from deploy.errors import HotelError
from deploy.migration_ledger import RevisionState
from deploy.monitor.targets import LOAD_METRICS_PORT
from hotel_models.settings import SettingsError, get_settings
from seeding.errors import SeedError

app = typer.Typer(
    help="Hotel-booking PostgreSQL platform: schema, migrations, seeding, load, HA, backups.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(cluster_app, name="cluster")
app.add_typer(backup_app, name="backup")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one error, one line


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def local_server() -> EmbeddedPostgres:
    return EmbeddedPostgres.for_state_dir(get_settings().state_dir)


def publish_url(url: str) -> None:
    """Write the DSN where settings find it when HOTEL_DATABASE_URL is unset (0600)."""
    path = get_settings().local_url_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(url + "\n")


@dataclass(frozen=True)
class Started:
    url: str
    secret: Path  # where the superuser password lives
    offset: int  # the local stack's port offset (0 for the embedded server)


def _start_embedded() -> Started:
    server = local_server()
    with console.status("starting the local PostgreSQL"):
        server.init()
        server.start()
    return Started(server.url(), server.root / "superuser.password", 0)


def _start_ha() -> Started:
    from deploy.cluster.cli import cluster_up

    cluster = cluster_up(offset=int(os.environ.get("HOTEL_CLUSTER_PORT_OFFSET", "0")))
    return Started(cluster.primary_url(), cluster.root / "secrets.json", cluster.offset)


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
    from deploy.migrations import migrate

    if monitor and not ha:
        raise HotelError("--monitor needs --ha: monitoring watches the HA stack")
    started = _start_ha() if ha else _start_embedded()
    publish_url(started.url)
    result = migrate(started.url, "head")
    console.print(f"[green]up[/]: migrated {result.before or 'empty'} -> {result.after}")
    if seed_scale is not None:
        _seed_if_empty(started.url, seed_scale)
    where = Table(title="hotel up", show_header=False)
    where.add_row("database", f"{masked(started.url)} (password in {started.secret})")
    if ha:
        where.add_row("HAProxy stats", f"http://127.0.0.1:{7000 + started.offset}/")
        where.add_row("backup", _first_backup())
    if load:
        port = LOAD_METRICS_PORT + started.offset
        where.add_row("load", f"{_start_load(started.url, port)}; metrics :{port}/metrics")
    if monitor:
        from deploy.monitor.cli import monitor_up

        where.add_row("Prometheus", monitor_up().prometheus_url)
    _print_status(started.url)
    console.print(where)


def _seed_if_empty(url: str, scale: str) -> None:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        seeded = conn.execute(text("SELECT EXISTS (SELECT FROM rooms)")).scalar_one()
    engine.dispose()
    if seeded:
        console.print("seed: the database has data already; left as it is")
    else:
        seed(scale=scale)


def _first_backup() -> str:
    """A fresh platform starts restorable: a full backup when the repository has none."""
    from deploy.backup.context import context_from_settings
    from deploy.backup.jobs import run_backup
    from deploy.backup.physical import manifests

    ctx = context_from_settings()
    if manifests(ctx):
        return f"{len(manifests(ctx))} in the repository (`hotel backup list`)"
    with console.status("first full backup"):
        outcome = run_backup(ctx, "full")
    if not outcome.ok:
        raise HotelError(f"the first full backup failed: {outcome.message}")
    return f"first full backup taken ({outcome.duration:.0f} s; `hotel backup list`)"


def _load_pid_file() -> Path:
    return get_settings().state_dir / "load.pid"


def _start_load(url: str, port: int) -> str:
    """`hotel load` as a background service (its own session, so `hotel down` can stop it)."""
    pid_file = _load_pid_file()
    if pid_file.is_file() and _alive(int(pid_file.read_text())):
        return f"running (pid {pid_file.read_text().strip()})"
    log = get_settings().state_dir / "load.log"
    argv = [sys.executable, "-c", "from deploy.cli import main; main()", "load"]
    argv += ["--rate", "20", "--metrics-port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, "HOTEL_DATABASE_URL": url},
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + 60
    while not _listening(port):  # monitoring, started next, then finds it serving
        if process.poll() is not None or time.monotonic() > deadline:
            raise HotelError(f"the load service did not start: see {log}")
        time.sleep(0.5)
    return f"started (pid {process.pid}, log {log})"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _stop_load() -> bool:
    pid_file = _load_pid_file()
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text())
    if _alive(pid):
        os.killpg(pid, signal.SIGTERM)
    pid_file.unlink()
    return True


@app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete data, logs and secrets.")] = False,
) -> None:
    """Stop what `hotel up` started: the load service, the HA stack with its monitoring, and the
    embedded server (with --purge also delete their data)."""
    from deploy.cluster.cli import local_cluster

    if _stop_load():
        console.print("[green]down[/]: stopped the load service")
    cluster = local_cluster()
    if cluster.exists():
        from deploy.monitor.cli import local_monitor

        local_monitor().down()
        cluster.down(purge=purge)
        console.print(f"[green]down[/]: stopped the HA stack{' and removed it' if purge else ''}")
    server = local_server()
    if purge:
        server.remove()
        get_settings().local_url_file.unlink(missing_ok=True)
        (get_settings().state_dir / "pg.location").unlink(missing_ok=True)
        console.print("[green]down[/]: stopped and removed the local server")
    else:
        server.stop()
        console.print("[green]down[/]: stopped the local server (data kept; --purge removes it)")


@app.command()
def status() -> None:
    """Show the database the platform points at: server, revision, tables."""
    from deploy.migrations import require_url

    _print_status(require_url())


def _print_status(url: str) -> None:
    from sqlalchemy import create_engine, pool, text

    from deploy.migrations import current_revision, script_directory

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
    head = script_directory().get_current_head()
    current = current_revision(url)
    table = Table(title="hotel status", show_header=False)
    table.add_row("database", masked(url))
    table.add_row("server", f"PostgreSQL {version} ({'replica' if recovery else 'primary'})")
    table.add_row("revision", f"{current or 'empty'} (head {head})")
    table.add_row("tables", str(tables))
    console.print(table)


@app.command("migrate")
def migrate_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A revision (head, base, 0003...) to upgrade or downgrade to; or an action: "
            "info (revisions and their state), validate (applied files unchanged, one head), "
            "repair (re-record checksums after a reviewed change), baseline REVISION "
            "(adopt an existing database), lint (squawk over each revision's SQL)."
        ),
    ] = "head",
    revision: Annotated[str | None, typer.Argument(help="The revision of `baseline`.")] = None,
    upgrade_only: Annotated[
        bool, typer.Option(help="Refuse a downgrade (a deployment's migrate only upgrades).")
    ] = False,
) -> None:
    """Migrate like Flyway: one migrator at a time, validated first, hooks after."""
    from deploy import migrations

    if target == "lint":
        from deploy.migration_lint import lint

        findings = lint()
        if findings:
            raise HotelError(f"lint: {len(findings)} finding(s), first: {findings[0]}")
        console.print("[green]lint[/]: every revision passes squawk (or waives with a reason)")
        return
    url = migrations.require_url()
    if target == "info":
        _print_info(migrations.info(url))
    elif target == "validate":
        problems = migrations.validate(url)
        if problems:
            raise HotelError(f"validate failed: {problems[0]}")
        console.print("[green]valid[/]: applied revisions unchanged, one head")
    elif target == "repair":
        repaired = migrations.repair(url)
        console.print(f"[green]repaired[/]: {', '.join(repaired) or 'nothing to repair'}")
    elif target == "baseline":
        if revision is None:
            raise HotelError("baseline needs a revision: hotel migrate baseline 0003")
        recorded = migrations.baseline(url, revision)
        console.print(f"[green]baselined[/] at {revision}: recorded {', '.join(recorded)}")
    else:
        if revision is not None:
            raise HotelError(f"unexpected argument {revision!r}: only baseline takes a revision")
        result = migrations.migrate(
            url, target, on_wait=lambda line: err_console.print(line), upgrade_only=upgrade_only
        )
        console.print(
            f"[green]migrated[/]: {result.before or 'empty'} -> {result.after or 'empty'}"
        )
        if result.analyzed:
            console.print(f"analyzed: {', '.join(result.analyzed)}")


def _print_info(states: list[RevisionState]) -> None:
    colours = {"applied": "green", "pending": "yellow", "changed": "red", "unrecorded": "red"}
    table = Table(title="migrations")
    for column in ("revision", "description", "state", "applied at", "by", "ms"):
        table.add_column(column)
    for state in states:
        table.add_row(
            state.revision,
            state.description,
            f"[{colours[state.state]}]{state.state}[/]",
            state.applied_at.strftime("%Y-%m-%d %H:%M:%S") if state.applied_at else "",
            state.applied_by,
            "" if state.duration_ms is None else str(state.duration_ms),
        )
    console.print(table)


@app.command()
def erd(
    output: Annotated[Path, typer.Option(help="Where to write the diagram.")] = Path("docs/erd.md"),
) -> None:
    """Write the Mermaid ER diagram generated from the models."""
    from deploy.erd import render_erd

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_erd())
    console.print(f"[green]wrote[/] {output}")


@app.command()
def load(
    rate: Annotated[
        float | None,
        typer.Option(help="Open loop: journey arrivals per second (Poisson). Default 50."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run; omitted: run until stopped (service).")
    ] = None,
    users: Annotated[
        int | None,
        typer.Option(help="Without --rate: closed loop with N users; with it: in-flight limit."),
    ] = None,
    mix: Annotated[
        Path | None, typer.Option(help="Workload mix TOML (default loadtest/default_mix.toml).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write report.json and report.html into this directory.")
    ] = None,
    metrics_port: Annotated[
        int, typer.Option(help="Serve Prometheus metrics on this port (0: do not serve).")
    ] = 8000,
    connections: Annotated[int, typer.Option(help="Connections per DSN.")] = 8,
    wait_seeded: Annotated[
        float,
        typer.Option(help="Wait up to N s for a migrated, seeded database (compose: beside seed)."),
    ] = 0,
) -> None:
    """Simulated guests, partners and analysts against the database (writes to
    HOTEL_DATABASE_URL, reads to HOTEL_REPLICA_URL when set), with Prometheus metrics."""
    from deploy.migrations import require_url
    from loadtest.db import LoadError
    from loadtest.runner import Options
    from loadtest.service import main as load_main

    settings = get_settings()
    replica = settings.replica_url.get_secret_value() if settings.replica_url else None
    if rate is None and users is None:
        rate = 50.0
    options = Options(
        url=require_url(),
        replica_url=replica,
        rate=rate,
        users=users,
        duration=duration,
        connections=connections,
    )
    try:
        if wait_seeded > 0:
            from loadtest.fixture import wait_seeded as wait_for_data

            wait_for_data(options.url, wait_seeded, lambda line: console.print(line))
        load_main(options, mix, report, metrics_port or None, console)
    except LoadError as exc:
        raise HotelError(str(exc)) from exc


@app.command()
def explain(
    samples: Annotated[int, typer.Option(help="Parameter draws per statement.")] = 20,
    query: Annotated[
        list[str] | None, typer.Option(help="Only this catalogued statement (repeatable).")
    ] = None,
    seq_scan_rows: Annotated[
        int, typer.Option(help="Flag a sequential scan of a table with more rows than this.")
    ] = 10_000,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON (with the plans) for machines.")
    ] = False,
    top: Annotated[
        int | None,
        typer.Option(help="Instead: the N heaviest statements of the last load run."),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when anything is flagged.")] = False,
) -> None:
    """The query catalogue under EXPLAIN (ANALYZE, BUFFERS) on the seeded database: time,
    rows, plan shape and buffers per statement, with big sequential scans and estimates off
    by more than 10x flagged; or, with --top, pg_stat_statements since the last load run."""
    import json

    from deploy.migrations import require_url
    from loadtest.catalogue import BY_NAME, CATALOGUE
    from loadtest.db import LoadError

    url = require_url()
    try:
        if top is not None:
            _print_top(url, top, as_json)
            return
        unknown = sorted(set(query or ()) - BY_NAME.keys())
        if unknown:
            raise HotelError(
                f"unknown statement {', '.join(unknown)}: known are {', '.join(BY_NAME)}"
            )
        from loadtest.explain import as_json as results_json
        from loadtest.explain import explain as run_explain

        chosen = [BY_NAME[name] for name in query] if query else list(CATALOGUE)
        with console.status("explaining the catalogue"):
            results = run_explain(url, chosen, samples=samples, seq_scan_rows=seq_scan_rows)
    except LoadError as exc:
        raise HotelError(str(exc)) from exc
    if as_json:
        print(json.dumps(results_json(results, with_plans=True), indent=2, default=str))
    else:
        table = Table(title=f"hotel explain ({samples} samples each; times are execution ms)")
        for column in ("statement", "median", "p95", "rows", "plan", "hit", "read", "flags"):
            numeric = column in ("median", "p95", "rows", "hit", "read")
            table.add_column(column, justify="right" if numeric else "left", overflow="fold")
        for r in results:
            table.add_row(
                r.name,
                f"{r.median_ms:.2f}",
                f"{r.p95_ms:.2f}",
                str(r.rows),
                "\n".join(r.shape),
                str(r.shared_hit),
                str(r.shared_read),
                "[yellow]" + "\n".join(r.flags) + "[/]" if r.flags else "",
            )
        console.print(table)
    flagged = [r.name for r in results if r.flags]
    if strict and flagged:
        raise HotelError(f"flagged: {', '.join(flagged)}")


def _print_top(url: str, limit: int, as_json: bool) -> None:
    import json

    from loadtest.statements import top_at

    result = top_at(url, limit)
    if as_json:
        print(
            json.dumps(
                {
                    "since": result.since.isoformat(),
                    "total_ms": result.total_ms,
                    "statements": [vars(s) for s in result.statements],
                },
                indent=2,
            )
        )
        return
    table = Table(
        title=f"heaviest statements since {result.since:%Y-%m-%d %H:%M:%S %Z} "
        f"({result.total_ms / 1000:.1f} s of execution in all)"
    )
    for column in ("share", "total ms", "calls", "mean ms", "rows", "hit", "read", "statement"):
        table.add_column(
            column, justify="left" if column == "statement" else "right", overflow="fold"
        )
    for s in result.statements:
        table.add_row(
            f"{s.share:.0%}",
            f"{s.total_ms:.0f}",
            str(s.calls),
            f"{s.mean_ms:.2f}",
            str(s.rows),
            str(s.shared_blks_hit),
            str(s.shared_blks_read),
            s.query[:300],
        )
    console.print(table)


@app.command()
def seed(
    scale: Annotated[
        str, typer.Option(help="tiny (~1k bookings), demo (~50k) or large (1M, ~8M rows).")
    ] = "demo",
    hotels: Annotated[int | None, typer.Option(help="Hotels (overrides the scale).")] = None,
    rooms: Annotated[int | None, typer.Option(help="Rooms (overrides the scale).")] = None,
    users: Annotated[int | None, typer.Option(help="Guests (overrides the scale).")] = None,
    bookings: Annotated[int | None, typer.Option(help="Bookings (overrides the scale).")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same rows.")] = 0,
    locale: Annotated[
        str | None, typer.Option(help="Faker locale (default HOTEL_SEED_LOCALE).")
    ] = None,
    append: Annotated[bool, typer.Option(help="Add to a database that already has data.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Run the business-rule checker afterwards.")
    ] = False,
    if_empty: Annotated[
        bool,
        typer.Option("--if-empty", help="Do nothing (exit 0) when there are bookings already."),
    ] = False,
) -> None:
    """Fill the migrated database with realistic, valid data through COPY (one transaction)."""
    from dataclasses import replace

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from deploy.migrations import require_url
    from seeding.bulk import load
    from seeding.plan import SCALES

    if scale not in SCALES:
        raise HotelError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    overrides = {"hotels": hotels, "rooms": rooms, "users": users, "bookings": bookings}
    counts = replace(SCALES[scale], **{k: v for k, v in overrides.items() if v is not None})
    url = require_url()
    if if_empty and _has_bookings(url):
        console.print("seed: the database has bookings already, nothing to do (--if-empty)")
        return
    expected = {"hotels": counts.hotels, "rooms": counts.rooms, "users": counts.users,
                "bookings": counts.bookings, "partners": counts.partners}  # fmt: skip
    tasks: dict[str, TaskID] = {}
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10} rows/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:

        def advance(table: str, rows: int, rate: float) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=expected.get(table), rate="")
            bar.advance(tasks[table], rows)
            task = bar.tasks[tasks[table]]
            # Tables without a target count show what is done so far as the total.
            total = expected.get(table, task.completed)
            bar.update(tasks[table], total=max(total, task.completed), rate=f"{rate:,.0f}")

        result = load(
            url,
            counts,
            seed=seed,
            locale=locale or get_settings().seed_locale,
            append=append,
            progress=advance,
        )
    table = Table(title=f"hotel seed (revision {result.revision or 'empty'})")
    for column in ("table", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for stat in result.tables.values():
        table.add_row(
            stat.table, f"{stat.rows:,}", f"{stat.seconds:.2f}", f"{stat.rows_per_second:,.0f}"
        )
    table.add_row(
        "total", f"{result.rows:,}", f"{result.seconds:.2f}",
        f"{result.rows / result.seconds:,.0f}", style="bold",
    )  # fmt: skip
    console.print(table)
    if result.skipped:
        console.print(f"not at this revision (skipped): {', '.join(result.skipped)}")
    if check:
        _check(url)


def _has_bookings(url: str) -> bool:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('bookings') IS NULL")).scalar_one():
                return False
            return bool(conn.execute(text("SELECT EXISTS (SELECT FROM bookings)")).scalar_one())
    finally:
        engine.dispose()


@app.command("check")
def check_command() -> None:
    """Check every business rule over the whole database (e.g. after a seed or a restore)."""
    from deploy.migrations import require_url

    _check(require_url())


def _check(url: str) -> None:
    from sqlalchemy import create_engine, pool

    from seeding.checker import check

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            violations = check(conn)
    finally:
        engine.dispose()
    if violations:
        for violation in violations[:50]:
            console.print(str(violation), highlight=False)
        raise HotelError(f"check failed: {len(violations)} violation(s), first: {violations[0]}")
    console.print("[green]check[/]: every business rule holds")


roles_app = typer.Typer(help="Database roles of the platform.", no_args_is_help=True)
app.add_typer(roles_app, name="roles")


@roles_app.command("sync")
def roles_sync() -> None:
    """Reconcile analyst logins with HOTEL_ANALYSTS and their passwords (idempotent)."""
    from sqlalchemy import create_engine, pool

    from deploy.migrations import require_url
    from hotel_models.roles import sync_analysts

    settings = get_settings()
    engine = create_engine(require_url(), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            sync_analysts(conn, settings)
    finally:
        engine.dispose()
    # The statements carry password verifiers: report names only.
    names = ", ".join(settings.analyst_names()) or "none"
    console.print(f"[green]roles synced[/]: analysts {names}")


def _one_line(exc: BaseException) -> str:
    """The first line of a driver error: psycopg's message carries the useful part."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> None:
    """Console-script entry: run the app, turn known failures into one line and exit 1."""
    import psycopg
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        app(standalone_mode=False)
    except (HotelError, SettingsError, SeedError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except DBAPIError as exc:
        err_console.print(f"[red]database error:[/] {_one_line(exc)}", highlight=False)
        sys.exit(1)
    except (psycopg.Error, ArgumentError, CommandError) as exc:
        err_console.print(f"[red]error:[/] {_one_line(exc)}", highlight=False)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[red]aborted[/]")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
