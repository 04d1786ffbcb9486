"""The HA bench's moving parts on the test server: the booking clients send the load's
create_booking and every acknowledged booking is there; the setting reaches new sessions."""

from __future__ import annotations

import asyncio

import psycopg

from hotel_models.roles import HOTEL_APP
from hotel_models.settings import libpq_url
from loadtest import ha_bench
from loadtest.db import login_as


def test_the_ha_bench_books_through_the_load_transaction(load_url: str) -> None:
    rows = list(ha_bench.draws(load_url, 200, 9))
    url = login_as(load_url, HOTEL_APP)
    figures = asyncio.run(ha_bench.book(url, 2, 0.5, rows))
    assert figures.bookings > 0
    assert figures.ran_out == (figures.bookings == len(rows))
    assert figures.in_database == figures.bookings
    ha_bench.set_synchronous_commit(load_url, "local")
    try:
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("local",)
    finally:
        ha_bench.set_synchronous_commit(load_url, "on")


def test_a_run_that_books_every_drawn_booking_ends_and_says_so(load_url: str) -> None:
    """A fast server books all the draws before the duration is up: the run ends there, every
    booking is counted and found, and the figures say the run was cut short."""
    rows = list(ha_bench.draws(load_url, 6, 10))
    figures = asyncio.run(ha_bench.book(login_as(load_url, HOTEL_APP), 2, 120, rows))
    assert figures.ran_out
    assert figures.bookings == figures.in_database == len(rows)
    assert figures.seconds < 120
