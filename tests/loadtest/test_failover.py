"""Connections killed mid-run (pg_terminate_backend, what a failover does to clients):
the users reconnect and retry, bookings with their idempotency key, and the books still
balance with zero duplicates."""

from __future__ import annotations

import asyncio

import psycopg

from loadtest.db import APPLICATION_NAME, conninfo
from loadtest.metrics import Metrics
from loadtest.mix import Mix
from loadtest.runner import Options, Result, run
from loadtest.stats import Recorder

BOOKERS = Mix(
    journeys={"guest_booking": 1}, guest={"review": 1.0}, payment={"full": 1, "partial": 1}
)


def test_killed_connections_are_retried_and_the_books_balance(load_url: str) -> None:
    recorder = Recorder(Metrics())
    killed: list[int] = []

    async def killer() -> None:
        async with await psycopg.AsyncConnection.connect(
            conninfo(load_url), autocommit=True
        ) as admin:
            for _ in range(8):
                await asyncio.sleep(0.4)
                rows = await (
                    await admin.execute(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE application_name = %s",
                        (APPLICATION_NAME,),
                    )
                ).fetchone()
                killed.append(rows[0] if rows else 0)

    async def main() -> Result:
        options = Options(url=load_url, rate=80, duration=4, connections=4, mix=BOOKERS, seed=3)
        kills = asyncio.create_task(killer())
        result = await run(options, recorder)
        await kills
        return result

    result = asyncio.run(main())
    assert sum(killed) >= 8, killed
    retried = sum(recorder.retries.values())
    assert retried > 0
    assert any(cls in ("conn", "57") for _, cls in recorder.errors), recorder.errors
    ops = result.figures["operations"]
    assert sum(o["error"] for o in ops.values()) == 0, result.figures["error_samples"]
    assert ops["create_booking"]["ok"] > 50
    assert result.books["balanced"], result.books
    assert result.books["duplicates"] == 0
