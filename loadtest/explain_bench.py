"""Index benchmark: `python -m loadtest.explain_bench [--scale large] [--samples 20] [--url URL]`.

On one seeded database (a scratch platform's, seeded at --scale, unless --url names a seeded
one at head), the query catalogue is explained twice with the same parameter draws:
with the earlier system's indexes (revision 0015: 0005's review of its seven; the top
spenders, booking-status and revenue reports over the base tables; the search reading the
hotel's city) and at head (0016's indexes, 0017's guest spending, 0021's report rollups,
0024's city on rooms). It prints both side by side with the issue's targets, and leaves the
database at head. The database is VACUUMed first: index-only scans need the visibility map
a settled production database has (autovacuum's work).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import psycopg
from rich.console import Console
from rich.table import Table

from hotel_models.rollups import BOOKING_STATUS_BASE, REVENUE_BASE
from hotel_models.settings import libpq_url
from loadtest.catalogue import CATALOGUE, sample
from loadtest.explain import Explained, explain
from loadtest.queries import ANALYTIC, AVAILABLE_ROOMS_BEFORE_0025, SEARCH_BEFORE_0025
from seeding.bulk import load
from seeding.plan import SCALES
from seeding.scratch import Scratch, scratch_platform

BEFORE, AFTER = "0015", "head"
# What the catalogue reads that BEFORE does not have yet: the queries over the base tables.
EARLIER_SQL = {
    "search_availability": SEARCH_BEFORE_0025,  # rooms.city is 0024's, holds_room 0025's
    "analytic_available_rooms": AVAILABLE_ROOMS_BEFORE_0025,
    "analytic_booking_status": BOOKING_STATUS_BASE,
    "revenue_report": REVENUE_BASE,
    "analytic_top_spenders": """
        SELECT b.user_id, sum(p.amount) AS spent
        FROM payments p JOIN bookings b ON b.id = p.booking_id
        WHERE p.status = 'completed' GROUP BY b.user_id ORDER BY spent DESC LIMIT 20""",
}
# p95 objectives (ms) of the issue.
TARGETS = {
    "search_availability": 5.0,
    "booking_by_code": 1.0,
    "my_bookings": 1.0,
    # The earlier system's six analytic queries.
    **dict.fromkeys((name for name in ANALYTIC if name.startswith("analytic_")), 200.0),
    # Reports at 1M bookings (issue 18).
    "analytic_booking_status": 100.0,
    "revenue_report": 100.0,
}


@contextmanager
def seeded_database(scale: str, console: Console) -> Iterator[tuple[Scratch, str]]:
    with scratch_platform("hotel-explain-bench-") as scratch:
        url = scratch.new_database("bench", AFTER)
        with console.status(f"seeding {scale}"):
            load(url, SCALES[scale], seed=0, locale="en_US")
        yield scratch, url


def _vacuum(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def run_bench(
    url: str, samples: int, console: Console, scratch: Scratch | None = None
) -> dict[str, tuple[Explained, Explained]]:
    """Explain at AFTER, migrate down to BEFORE, explain again, migrate back up (`hotel migrate`
    of the scratch platform, or of the one HOTEL_* names when the bench was given --url)."""
    hotel = scratch or Scratch(url, dict(os.environ))
    with console.status("VACUUM (ANALYZE)"):
        _vacuum(url)
    data = sample(url)
    with console.status(f"explaining at {AFTER}"):
        after = explain(url, samples=samples, data=data)
    # The rollups and the adoption columns are dropped on the way down (and rebuilt after).
    hotel.hotel("migrate", BEFORE, "--allow-data-loss", url=url)
    try:
        with console.status(f"explaining at {BEFORE}"):
            _vacuum(url)  # the downgrade's rebuilt indexes get their statistics
            earlier = [replace(q, sql=EARLIER_SQL.get(q.name, q.sql)) for q in CATALOGUE]
            before = explain(url, earlier, samples=samples, data=data)
    finally:
        hotel.hotel("migrate", AFTER, url=url)
    pairs = {b.name: (b, a) for b, a in zip(before, after, strict=True)}
    table = Table(title=f"hotel explain: indexes at {BEFORE} vs {AFTER} ({samples} samples, ms)")
    table.add_column("statement", no_wrap=True)
    for column in ("before p50", "before p95", "after p50", "after p95", "p95 speed-up"):
        table.add_column(column, justify="right")
    table.add_column("target p95", no_wrap=True)
    for name, (b, a) in pairs.items():
        target = TARGETS.get(name)
        verdict = ""
        if target is not None:
            met = a.p95_ms <= target
            verdict = f"{'[green]met' if met else '[red]not met'}[/] (<= {target:g})"
        table.add_row(
            name,
            f"{b.median_ms:.2f}",
            f"{b.p95_ms:.2f}",
            f"{a.median_ms:.2f}",
            f"{a.p95_ms:.2f}",
            f"{b.p95_ms / a.p95_ms:.1f}x" if a.p95_ms else "",
            verdict,
        )
    console.print(table)
    console.print("plans that changed (the most common one of the samples):")
    for name, (b, a) in pairs.items():
        if b.shape != a.shape:
            console.print(
                f"{name}\n  before: {' | '.join(b.shape)}\n  after:  {' | '.join(a.shape)}"
            )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="large")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--url", help="a seeded database at head (default: a throwaway one)")
    args = parser.parse_args()
    console = Console(width=150)  # the table whole, in a terminal or a log file
    if args.url:
        run_bench(args.url, args.samples, console)
        return
    with seeded_database(args.scale, console) as (scratch, url):
        run_bench(url, args.samples, console, scratch)


if __name__ == "__main__":
    main()
