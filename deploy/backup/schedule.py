"""The backup schedule: cron expressions from settings, fired by croniter (the compose
`db_backup` service and `hotel backup schedule` on the local stack run this same loop).

Jobs never overlap (one loop, one job at a time); a job that overruns its next slot runs
once when it finishes, not once per missed slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter
from prometheus_client import start_http_server

from deploy.backup.context import BackupContext
from deploy.backup.jobs import Outcome, run_backup, run_verify, scheduled_kind
from deploy.backup.metrics import BackupMetrics
from hotel_models.errors import HotelError


@dataclass
class Job:
    name: str
    cron: str
    run: Callable[[], Outcome]
    due: datetime | None = None

    def plan(self, after: datetime) -> None:
        self.due = croniter(self.cron, after).get_next(datetime)


@dataclass(frozen=True)
class Clock:
    """Where the loop reads the time and waits: the system's, or a test's."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep


def parse_cron(name: str, expression: str) -> str:
    """Five fields, or six with seconds last (tests); a bad one is a one-line error."""
    if not croniter.is_valid(expression):
        raise HotelError(f"{name}: {expression!r} is not a cron expression (e.g. '0 1 * * *')")
    return expression


def jobs(
    ctx: BackupContext,
    metrics: BackupMetrics,
    backup_cron: str,
    logical_cron: str,
    verify_cron: str,
    full_every: float,
) -> list[Job]:
    every = timedelta(days=full_every)
    return [
        Job(
            "physical",
            parse_cron("HOTEL_BACKUP_CRON", backup_cron),
            lambda: run_backup(ctx, scheduled_kind(ctx, every), metrics),
        ),
        Job(
            "logical",
            parse_cron("HOTEL_BACKUP_LOGICAL_CRON", logical_cron),
            lambda: run_backup(ctx, "logical", metrics),
        ),
        Job(
            "verify",
            parse_cron("HOTEL_BACKUP_VERIFY_CRON", verify_cron),
            lambda: run_verify(ctx, None, metrics),
        ),
    ]


def run_schedule(
    metrics: BackupMetrics,
    plan: list[Job],
    max_runs: int | None = None,
    until: datetime | None = None,
    metrics_port: int = 0,
    report: Callable[[Job, Outcome], None] = lambda job, outcome: None,
    metrics_addr: str = "127.0.0.1",
    clock: Clock = Clock(),
) -> list[Outcome]:
    """Run jobs when due until `max_runs` jobs ran or `until` passed (forever without both)."""
    metrics.publish()  # the state of earlier runs, before the first one of this loop
    server = None
    if metrics_port:
        try:
            server, _ = start_http_server(metrics_port, metrics_addr, metrics.registry)
        except OSError as exc:
            raise HotelError(f"metrics port {metrics_port}: {exc.strerror}") from None
    outcomes: list[Outcome] = []
    try:
        now = clock.now()
        for job in plan:
            job.plan(now)
        while max_runs is None or len(outcomes) < max_runs:
            job = min(plan, key=lambda j: j.due or now)
            due = job.due or now
            if until is not None and due > until:
                break
            wait = (due - clock.now()).total_seconds()
            if wait > 0:
                clock.sleep(wait)
            outcome = job.run()
            outcomes.append(outcome)
            report(job, outcome)
            job.plan(clock.now())
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    return outcomes
