"""`hotel backup ...`: take, list, verify and restore backups, and run their schedule.

The jobs, the schedule and the bench are imported in their commands: they bring
prometheus_client and croniter (about 0.1-0.3 s), which every other `hotel` command would pay.

Every command serves the stack HOTEL_BACKUP_TARGET names (the local one by default); every
failure a user can cause is a HotelError, printed as one line by `hotel`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from deploy.backup import logical, physical
from deploy.backup.context import context_from_settings
from deploy.backup.integrity import verify_restored
from deploy.backup.settings import get_backup_settings
from hotel_models.errors import HotelError

if TYPE_CHECKING:
    from deploy.backup.jobs import Outcome
    from deploy.backup.schedule import Job

backup_app = typer.Typer(
    help="Physical (pgBackRest) and logical backups: create, list, verify, restore, schedule.",
    no_args_is_help=True,
)
console = Console()


def _size(value: float | None) -> str:
    if value is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(value: str, option: str = "--target-time") -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HotelError(
            f"{option} {value!r} is not an ISO time (e.g. 2026-11-25T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise HotelError(f"{option} {value!r} needs a time zone (Z or +03:00)")
    return parsed


@backup_app.command()
def create(
    type_: Annotated[
        Literal["full", "diff", "incr", "logical"],
        typer.Option("--type", help="full, diff, incr (pgBackRest) or logical (pg_dump)."),
    ] = "full",
    repo: Annotated[
        int, typer.Option(help="pgBackRest repository: 2 is the encrypted HOTEL_BACKUP_REPO2.")
    ] = 1,
) -> None:
    """Take one backup now; its outcome goes to the metrics either way."""
    from deploy.backup.jobs import run_backup

    ctx = context_from_settings()
    with console.status(f"{type_} backup"):
        outcome = run_backup(ctx, type_, repo=repo)
    if not outcome.ok:
        raise HotelError(f"{type_} backup failed: {outcome.message}")
    console.print(f"[green]{outcome.message}[/]: {_size(outcome.size)} in {outcome.duration:.1f} s")


@backup_app.command("list")
def list_() -> None:
    """Every backup: type, time, size, duration, WAL range, verified or not."""

    ctx = context_from_settings()
    table = Table(title="hotel backups")
    table.add_column("id", no_wrap=True)
    for column in ("type", "time (UTC)", "size", "duration", "WAL range", "verified"):
        table.add_column(column)
    known = physical.manifests(ctx)
    for backup in physical.info(ctx):
        manifest = known.get(backup["label"])
        if manifest is None:
            verified = "no manifest"
        elif manifest.verified_at is None:
            verified = "no"
        elif manifest.verify_problems:
            verified = f"[red]FAILED[/] {manifest.verified_at[:19]}"
        else:
            verified = f"[green]yes[/] {manifest.verified_at[:19]}"
        stamp = backup["timestamp"]
        archive = backup.get("archive") or {}
        table.add_row(
            backup["label"],
            backup["type"],
            _when(stamp["stop"]),
            _size(backup["info"]["repository"]["delta"]),
            f"{stamp['stop'] - stamp['start']} s",
            f"{archive.get('start', '')}..{archive.get('stop', '')}",
            verified,
        )
    for snapshot in logical.snapshots(ctx):
        meta = snapshot.manifest
        files = meta.get("files")
        size = sum(int(f["bytes"]) for f in files.values()) if isinstance(files, dict) else None
        table.add_row(
            snapshot.name,
            "logical",
            str(meta.get("created_at", ""))[:19],
            _size(size),
            f"{meta.get('duration_seconds', '')} s",
            "",
            "[green]checksums ok[/]" if snapshot.good else f"[red]BROKEN[/] {snapshot.problems[0]}",
        )
    console.print(table)


@backup_app.command()
def verify(
    backup_id: Annotated[
        str | None,
        typer.Argument(help="A backup id from `list` (default: the newest physical backup)."),
    ] = None,
) -> None:
    """pgBackRest checksums + a real restore into a scratch instance, row counts against the
    backup point and integrity checks; logical snapshots: checksums and pg_restore --list."""
    from deploy.backup.jobs import run_verify

    ctx = context_from_settings()
    with console.status("verifying (restore into a scratch instance)"):
        outcome = run_verify(ctx, backup_id)
    if not outcome.ok:
        raise HotelError(f"verify failed: {outcome.message}")
    console.print(f"[green]verified[/]: {outcome.message} in {outcome.duration:.1f} s")


@backup_app.command()
def restore(
    to: Annotated[Path, typer.Option("--to", help="New, empty data directory.")],
    target_time: Annotated[
        str | None,
        typer.Option(help="Recover to this time (ISO, with zone); default: end of the archive."),
    ] = None,
    start: Annotated[bool, typer.Option(help="Start the restored instance.")] = True,
    backup_set: Annotated[
        str | None, typer.Option("--set", help="Restore from this backup id (default: newest).")
    ] = None,
    repo: Annotated[
        int | None,
        typer.Option(help="From this repository only (2: the encrypted one); default: any."),
    ] = None,
) -> None:
    """Point-in-time recovery into a new directory; never over a node or a non-empty DIR."""

    when = parse_time(target_time) if target_time else None
    ctx = context_from_settings()
    with console.status("restoring"):
        instance = physical.pitr(ctx, to, when, start=start, backup_set=backup_set, repo=repo)
    if not start:
        console.print(f"[green]restored[/] into {instance.data_dir} (not started)")
        return
    problems = verify_restored(instance.url())
    console.print(
        f"[green]restored[/] into {instance.data_dir}, running on 127.0.0.1:{instance.port} "
        f"(stop: pg_ctl -D {instance.data_dir} stop)"
    )
    if problems:
        raise HotelError(f"the restored database fails its checks: {problems[0]}")


@backup_app.command()
def schedule(
    max_runs: Annotated[int | None, typer.Option(help="Stop after this many job runs.")] = None,
    until: Annotated[str | None, typer.Option(help="Stop at this time (ISO, with zone).")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics here (default HOTEL_BACKUP_METRICS_PORT; 0: off)."),
    ] = None,
) -> None:
    """Run the backup, logical snapshot and verify jobs on their cron schedules (foreground)."""
    from deploy.backup.jobs import metrics_for
    from deploy.backup.schedule import jobs, parse_cron, run_schedule

    settings = get_backup_settings()
    stop = parse_time(until, "--until") if until else None
    crons = (settings.cron, settings.logical_cron, settings.verify_cron)
    for name, expression in zip(
        ("HOTEL_BACKUP_CRON", "HOTEL_BACKUP_LOGICAL_CRON", "HOTEL_BACKUP_VERIFY_CRON"),
        crons,
        strict=True,
    ):
        parse_cron(name, expression)
    ctx = context_from_settings()
    metrics = metrics_for(ctx)
    plan = jobs(ctx, metrics, *crons, settings.full_every_days)
    port = ctx.metrics_port if metrics_port is None else metrics_port
    console.print(
        f"schedule: {', '.join(f'{j.name} [{j.cron}]' for j in plan)}; metrics "
        f"{ctx.metrics_file}"
        + (f" and http://{ctx.topology.listen_host}:{port}/metrics" if port else "")
    )

    def report(job: Job, outcome: Outcome) -> None:
        colour = "green" if outcome.ok else "red"
        console.print(
            f"{datetime.now(UTC):%H:%M:%S} [{colour}]{outcome.kind}[/] "
            f"{'ok' if outcome.ok else 'FAILED'} ({outcome.duration:.1f} s): {outcome.message}",
            highlight=False,
        )

    # Loopback for the local stack; every interface inside the compose network.
    addr = ctx.topology.listen_host
    outcomes = run_schedule(metrics, plan, max_runs, stop, port, report, addr)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise HotelError(f"{len(failed)} of {len(outcomes)} runs failed: {failed[-1].message}")


@backup_app.command()
def bench(
    rows: Annotated[int, typer.Option(help="Rows of bulk data generated first.")] = 1_500_000,
) -> None:
    """Full backup, verified restore and PITR times on the local stack with bulk data."""
    from deploy.backup.bench import run_bench

    run_bench(context_from_settings(), rows, console)
