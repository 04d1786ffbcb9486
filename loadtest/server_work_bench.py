"""Server work per booking: `python -m loadtest.server_work_bench [--scale demo]
[--journeys 300] [--rounds 5] [--before 0020]`.

One scratch platform (`hotel up`, torn down afterwards), one database seeded at `--before`
and a copy of it (CREATE DATABASE ... TEMPLATE) migrated to head: the same data under the
booking path as it was and as it is. The load generator's own guest booking journey runs
`--journeys` times against each (same seed, same sample of the data, one simulated user),
with pg_stat_statements reset before and read after (track = all, planning and utility
statements on), in `--rounds` alternating rounds (before then after, then after then before;
each round's own journey seed on both): single runs of each varied by a third here from run
to run, so the ratio printed is the median of the rounds' ratios, with their range. Per
booking, all rounds together, it prints the server time of the booking's own transactions
(the service's statements with every trigger they fire, planning, BEGIN and COMMIT; the
searches and hotel pages of the journey are counted apart, as another role), the
statements the triggers ran (nested, already inside those figures), audit rows written, and
the CPU time of the backend that served the bookings (/proc, clock ticks). Figures are
indicative: printed with the load average of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from hotel_models.roles import HOTEL_APP, login_url
from hotel_models.settings import libpq_url
from loadtest.db import Pool
from loadtest.metrics import Metrics
from loadtest.mix import load_mix
from loadtest.runner import Catalog, Runner, sample_catalog
from loadtest.stats import Recorder
from seeding.bulk import load
from seeding.plan import SCALES
from seeding.scratch import Scratch, scratch_platform

SETTINGS = {
    "pg_stat_statements.track": "all",
    "pg_stat_statements.track_planning": "on",
    "pg_stat_statements.track_utility": "on",
}
TOP = 12  # statements listed per run


@dataclass
class Work:
    label: str
    bookings: int
    journeys: int
    booking_ms: float  # top-level statements of the service's role: exec + plan
    read_ms: float  # searches and hotel pages (another role)
    commit_ms: float
    statements: int  # top-level statements sent for the bookings
    nested: list[tuple[str, int, float]]  # trigger statements: query, calls, ms
    top: list[tuple[str, int, float]]  # top-level booking statements: query, calls, ms
    audit_rows: int
    backend_cpu_s: float
    wall_s: float


def _ticks(pid: int) -> float:
    """utime + stime of a backend, in seconds (readable by anyone on Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _short(query: str, width: int = 90) -> str:
    line = " ".join(query.split())
    return line if len(line) <= width else line[: width - 3] + "..."


async def _journeys(
    app_url: str, admin_url: str, catalog: Catalog, journeys: int, seed: int
) -> tuple[int, float, float]:
    """(bookings, backend CPU seconds, wall seconds) of `journeys` guest booking journeys.
    Bookings go through one hotel_app connection; the journey's reads through another
    (as the superuser: pg_stat_statements tells them apart by role)."""
    primary, reads = Pool(app_url, 1, role=None), Pool(admin_url, 1, role=None)
    mix = load_mix()
    runner = Runner(
        primary, reads, mix, Recorder(Metrics()), catalog, f"work-{uuid.uuid4().hex[:8]}", seed
    )
    try:
        async with primary.connection() as conn:
            pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or (0,))[0]
        cpu, started = _ticks(pid), time.perf_counter()
        for _ in range(journeys):
            await runner.guest_booking(runner.loop.time())
        wall = time.perf_counter() - started
        cpu = _ticks(pid) - cpu
    finally:
        await primary.close()
        await reads.close()
    return len(runner.books.acknowledged), cpu, wall


def measure(
    scratch: Scratch, url: str, label: str, catalog: Catalog, journeys: int, seed: int
) -> Work:
    app_url = login_url(url, HOTEL_APP, _app_password(scratch))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("SELECT public.pg_stat_statements_reset()")
        (audit_before,) = conn.execute("SELECT count(*) FROM audit_log").fetchone() or (0,)
    bookings, cpu, wall = asyncio.run(_journeys(app_url, url, catalog, journeys, seed))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        (audit_after,) = conn.execute("SELECT count(*) FROM audit_log").fetchone() or (0,)
        rows = conn.execute(
            "SELECT r.rolname = %s, s.toplevel, s.query, s.calls,"
            " s.total_exec_time + s.total_plan_time"
            " FROM public.pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
            " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [HOTEL_APP],
        ).fetchall()
    app_top = [(q, c, ms) for app, top, q, c, ms in rows if app and top]
    return Work(
        label=label,
        bookings=bookings,
        journeys=journeys,
        booking_ms=sum(ms for _, _, ms in app_top),
        read_ms=sum(ms for app, top, _, _, ms in rows if top and not app),
        commit_ms=sum(ms for q, _, ms in app_top if q.strip().upper() == "COMMIT"),
        statements=sum(c for _, c, _ in app_top),
        # Trigger functions run as their owner (SECURITY DEFINER) or the service: any role.
        nested=sorted(((q, c, ms) for _, top, q, c, ms in rows if not top), key=lambda r: -r[2]),
        top=sorted(app_top, key=lambda r: -r[2]),
        audit_rows=audit_after - audit_before,
        backend_cpu_s=cpu,
        wall_s=wall,
    )


