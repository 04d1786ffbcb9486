"""The data the load tests and the benchmark run against: `hotel seed --scale tiny` (skewed
like real data: popular cities and hotels, seasons, cancellations, loyalty), once."""

from __future__ import annotations

import psycopg

from loadtest.db import LoadError, conninfo
from seeding.bulk import load
from seeding.plan import SCALES


def ensure_seeded(url: str) -> None:
    """Seed a migrated, empty database; leave a seeded one alone."""
    with psycopg.connect(conninfo(url)) as conn:
        if conn.execute("SELECT to_regclass('public.bookings')").fetchone() == (None,):
            raise LoadError("the database is not migrated: run `hotel migrate head` first")
        row = conn.execute("SELECT EXISTS (SELECT FROM rooms)").fetchone()
        if row is not None and row[0]:
            return
    load(url, SCALES["tiny"], seed=0, locale="en_US")
