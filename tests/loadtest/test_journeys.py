"""The journeys against a real seeded server: every step runs, outcomes are counted, the
books balance, and a conflict is counted as a conflict."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta

import psycopg
import pytest
from alembic import command

from deploy.migrate.runner import alembic_config
from hotel_models.settings import libpq_url
from loadtest import queries as q
from loadtest.db import LoadConnection, Pool
from loadtest.metrics import Metrics
from loadtest.mix import load_mix
from loadtest.runner import FAILED, Catalog, Runner, booking_work, pipelined, sample_catalog
from loadtest.stats import Recorder
from seeding.bulk import load
from seeding.plan import SCALES
from tests.loadtest.runs import ShortRun

STEPS = {
    "search_availability",
    "view_hotel",
    "my_bookings",
    "booking_by_code",
    "create_booking",
    "pay",
    "cancel_booking",
    "check_in",
    "complete_stay",
    "add_review",
    "change_dates",
    "partner_add_room",
    "partner_change_price",
    "partner_add_offer",
    "partner_add_service",
    "analytic_top_rooms",
    "analytic_booking_status",
    "analytic_top_spenders",
    "analytic_best_hotel_amenities",
    "analytic_available_rooms",
    "analytic_price_histogram",
    "revenue_report",
}


def test_every_journey_step_runs_and_is_counted(short_run: ShortRun) -> None:
    ops = short_run.result.figures["operations"]
    assert set(ops) == STEPS
    for op, figures in ops.items():
        assert figures["count"] == figures["ok"] + figures["conflict"] + figures["error"], op
        assert figures["ok"] > 0, op
        assert figures["latency_ms"]["p50"] > 0, op
    assert sum(f["error"] for f in ops.values()) == 0, short_run.result.figures["error_samples"]
    business = short_run.result.figures["business"]
    assert business["bookings"] == ops["create_booking"]["ok"]
    for counter in ("revenue", "points_spent", "points_earned", "cancellations"):
        assert business[counter] > 0, counter


def test_the_books_balance(short_run: ShortRun) -> None:
    books = short_run.result.books
    assert books["acknowledged"] > 0  # how many depends on how busy the machine is
    assert books["balanced"], books
    assert books["in_database"] == books["acknowledged"]
    assert books["duplicates"] == 0


def test_open_loop_timing_is_reported(short_run: ShortRun) -> None:
    figures = short_run.result.figures
    assert figures["arrivals"] > 300  # 120/s for 4 s, Poisson
    assert figures["dropped_arrivals"] == 0
    assert figures["schedule_lag_ms"]["max"] > 0
    assert len(figures["timeline"]) >= 4


def test_a_double_booking_is_a_counted_conflict_and_a_repeated_key_is_one_booking(
    load_url: str,
) -> None:
    async def main() -> None:
        pool = Pool(load_url, 2)
        recorder = Recorder(Metrics())
        catalog = await sample_catalog(pool)
        runner = Runner(pool, pool, load_mix(), recorder, catalog, "conflict-test", 1)
        async with pool.connection() as conn:
            (room,) = await (
                await conn.execute(
                    "SELECT r.id FROM rooms r WHERE r.status = 'available' "
                    "AND NOT EXISTS (SELECT FROM bookings b WHERE b.room_id = r.id) LIMIT 1"
                )
            ).fetchone() or (None,)
        day = date.today() + timedelta(days=400)
        params = {
            "user": catalog.users[0],
            "room": room,
            "check_in": day,
            "check_out": day + timedelta(days=2),
            "guests": 1,
            "option": "full",
            "services": [],
            "points": 0,
        }

        def book(key: str):  # type: ignore[no-untyped-def]
            async def create(conn: psycopg.AsyncConnection) -> int:
                async with conn.transaction():
                    row = await (await conn.execute(q.BOOKING_BY_KEY, {"key": key})).fetchone()
                    if row is not None:
                        return int(row[0])
                    row = await (
                        await conn.execute(q.INSERT_BOOKING, {**params, "key": key})
                    ).fetchone()
                    assert row is not None
                    return int(row[0])

            return runner.step("create_booking", pool, create)

        first = await book("conflict-test:a")
        again = await book("conflict-test:a")  # the retry of a request that committed
        other = await book("conflict-test:b")  # someone else, same room and dates
        assert first == again
        assert other is FAILED
        assert recorder.outcomes["create_booking"] == {"ok": 2, "conflict": 1}
        assert recorder.errors[("create_booking", "23")] == 1
        async with pool.connection() as conn:
            count = await (
                await conn.execute(
                    "SELECT count(*) FROM bookings WHERE idempotency_key LIKE 'conflict-test:%'"
                )
            ).fetchone()
        assert count == (1,)
        await pool.close()

    asyncio.run(main())


def test_statements_of_conflicting_pipelines_still_run_on_that_connection(load_url: str) -> None:
    """A write step's statements go in one pipeline, each prepared on its first run. When a
    conflict aborts the pipeline before a preparation, the server never parsed it: the next
    step on that connection must prepare it again, not run a statement that does not exist
    (psycopg 3.3.9's own pipeline recorded such a preparation as done)."""

    async def main() -> tuple[list[list[tuple[int, ...]]], list[list[tuple[int, ...]]]]:
        async with await LoadConnection.open(libpq_url(load_url)) as conn:
            await conn.execute("CREATE TEMP TABLE taken (id int PRIMARY KEY)")
            await pipelined(conn, [(TAKE, {"id": 1})])
            for _ in range(2):  # ECHO's preparation comes after the conflict: never parsed
                with pytest.raises(psycopg.errors.UniqueViolation):
                    await pipelined(conn, [(TAKE, {"id": 1}), (ECHO, {"id": 0})])
            after = await pipelined(conn, [(TAKE, {"id": 2}), (ECHO, {"id": 99})])
            return after, await pipelined(conn, [("SELECT id FROM taken ORDER BY id", {})])

    after, taken = asyncio.run(main())
    assert after == [[], [(99,)]]
    assert taken == [[(1,), (2,)]]  # the aborted pipelines wrote nothing


def test_a_step_cancelled_mid_pipeline_closes_its_session(load_url: str) -> None:
    """A step cancelled while its pipeline waits (a run stopping) leaves the session in an
    unknown state: it is closed, and the pool's next step gets a new one that works."""

    async def main() -> tuple[bool, list[list[tuple[int, ...]]]]:
        pool = Pool(load_url, 1, role=None)
        try:
            async with pool.connection() as conn:
                first = conn
                step = asyncio.ensure_future(conn.run("SELECT pg_sleep(30)", {}))
                await asyncio.sleep(0.3)
                step.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await step
            async with pool.connection() as conn:
                return first.closed and conn is not first, await pipelined(
                    conn, [(ECHO, {"id": 7})]
                )
        finally:
            await pool.close()

    assert asyncio.run(main()) == (True, [[(7,)]])


TAKE = "INSERT INTO taken VALUES (%(id)s)"
ECHO = "SELECT %(id)s::int"


def test_the_journeys_follow_the_schema_they_find(
    database_factory: Callable[[], str], load_url: str
) -> None:
    """The server-work bench runs the journeys on a copy of the schema as it was before
    revision 0025 (rooms without a city, bookings without holds_room, no stay_nights()):
    there the search and the booking insert take their earlier forms, and still work."""
    earlier = database_factory()
    command.upgrade(alembic_config(url=earlier), "0023")
    load(earlier, SCALES["tiny"], seed=0, locale="en_US")

    async def main(url: str) -> tuple[Catalog, list[tuple[object, ...]], int]:
        pool = Pool(url, 1, role=None)
        try:
            catalog = await sample_catalog(pool)
            day = date.today() + timedelta(days=500)
            params = {"city": catalog.cities[0], "check_in": day,
                      "check_out": day + timedelta(days=2), "guests": 1, "limit": 20}  # fmt: skip
            async with pool.connection() as conn:
                offers = await (await conn.execute(catalog.search, params)).fetchall()
                booking = {**params, "user": catalog.users[0], "room": offers[0][0],
                           "option": "full", "services": [], "points": 0, "key": "k"}  # fmt: skip
                created, _, _ = await booking_work(booking, catalog.insert_booking)(conn)
            return catalog, offers, created
        finally:
            await pool.close()

    catalog, offers, created = asyncio.run(main(earlier))
    assert (catalog.search, catalog.insert_booking) == (
        q.SEARCH_BEFORE_0025,
        q.INSERT_BOOKING_BEFORE_0025,
    )
    assert offers
    assert created
    catalog, offers, created = asyncio.run(main(load_url))
    assert (catalog.search, catalog.insert_booking) == (q.SEARCH, q.INSERT_BOOKING)
    assert offers
    assert created
