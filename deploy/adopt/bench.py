"""Adoption benchmark: `python -m deploy.adopt.bench [--bookings N]` (1M: the goal's size).

In one run, on one embedded server started for it (`hotel up` in a temporary state directory),
it fills an earlier-schema database with N bookings of dirty data (deploy.adopt.fixture, not
timed), then measures as separate processes, each with its own peak RSS:
  (a) `hotel adopt --from` that database into a freshly migrated one,
  (b) `hotel seed` of the same hotels, rooms, guests and bookings into another,
and prints rows per second of each and the ratio a/b (goal: adopt within 1.5x of seed, i.e.
b/a <= 1.5). The server gets the same bulk-load checkpoint settings as seeding.bench.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from deploy.adopt.fixture import Sizes, fill
from deploy.adopt.legacy_schema import TABLES, create_earlier_schema
from seeding.plan import COLUMNS

HOTEL = [sys.executable, "-c", "from deploy.cli import main; main()"]


def _hotel(env: dict[str, str], *args: str) -> None:
    subprocess.run([*HOTEL, *args], env=env, capture_output=True, text=True, check=True)


def _database(server: str, name: str) -> str:
    engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _count(url: str, tables: list[str]) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        total = sum(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables)
    engine.dispose()
    return total


def _timed(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Seconds end to end and peak RSS (MB) of one `hotel` process."""
    started = time.perf_counter()
    process = subprocess.Popen([*HOTEL, *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"hotel {args[0]} failed")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bookings", type=int, default=20_000)
    args = parser.parse_args()
    sizes = Sizes(args.bookings)
    state = Path(tempfile.mkdtemp(prefix="hotel-adopt-bench-"))
    state.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_")}
    env["HOTEL_STATE_DIR"] = str(state)
    try:
        _hotel(env, "up")
        server = (state / "database.url").read_text().strip()
        engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with engine.connect() as conn:
            conn.execute(text("ALTER SYSTEM SET max_wal_size = '8GB'"))
            conn.execute(text("ALTER SYSTEM SET checkpoint_timeout = '30min'"))
            conn.execute(text("SELECT pg_reload_conf()"))
        engine.dispose()

        source = _database(server, "bench_earlier")
        engine = create_engine(source, poolclass=pool.NullPool)
        with engine.begin() as conn:
            create_earlier_schema(conn)
            fill(conn, sizes)
        engine.dispose()
        a_rows = _count(source, list(TABLES))
        targets = {}
        for name in ("bench_adopt", "bench_seed"):
            targets[name] = _database(server, name)
            _hotel({**env, "HOTEL_DATABASE_URL": targets[name]}, "migrate", "head")
        a_seconds, a_rss = _timed(
            {**env, "HOTEL_DATABASE_URL": targets["bench_adopt"]},
            "adopt", "--from", source, "--json",
        )  # fmt: skip
        b_seconds, b_rss = _timed(
            {**env, "HOTEL_DATABASE_URL": targets["bench_seed"]},
            "seed", "--hotels", str(sizes.hotels), "--rooms", str(sizes.rooms),
            "--users", str(sizes.users), "--bookings", str(sizes.bookings),
        )  # fmt: skip
        b_rows = _count(targets["bench_seed"], list(COLUMNS))
    finally:
        subprocess.run([*HOTEL, "down", "--purge"], env=env, capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
    a, b = a_rows / a_seconds, b_rows / b_seconds
    print(f"{args.bookings:,} earlier bookings; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print(f"(a) hotel adopt: {a_rows:>10,} earlier rows in {a_seconds:7.2f} s = {a:>9,.0f} rows/s"
          f"  (peak RSS {a_rss:,.0f} MB)")  # fmt: skip
    print(f"(b) hotel seed:  {b_rows:>10,} rows         in {b_seconds:7.2f} s = {b:>9,.0f} rows/s"
          f"  (peak RSS {b_rss:,.0f} MB)")  # fmt: skip
    print(f"b/a = {b / a:.2f}x (goal: at most 1.5x)")


if __name__ == "__main__":
    main()
