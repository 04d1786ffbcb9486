"""Adoption benchmark: `python -m seeding.adopt.bench [--bookings N]` (1M: the goal's size).

In one run, on one embedded server started for it (seeding/scratch.py: `hotel up` in a
temporary state directory),
it fills an earlier-schema database with N bookings of dirty data (seeding.adopt.fixture, not
timed), then measures as separate processes, each with its own peak RSS:
  (a) `hotel adopt --from` that database into a freshly migrated one,
  (b) `hotel seed` of the same hotels, rooms, guests and bookings into another,
and prints rows per second of each and the ratio a/b (goal: adopt within 1.5x of seed, i.e.
b/a <= 1.5). The server gets the same bulk-load checkpoint settings as seeding.bench.
"""

from __future__ import annotations

import argparse
import os

from sqlalchemy import create_engine, pool, text

from seeding.adopt.fixture import Sizes, fill
from seeding.adopt.legacy_schema import TABLES, create_earlier_schema
from seeding.plan import COLUMNS
from seeding.scratch import scratch_platform


def _count(url: str, tables: list[str]) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        total = sum(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables)
    engine.dispose()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bookings", type=int, default=20_000)
    args = parser.parse_args()
    sizes = Sizes(args.bookings)
    with scratch_platform("hotel-adopt-bench-") as scratch:
        scratch.tune_for_bulk_loads()
        source = scratch.new_database("bench_earlier", revision=None)
        engine = create_engine(source, poolclass=pool.NullPool)
        with engine.begin() as conn:
            create_earlier_schema(conn)
            fill(conn, sizes)
        engine.dispose()
        a_rows = _count(source, list(TABLES))
        adopted, seeded = scratch.new_database("bench_adopt"), scratch.new_database("bench_seed")
        a_seconds, a_rss = scratch.timed("adopt", "--from", source, "--json", url=adopted)
        b_seconds, b_rss = scratch.timed(
            "seed", "--hotels", str(sizes.hotels), "--rooms", str(sizes.rooms),
            "--users", str(sizes.users), "--bookings", str(sizes.bookings), url=seeded,
        )  # fmt: skip
        b_rows = _count(seeded, list(COLUMNS))
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
