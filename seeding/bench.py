"""Seeding benchmark: `python -m seeding.bench [--scale demo|large] [--factory-rounds N]`.

In one run, on one embedded server started for it (`hotel up` in a temporary state
directory, as a user would: seeding/scratch.py), it measures rows per second of
  (a) the factory_boy path (factories in a session, every trigger on),
  (b) `hotel seed` end to end (a separate process: its peak RSS is measured too),
  (c) raw COPY of the same rows generated beforehand (every index and constraint on,
      triggers off, nothing to generate: what the loader was before it built them after),
  (d) what a user would do instead of seeding: `pg_restore -j 2` of a dump (`pg_dump -Fc`)
      of (b)'s database into an empty one (schema, data, then indexes and constraints),
  (e) the same restore all or nothing, as the seed is: `pg_restore --single-transaction`,
and prints the ratios b/a, c/b, b/d (seed/restore) and b/e. The server gets bulk-load checkpoint
settings (max_wal_size, checkpoint_timeout) through ALTER SYSTEM, the same for all five.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import factory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from seeding import bulk
from seeding.factories import PaymentFactory, ReviewFactory, bind
from seeding.plan import COLUMNS, SCALES, Planner, generate
from seeding.scratch import scratch_platform

SEEDED = tuple(COLUMNS)


def _rows(url: str) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        total = sum(
            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in SEEDED
        )
    engine.dispose()
    return total


def factory_path(url: str, rounds: int) -> tuple[int, float]:
    """Rows/s of factories: each round a completed, paid, reviewed stay in a new hotel."""
    before = _rows(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    started = time.perf_counter()
    with Session(engine) as session, factory.Faker.override_default_locale("ru_RU"):
        bind(session)
        for _ in range(rounds):
            ReviewFactory.create()
            PaymentFactory.create()
        session.commit()
        bind(None)
    seconds = time.perf_counter() - started
    engine.dispose()
    return _rows(url) - before, seconds


def raw_copy(url: str, scale: str) -> tuple[int, float]:
    """Rows/s of COPY alone: every row generated and encoded first, then only sent."""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        tables, refs, offsets, earn = bulk.prepare(conn, append=False, disable_triggers=True)
        planner = Planner(SCALES[scale], 0, "ru_RU", refs, offsets, earn)
        batches = [(table, bulk._encode(rows, None)) for table, rows in generate(planner, tables)]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        started = time.perf_counter()
        for table, data in batches:
            with cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                copy.write(data)
        seconds = time.perf_counter() - started
        del batches
        conn.commit()
    engine.dispose()
    return _rows(url), seconds


def pg_tool(name: str) -> str:
    """A PostgreSQL client program of the server's major version."""
    for directory in (os.environ.get("HOTEL_PG_BIN_DIR", ""), "/usr/lib/postgresql/15/bin"):
        if directory and (Path(directory) / name).is_file():
            return str(Path(directory) / name)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install postgresql-15 or set HOTEL_PG_BIN_DIR")
    return found


# What a user would do instead of seeding: restore a dump of the same rows. `-j 2` is this
# machine's bulk-load ceiling (two backends); `--single-transaction` is the restore held to
# the seed's own rule, all or nothing, and so to one backend.
RESTORES = {"pg_restore -j 2": ("-j", "2"), "pg_restore --single-transaction": ("-1",)}


def restore_paths(server: str, source: str, workdir: Path) -> dict[str, float]:
    """Seconds of each of RESTORES, of one custom-format dump of `source`, each into a new
    empty database bench_d<n> (the dump itself is not timed)."""
    url = make_url(server)
    env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
           "PGUSER": url.username or "postgres", "PGPASSWORD": url.password or ""}  # fmt: skip
    dump = workdir / "seeded.dump"
    subprocess.run(
        [pg_tool("pg_dump"), "-Fc", "-f", str(dump), "-d", make_url(source).database or ""],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    seconds = {}
    for n, (name, flags) in enumerate(RESTORES.items()):
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "bench_d{n}" TEMPLATE template0'))
        started = time.perf_counter()
        subprocess.run(
            [pg_tool("pg_restore"), *flags, "--exit-on-error", "-d", f"bench_d{n}", str(dump)],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        seconds[name] = time.perf_counter() - started
    engine.dispose()
    dump.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", default="demo", choices=sorted(SCALES))
    parser.add_argument("--factory-rounds", type=int, default=200)
    args = parser.parse_args()
    with scratch_platform("hotel-seed-bench-") as scratch, tempfile.TemporaryDirectory() as work:
        server = scratch.server
        scratch.tune_for_bulk_loads()

        a_rows, a_seconds = factory_path(scratch.new_database("bench_a"), args.factory_rounds)
        b_url = scratch.new_database("bench_b")
        b_seconds, b_rss_mb = scratch.timed("seed", "--scale", args.scale, url=b_url)
        b_rows = _rows(b_url)
        c_rows, c_seconds = raw_copy(scratch.new_database("bench_c"), args.scale)
        restores = restore_paths(server, b_url, Path(work))
        d_rows = _rows(make_url(server).set(database="bench_d0").render_as_string(False))
    a, b, c = a_rows / a_seconds, b_rows / b_seconds, c_rows / c_seconds
    print(f"scale {args.scale}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    lines = [
        ("(a) factory_boy path", a_rows, a_seconds, ""),
        ("(b) hotel seed", b_rows, b_seconds, f"end to end, peak RSS {b_rss_mb:,.0f} MB"),
        ("(c) raw COPY", c_rows, c_seconds, ""),
    ] + [
        (f"({letter}) {name}", d_rows, seconds, "a dump of (b) into an empty database")
        for letter, (name, seconds) in zip("de", restores.items(), strict=True)
    ]
    for label, rows, seconds, note in lines:
        print(f"{label + ':':<37} {rows:>10,} rows in {seconds:7.2f} s = "
              f"{rows / seconds:>10,.0f} rows/s" + (f"  ({note})" if note else ""))  # fmt: skip
    d_seconds, e_seconds = restores.values()
    print(
        f"b/a = {b / a:,.0f}x   c/b = {c / b:.2f}x   seed/restore = b/d time = "
        f"{b_seconds / d_seconds:.2f}x   seed/restore in one transaction = b/e time = "
        f"{b_seconds / e_seconds:.2f}x"
    )


if __name__ == "__main__":
    main()
