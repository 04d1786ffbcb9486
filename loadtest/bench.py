"""Benchmark: the default mix's maximum sustained throughput against pgbench's built-in
tpcb-like script on the same server with the same number of clients, the harness's own CPU
per operation, and create_booking's p99 at half the maximum rate; then each journey alone,
closed loop, against pgbench running the same statements (loadtest.same_sql).

    python -m loadtest.bench [--clients 8] [--duration 20] [--journeys guest_booking,...]

Runs against HOTEL_DATABASE_URL (or the server `hotel up` started), which must be migrated;
it seeds the load fixture if the database is empty and uses a scratch database `pgbench`.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import uvloop
from sqlalchemy.engine import make_url

from hotel_models.settings import get_settings, libpq_url
from loadtest import same_sql
from loadtest.db import LoadError, client_env
from loadtest.metrics import Metrics
from loadtest.mix import Mix, load_mix
from loadtest.queries import ANALYTIC
from loadtest.runner import PARTNER_OPS, Options, Result, run
from loadtest.stats import Recorder
from seeding.bulk import seed_if_empty


def pgbench_path() -> str:
    found = shutil.which("pgbench")
    candidates = [os.environ.get("HOTEL_PG_BIN_DIR", ""), "/usr/lib/postgresql/15/bin"]
    for directory in candidates:
        if directory and (Path(directory) / "pgbench").is_file():
            return str(Path(directory) / "pgbench")
    if found:
        return found
    raise LoadError("pgbench not found: install postgresql-15 or set HOTEL_PG_BIN_DIR")


def pgbench_tps(url: str, clients: int, duration: int) -> float:
    """tpcb-like (pgbench's default script), scale 10, in a scratch database."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        if conn.execute("SELECT FROM pg_database WHERE datname = 'pgbench'").fetchone() is None:
            conn.execute("CREATE DATABASE pgbench")
    env = client_env(make_url(url).set(database="pgbench"))
    pgbench = pgbench_path()
    subprocess.run([pgbench, "-i", "-q", "-s", "10"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [pgbench, "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(duration), "-n"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if match is None:
        raise LoadError(f"could not read pgbench's tps from: {out[-300:]}")
    return float(match.group(1))


def load_run(options: Options) -> Result:
    return uvloop.run(run(options, Recorder(Metrics())))  # as `hotel load` runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="connections (pgbench -c)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per phase")
    parser.add_argument(
        "--journeys",
        default=",".join(same_sql.JOURNEYS),
        help="journeys of the same-SQL comparison, comma separated ('' for none)",
    )
    parser.add_argument(
        "--no-mix", action="store_true", help="skip the default mix phases (same-SQL only)"
    )
    args = parser.parse_args(argv)
    journeys = [j for j in args.journeys.split(",") if j]
    unknown = set(journeys) - set(same_sql.JOURNEYS)
    if unknown:
        sys.exit(f"error: unknown journeys {sorted(unknown)} (known: {same_sql.JOURNEYS})")
    url = get_settings().resolved_database_url()
    if url is None:
        sys.exit("error: no database: set HOTEL_DATABASE_URL or run `hotel up`")
    try:
        seed_if_empty(url)
        mix = load_mix()
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before "
            "the run (shared with other work: figures are indicative)"
        )
        if not args.no_mix:
            mix_phases(url, mix, args.clients, args.duration)
        tps = pgbench_tps(url, args.clients, args.duration)
        print(f"pgbench tpcb-like, -c {args.clients}, {args.duration} s: {tps:.0f} tps")
        if journeys:
            same_sql_table(url, mix, journeys, args.clients, args.duration, tps)
    except LoadError as exc:
        sys.exit(f"error: {exc}")
    print(f"load average {os.getloadavg()[0]:.2f} after the run")


def mix_phases(url: str, mix: Mix, clients: int, duration: int) -> None:
    # Maximum: closed loop, two users per connection so no connection ever idles.
    peak = load_run(
        Options(url=url, users=2 * clients, duration=duration, connections=clients, mix=mix, seed=1)
    )
    f = peak.figures
    journeys_per_op = f["operations"]["search_availability"]["count"] / max(
        1, f["operations_total"]
    )
    half_rate = 0.5 * f["ops_per_s"] * journeys_per_op * _journeys_per_search(mix)
    half = load_run(
        Options(url=url, rate=half_rate, duration=duration, connections=clients, mix=mix, seed=2)
    )
    ops = f["ops_per_s"]
    cpu_ms = peak.cpu_s * 1000 / max(1, f["operations_total"])
    booking = half.figures["operations"].get("create_booking", {}).get("latency_ms", {})
    h = half.figures
    print(
        f"default mix, closed loop, {2 * clients} users on {clients} connections, "
        f"{duration} s: {ops:.0f} ops/s, p99 {f['latency_ms']['p99']:.1f} ms, "
        f"errors {sum(o['error'] for o in f['operations'].values())}"
    )
    print(
        f"harness CPU: {cpu_ms:.3f} ms per operation, "
        f"{peak.cpu_s / f['elapsed_s'] * 100:.0f}% of one core at the maximum"
    )
    print(
        f"half rate ({half_rate:.0f} journeys/s, open loop): {h['ops_per_s']:.0f} ops/s, "
        f"create_booking p99 {booking.get('p99', float('nan')):.1f} ms (target < 50 ms), "
        f"dropped {h['dropped_arrivals']}, schedule lag p99 {h['schedule_lag_ms']['p99']:.1f}"
        f" ms; books balanced: {peak.books['balanced'] and half.books['balanced']}"
    )


def driver_floor(url: str, seconds: float = 3.0) -> float:
    """CPU ms this process spends per `SELECT 1` round trip through psycopg's async API on
    one connection, on the event loop `hotel load` runs (uvloop): what any psycopg/asyncio
    harness pays per statement on this machine now, before any work of its own."""

    async def loop() -> float:
        async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as c:
            for _ in range(50):
                await c.execute("SELECT 1")
            n, cpu0 = 0, _cpu()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await c.execute("SELECT 1")
                n += 1
            return (_cpu() - cpu0) * 1000 / n

    return uvloop.run(loop())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The operation each journey starts with: one per journey (partner and analyst journeys are
# one operation, chosen among several).
FIRST_OPS = {
    "guest_browse": ("search_availability",),
    "guest_booking": ("search_availability",),
    "partner": PARTNER_OPS,
    "analyst": tuple(ANALYTIC),
}


def same_sql_table(
    url: str, mix: Mix, journeys: list[str], clients: int, duration: int, tpcb: float
) -> None:
    """Each journey alone: `hotel load`'s closed loop, then pgbench on the same statements
    with draws from the same data (enough rows for four times the harness's pace), same
    clients, same server; one table of ratios from this run."""
    print(
        f"same SQL, -c {clients} / {clients} connections ({2 * clients} users), "
        f"{duration} s each; journeys per second:"
    )
    header = (
        "journey",
        "hotel load",
        "pgbench -f",
        "ratio",
        "goal",
        "harness CPU/op",
        "ops/journey",
        "pgbench CPU/journey",
        "tpcb-like",
    )
    print(" | ".join(header))
    for journey in journeys:
        only = Mix({journey: 1.0}, mix.guest, mix.payment)
        result = load_run(
            Options(
                url=url,
                users=2 * clients,
                duration=duration,
                connections=clients,
                mix=only,
                seed=3,
            )
        )
        f = result.figures
        done = sum(f["operations"].get(op, {}).get("count", 0) for op in FIRST_OPS[journey])
        harness = done / f["elapsed_s"]
        cpu_ms = result.cpu_s * 1000 / max(1, f["operations_total"])
        rows = clients * max(200, int(4 * harness * duration / clients) + 50)
        with psycopg.connect(libpq_url(url)) as conn:
            sample = same_sql.sample(conn)
        try:
            same_sql.load_draws(url, journey, same_sql.draw(sample, only, journey, rows, 4))
        except ValueError as exc:
            raise LoadError(str(exc)) from exc
        try:
            pg = same_sql.run_pgbench(pgbench_path(), url, journey, clients, duration, rows)
        finally:
            same_sql.drop_draws(url)
        ratio = harness / pg.tps if pg.tps else float("nan")
        print(
            f"{journey} | {harness:.0f} | {pg.tps:.0f} | {ratio:.2f}x | "
            f"{'met' if ratio >= 0.8 and cpu_ms <= 0.25 else 'NOT met'} | {cpu_ms:.3f} ms | "
            f"{f['operations_total'] / max(1, done):.1f} | "
            f"{pg.cpu_s * 1000 / max(1, pg.journeys):.3f} ms | {tpcb:.0f}"
        )
    print("goal: hotel load >= 0.8x pgbench on the same statements, harness CPU <= 0.25 ms/op")
    print(
        f"driver floor: {driver_floor(url):.3f} ms of CPU per SELECT 1 round trip through "
        "psycopg async (no harness), measured now"
    )


def _journeys_per_search(mix: object) -> float:
    """Every guest journey starts with one search; partner and analyst journeys have none."""
    journeys = getattr(mix, "journeys", {})
    total = sum(journeys.values())
    guests = journeys.get("guest_browse", 0) + journeys.get("guest_booking", 0)
    return total / guests if guests else 1.0


if __name__ == "__main__":
    main()