def combined(label: str, works: list[Work]) -> Work:
    """The rounds of one schema as one run: counts and times summed, statements merged."""

    def merged(lists: list[list[tuple[str, int, float]]]) -> list[tuple[str, int, float]]:
        calls: Counter[str] = Counter()
        ms: defaultdict[str, float] = defaultdict(float)
        for rows in lists:
            for query, c, m in rows:
                calls[query] += c
                ms[query] += m
        return sorted(((q, calls[q], ms[q]) for q in calls), key=lambda r: -r[2])

    return Work(
        label=label,
        bookings=sum(w.bookings for w in works),
        journeys=sum(w.journeys for w in works),
        booking_ms=sum(w.booking_ms for w in works),
        read_ms=sum(w.read_ms for w in works),
        commit_ms=sum(w.commit_ms for w in works),
        statements=sum(w.statements for w in works),
        nested=merged([w.nested for w in works]),
        top=merged([w.top for w in works]),
        audit_rows=sum(w.audit_rows for w in works),
        backend_cpu_s=sum(w.backend_cpu_s for w in works),
        wall_s=sum(w.wall_s for w in works),
    )


def per_booking_ratio(after: Work, before: Work, figure: Callable[[Work], float]) -> float:
    """after/before of `figure` per booking (server time, backend CPU)."""

    def per_booking(work: Work) -> float:
        return figure(work) / max(work.bookings, 1)

    return per_booking(after) / max(per_booking(before), 1e-9)


def _app_password(scratch: Scratch) -> str:
    return (Path(scratch.env["HOTEL_STATE_DIR"]) / "app.password").read_text().strip()


def _print_run(console: Console, work: Work) -> None:
    per = max(work.bookings, 1)
    table = Table(title=f"{work.label}: statements of the bookings, ms per booking")
    table.add_column("statement")
    table.add_column("calls/booking", justify="right")
    table.add_column("ms/booking", justify="right")
    for query, calls, ms in work.top[:TOP]:
        table.add_row(_short(query), f"{calls / per:.2f}", f"{ms / per:.3f}")
    for query, calls, ms in work.nested[:TOP]:
        table.add_row("  (trigger) " + _short(query, 78), f"{calls / per:.2f}", f"{ms / per:.3f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument("--journeys", type=int, default=300, help="per schema and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default="0020", help="revision of the earlier booking path")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=150)
    with scratch_platform("hotel-work-bench-") as scratch:
        with psycopg.connect(libpq_url(scratch.server), autocommit=True) as conn:
            for name, value in SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
        before = scratch.new_database("work_before", args.before)
        with console.status(f"seeding {args.scale} at {args.before}"):
            load(before, SCALES[args.scale], seed=0, locale="en_US")
        with psycopg.connect(libpq_url(scratch.server), autocommit=True) as conn:
            conn.execute("CREATE DATABASE work_after TEMPLATE work_before")
        after = make_url(before).set(database="work_after").render_as_string(hide_password=False)
        scratch.hotel("migrate", "head", url=after)

        async def catalog_of(url: str) -> Catalog:
            pool = Pool(url, 1, role=None)
            try:
                return await sample_catalog(pool)
            finally:
                await pool.close()

        catalog = asyncio.run(catalog_of(before))  # one sample: the same journeys on both
        schemas = ((f"before ({args.before})", before), ("after (head)", after))
        rounds: list[dict[str, Work]] = []
        for n in range(args.rounds):
            seed = args.seed + n
            works = {}
            for label, url in schemas if n % 2 == 0 else schemas[::-1]:
                with console.status(
                    f"round {n + 1}/{args.rounds}: {args.journeys} journeys, {label}"
                ):
                    works[label] = measure(scratch, url, label, catalog, args.journeys, seed)
            rounds.append(works)
        runs = [combined(label, [r[label] for r in rounds]) for label, _ in schemas]
        for run in runs:
            _print_run(console, run)
    load_avg = os.getloadavg()
    journeys = f"{args.rounds} x {args.journeys} journeys"
    summary = Table(title=f"server work per booking ({args.scale} seed, {journeys})")
    for column in (
        "schema",
        "bookings",
        "booking ms",
        "of which COMMIT",
        "statements sent",
        "trigger statements",
        "audit rows",
        "backend CPU ms",
        "reads ms/journey",
    ):
        summary.add_column(column, justify="right")
    for w in runs:
        per = max(w.bookings, 1)
        summary.add_row(
            w.label,
            str(w.bookings),
            f"{w.booking_ms / per:.3f}",
            f"{w.commit_ms / per:.3f}",
            f"{w.statements / per:.2f}",
            f"{sum(c for _, c, _ in w.nested) / per:.2f}",
            f"{w.audit_rows / per:.2f}",
            f"{w.backend_cpu_s * 1000 / per:.2f}",
            f"{w.read_ms / w.journeys:.3f}",
        )
    console.print(summary)
    b, a = runs
    ratios = sorted(
        per_booking_ratio(r[a.label], r[b.label], lambda w: w.booking_ms) for r in rounds
    )
    ratio = statistics.median(ratios)
    cpu = per_booking_ratio(a, b, lambda w: w.backend_cpu_s)
    console.print(
        f"server time per booking after/before: {ratio:.2f} ({(1 - ratio) * 100:.0f} % less), "
        f"median of {len(ratios)} rounds ({ratios[0]:.2f}-{ratios[-1]:.2f}); "
        f"backend CPU per booking after/before, all rounds: {cpu:.2f}"
    )
    console.print(
        f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f} (indicative); "
        f"server {make_url(scratch.server).host}"
    )


if __name__ == "__main__":
    main()
