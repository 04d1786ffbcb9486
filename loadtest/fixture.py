"""The data the load tests and the benchmark run against: `hotel seed --scale tiny` (skewed
like real data: popular cities and hotels, seasons, cancellations, loyalty), once."""

from __future__ import annotations

import time
from collections.abc import Callable

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


def wait_seeded(url: str, timeout: float, say: Callable[[str], None]) -> None:
    """Wait until the database is migrated and has bookings, as the load's sessions see it
    (SET ROLE hotel_app): the compose load starts beside `seed`, which commits once at the end."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            with psycopg.connect(conninfo(url), autocommit=True, connect_timeout=5) as conn:
                conn.execute('SET ROLE "hotel_app"')
                row = conn.execute("SELECT EXISTS (SELECT FROM bookings)").fetchone()
                if row is not None and row[0]:
                    return
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            pass  # not reachable or not migrated yet
        except psycopg.Error as exc:  # a wrong role or password will not fix itself
            raise LoadError(f"database error: {str(exc).strip().splitlines()[0]}") from exc
        if time.monotonic() > deadline:
            raise LoadError(f"no seeded data after {timeout:g} s: run `hotel seed` first")
        if not said:
            say("waiting for seeded data (bookings)")
            said = True
        time.sleep(2)
