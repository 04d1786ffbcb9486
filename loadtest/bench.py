"""Benchmark: the default mix's maximum sustained throughput against pgbench's built-in
tpcb-like script on the same server with the same number of clients, the harness's own CPU
per operation, and create_booking's p99 at half the maximum rate.

    python -m loadtest.bench [--clients 8] [--duration 20]

Runs against HOTEL_DATABASE_URL (or the server `hotel up` started), which must be migrated;
it seeds the load fixture if the database is empty and uses a scratch database `pgbench`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from hotel_models.settings import get_settings, libpq_url
from loadtest.db import LoadError
from loadtest.metrics import Metrics
from loadtest.mix import load_mix
from loadtest.runner import Options, Result, run
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
    u = make_url(url).set(database="pgbench")
    env = {
        **os.environ,
        "PGPASSWORD": u.password or "",
        "PGHOST": u.host or "127.0.0.1",
        "PGPORT": str(u.port or 5432),
        "PGUSER": u.username or "postgres",
        "PGDATABASE": "pgbench",
    }
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
    return asyncio.run(run(options, Recorder(Metrics())))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="connections (pgbench -c)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per phase")
    args = parser.parse_args(argv)
    url = get_settings().resolved_database_url()
    if url is None:
        sys.exit("error: no database: set HOTEL_DATABASE_URL or run `hotel up`")
    try:
        seed_if_empty(url)
        mix = load_mix()
        load1 = os.getloadavg()[0]
        # Maximum: closed loop, two users per connection so no connection ever idles.
        peak = load_run(
            Options(
                url=url,
                users=2 * args.clients,
                duration=args.duration,
                connections=args.clients,
                mix=mix,
                seed=1,
            )
        )
        f = peak.figures
        journeys_per_op = f["operations"]["search_availability"]["count"] / max(
            1, f["operations_total"]
        )
        half_rate = 0.5 * f["ops_per_s"] * journeys_per_op * _journeys_per_search(mix)
        half = load_run(
            Options(
                url=url,
                rate=half_rate,
                duration=args.duration,
                connections=args.clients,
                mix=mix,
                seed=2,
            )
        )
        tps = pgbench_tps(url, args.clients, args.duration)
    except LoadError as exc:
        sys.exit(f"error: {exc}")
    ops = f["ops_per_s"]
    cpu_ms = peak.cpu_s * 1000 / max(1, f["operations_total"])
    booking = half.figures["operations"].get("create_booking", {}).get("latency_ms", {})
    h = half.figures
    print(
        f"machine: {os.cpu_count()} cores, load average {load1:.2f} before the run "
        f"(shared with other work: figures are indicative)"
    )
    print(
        f"default mix, closed loop, {2 * args.clients} users on {args.clients} connections, "
        f"{args.duration} s: {ops:.0f} ops/s, p99 {f['latency_ms']['p99']:.1f} ms, "
        f"errors {sum(o['error'] for o in f['operations'].values())}"
    )
    print(f"pgbench tpcb-like, -c {args.clients}, {args.duration} s: {tps:.0f} tps")
    print(f"ratio default mix / pgbench: {ops / tps:.2f}x (target >= 0.5x)")
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


def _journeys_per_search(mix: object) -> float:
    """Every guest journey starts with one search; partner and analyst journeys have none."""
    journeys = getattr(mix, "journeys", {})
    total = sum(journeys.values())
    guests = journeys.get("guest_browse", 0) + journeys.get("guest_booking", 0)
    return total / guests if guests else 1.0


if __name__ == "__main__":
    main()
