"""Far beyond capacity, with drops, the books still balance, every time: the self-check
runs only once no journey is in flight, and a run stops within its drain limit by
abandoning the steps that never reached the server."""

from __future__ import annotations

import asyncio

import pytest

from loadtest.db import Abandoned, Pool
from loadtest.mix import Mix
from loadtest.runner import Options
from tests.loadtest.runs import EVERYTHING, run_sync

BOOKING_HEAVY = Mix(
    journeys={"guest_booking": 8, "guest_browse": 1, "partner": 1},
    guest=EVERYTHING.guest,
    payment=EVERYTHING.payment,
)


def assert_balanced(books: dict[str, object]) -> None:
    assert books["balanced"], books
    assert books["missing_keys"] == {}
    assert books["unacknowledged_keys"] == {}
    assert books["duplicate_keys"] == []
    assert books["in_database"] == books["acknowledged"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overloaded_with_drops_the_books_balance(load_url: str, seed: int) -> None:
    # 2 connections, 3000 arrivals/s and 40 journeys in flight at most: most arrivals
    # are dropped, and the run stops with journeys queued for a connection.
    options = Options(
        url=load_url,
        rate=3000,
        users=40,
        duration=1.5,
        drain=0.2 * seed,
        connections=2,
        mix=BOOKING_HEAVY,
        seed=seed,
    )
    result = run_sync(options)
    figures = result.figures
    assert figures["dropped_arrivals"] > 0
    assert result.books["acknowledged"] > 0
    assert_balanced(result.books)
    stopping = figures["stopping"]
    assert stopping["journeys_in_flight_at_stop"] > 0
    assert stopping["journeys_cancelled"] == 0
    assert result.books["in_doubt"] == 0


def test_unbounded_overload_halts_and_balances(load_url: str) -> None:
    """No in-flight limit (the default), no drain: thousands of journeys queue for two
    connections; at the stop the queued steps are abandoned, the ones at the server end."""
    options = Options(
        url=load_url,
        rate=2000,
        duration=1.5,
        drain=0,
        connections=2,
        mix=BOOKING_HEAVY,
        seed=9,
    )
    result = run_sync(options)
    stopping = result.figures["stopping"]
    assert stopping["journeys_halted"] > 0
    assert stopping["steps_abandoned"] > 0
    assert sum(result.figures["abandoned_steps"].values()) == stopping["steps_abandoned"]
    assert_balanced(result.books)


def test_abandon_fails_only_waits_that_may_be_abandoned(load_url: str) -> None:
    async def main() -> None:
        pool = Pool(load_url, 1)
        order: list[str] = []

        async def use(name: str, abandonable: bool) -> None:
            try:
                async with pool.connection(abandonable=abandonable) as conn:
                    await conn.execute("SELECT 1")
                    order.append(name)
            except Abandoned:
                order.append(f"{name} abandoned")

        async with pool.connection() as conn:  # holds the only connection
            waiting = [
                asyncio.create_task(use("first", True)),
                asyncio.create_task(use("retry", False)),
                asyncio.create_task(use("third", True)),
            ]
            await asyncio.sleep(0.05)  # all three queued
            assert pool.abandon_waiting() == 2
            await conn.execute("SELECT 1")
        await asyncio.gather(*waiting)
        assert sorted(order) == ["first abandoned", "retry", "third abandoned"]
        await pool.close()

    asyncio.run(main())


def test_a_booking_whose_answer_is_lost_is_in_doubt_not_unacknowledged(
    load_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The booking commits, the answer never arrives (a connection lost at the commit)
    and the retry window is over: the user was told nothing. The books list the key as in
    doubt with the booking the database holds, and still balance."""
    import psycopg

    from loadtest import runner as runner_module
    from loadtest.metrics import Metrics
    from loadtest.runner import Runner, sample_catalog
    from loadtest.stats import Recorder

    monkeypatch.setattr(runner_module, "RETRY_FOR", 0.0)
    real_work = runner_module.booking_work

    def lost_answer(params, insert):  # type: ignore[no-untyped-def]
        work = real_work(params, insert)

        async def create(conn):  # type: ignore[no-untyped-def]
            await work(conn)  # committed
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        return create

    monkeypatch.setattr(runner_module, "booking_work", lost_answer)

    async def main() -> dict[str, object]:
        pool = Pool(load_url, 2)
        catalog = await sample_catalog(pool)
        runner = Runner(pool, pool, BOOKING_HEAVY, Recorder(Metrics()), catalog, "doubt-run", 3)
        for _ in range(50):  # until a search finds a room and the booking is attempted
            await runner.guest_booking(runner.loop.time())
            if runner.books.in_doubt:
                break
        books = await runner.self_check()
        await pool.close()
        return books

    books = asyncio.run(main())
    assert books["in_doubt"] == 1, books
    (key, booking) = next(iter(books["in_doubt_keys"].items()))  # type: ignore[attr-defined]
    assert key.startswith("doubt-run:")
    assert booking is not None  # it did commit
    assert books["acknowledged"] == 0
    assert books["unacknowledged"] == 0
    assert books["balanced"], books
