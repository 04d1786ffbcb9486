"""Connections killed mid-run (pg_terminate_backend, what a failover does to clients):
the users reconnect and retry, bookings with their idempotency key, and the books still
balance with zero duplicates."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg

from hotel_models.settings import libpq_url
from loadtest.db import APPLICATION_NAME, Pool
from loadtest.metrics import Metrics
from loadtest.mix import Mix, load_mix
from loadtest.runner import Failed, Options, Result, Runner, booking_work, run, sample_catalog
from loadtest.stats import Recorder


async def kill_load_sessions(url: str) -> int:
    """pg_terminate_backend on every session of the load generator; how many."""
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as admin:
        rows = await (
            await admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                "FROM pg_stat_activity WHERE application_name = %s",
                (APPLICATION_NAME,),
            )
        ).fetchone()
    return rows[0] if rows else 0


BOOKERS = Mix(
    journeys={"guest_booking": 1}, guest={"review": 1.0}, payment={"full": 1, "partial": 1}
)


def test_killed_connections_are_retried_and_the_books_balance(load_url: str) -> None:
    recorder = Recorder(Metrics())
    killed: list[int] = []

    async def killer() -> None:
        for _ in range(8):
            await asyncio.sleep(0.4)
            killed.append(await kill_load_sessions(load_url))

    async def main() -> Result:
        options = Options(url=load_url, rate=80, duration=4, connections=4, mix=BOOKERS, seed=3)
        kills: list[asyncio.Task[None]] = []

        def start_killing(_: Runner) -> None:
            # From the run's start, not while it samples the catalogue (which is not retried).
            kills.append(asyncio.create_task(killer()))

        result = await run(options, recorder, on_start=start_killing)
        await asyncio.gather(*kills)
        return result

    result = asyncio.run(main())
    assert sum(killed) >= 8, killed
    retried = sum(recorder.retries.values())
    assert retried > 0
    assert any(cls in ("conn", "57") for _, cls in recorder.errors), recorder.errors
    ops = result.figures["operations"]
    assert sum(o["error"] for o in ops.values()) == 0, result.figures["error_samples"]
    # Bookings went on between the kills (how many depends on how busy the machine is).
    assert ops["create_booking"]["ok"] > 0
    assert result.books["balanced"], result.books
    assert result.books["duplicates"] == 0


def test_the_books_are_checked_through_connections_that_died_after_the_run(
    load_url: str,
) -> None:
    """A failover after the last journey: the self-check's read meets dead pooled connections,
    reconnects and still proves the books."""
    killed: list[int] = []

    def kill_after_drain(runner: Runner) -> None:
        drain = runner.drain

        async def drain_then_kill(seconds: float) -> dict[str, Any]:
            stopping = await drain(seconds)
            killed.append(await kill_load_sessions(load_url))
            return stopping

        runner.drain = drain_then_kill  # type: ignore[method-assign]

    options = Options(url=load_url, rate=40, duration=1, connections=2, mix=BOOKERS, seed=4)
    result = asyncio.run(run(options, Recorder(Metrics()), on_start=kill_after_drain))
    assert killed[0] > 0
    assert result.books["acknowledged"] > 0
    assert result.books["balanced"], result.books


def test_a_booking_whose_acknowledgement_was_lost_is_retried_once(load_url: str) -> None:
    """The worst moment: the booking committed, then the connection died before the user
    heard. The retry must find that booking by its key instead of booking again."""

    async def main() -> None:
        pool = Pool(load_url, 1)
        recorder = Recorder(Metrics())
        runner = Runner(pool, pool, load_mix(), recorder, await sample_catalog(pool), "ack", 1)
        async with pool.connection() as conn:
            room = await (
                await conn.execute(
                    "SELECT id FROM rooms WHERE status = 'available' ORDER BY id DESC LIMIT 1"
                )
            ).fetchone()
        assert room is not None
        day = date.today() + timedelta(days=500)
        key = f"ack:{uuid.uuid4().hex}"
        work = booking_work(
            {
                "user": runner.catalog.users[0],
                "room": room[0],
                "check_in": day,
                "check_out": day + timedelta(days=1),
                "guests": 1,
                "option": "full",
                "services": [],
                "points": 0,
                "key": key,
            }
        )
        attempts = 0

        async def committed_then_killed(conn: psycopg.AsyncConnection) -> tuple[int, Any, bool]:
            nonlocal attempts
            attempts += 1
            result = await work(conn)
            if attempts == 1:
                async with await psycopg.AsyncConnection.connect(
                    libpq_url(load_url), autocommit=True
                ) as admin:
                    await admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
                await conn.execute("SELECT 1")  # the acknowledgement dies with the connection
            return result

        result = await runner.step("create_booking", pool, committed_then_killed)
        assert not isinstance(result, Failed)
        booking, _, replayed = result
        assert attempts == 2
        assert replayed
        assert recorder.retries["create_booking"] == 1
        assert {cls for _, cls in recorder.errors} <= {"conn", "57"}
        async with pool.connection() as conn:
            rows = await (
                await conn.execute("SELECT id FROM bookings WHERE idempotency_key = %s", (key,))
            ).fetchall()
        assert rows == [(booking,)]
        await pool.close()

    asyncio.run(main())
