"""Races decided by the database: many connections at once, committed data, one winner."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hotel_models import operations as ops
from hotel_models.errors import BookingConflict, HotelRuleError, InsufficientBonus
from tests.models.world import World, committed_world

CLIENTS = 24


@pytest.fixture
def race_world(race_engine: Engine) -> World:
    return committed_world(race_engine)


def race(engine: Engine, attempt: Callable[[Session, int], object]) -> Counter[str]:
    """Run `attempt` in CLIENTS connections, started together, each as hotel_app in its own
    transaction; count outcomes by exception name."""
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> str:
        with Session(engine) as session:
            session.execute(text("SET LOCAL ROLE hotel_app"))
            start.wait()
            try:
                attempt(session, n)
                session.commit()
            except HotelRuleError as exc:
                session.rollback()
                return type(exc).__name__
            return "ok"

    with ThreadPoolExecutor(CLIENTS) as pool_:
        return Counter(pool_.map(client, range(CLIENTS)))


def test_one_of_many_overlapping_bookings_wins(race_engine: Engine, race_world: World) -> None:
    def attempt(session: Session, n: int) -> object:
        start = date(2034, 1, 10) + timedelta(days=n % 3)  # all overlap 2034-01-12
        return ops.create_booking(
            session,
            user_id=race_world.guest.id,
            room_id=race_world.room.id,
            check_in=start,
            check_out=start + timedelta(days=3),
            guests=1,
        )

    outcomes = race(race_engine, attempt)
    assert outcomes == Counter({"ok": 1, BookingConflict.__name__: CLIENTS - 1})
    with race_engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM bookings WHERE room_id = :r"), {"r": race_world.room.id}
        ).scalar_one()
    assert count == 1


def test_concurrent_spending_never_overdraws(race_engine: Engine, race_world: World) -> None:
    with race_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO bonus_transactions (account_id, amount, kind) "
                "VALUES (:a, 100, 'promo')"
            ),
            {"a": race_world.account.id},
        )

    def attempt(session: Session, n: int) -> object:
        start = date(2035, 1, 1) + timedelta(days=2 * n)  # no overlaps: only points compete
        return ops.create_booking(
            session,
            user_id=race_world.guest.id,
            room_id=race_world.room.id,
            check_in=start,
            check_out=start + timedelta(days=1),
            guests=1,
            bonus_points=60,
        )

    outcomes = race(race_engine, attempt)
    assert outcomes == Counter({"ok": 1, InsufficientBonus.__name__: CLIENTS - 1})
    with race_engine.connect() as conn:
        balance, ledger = conn.execute(
            text(
                "SELECT a.balance, (SELECT sum(amount) FROM bonus_transactions t "
                "WHERE t.account_id = a.id) FROM bonus_accounts a WHERE a.id = :a"
            ),
            {"a": race_world.account.id},
        ).one()
    assert balance == ledger == 40


def test_a_retried_request_races_itself_into_one_booking(
    race_engine: Engine, race_world: World
) -> None:
    def attempt(session: Session, n: int) -> object:
        return ops.create_booking(
            session,
            user_id=race_world.guest.id,
            room_id=race_world.room.id,
            check_in=date(2036, 1, 1),
            check_out=date(2036, 1, 2),
            guests=1,
            idempotency_key="retry-storm",
        )

    assert race(race_engine, attempt) == Counter({"ok": CLIENTS})
    with race_engine.connect() as conn:
        keys = conn.execute(
            text("SELECT count(*) FROM bookings WHERE room_id = :r"), {"r": race_world.room.id}
        ).scalar_one()
    assert keys == 1


def test_a_retried_payment_races_itself_into_one_payment(
    race_engine: Engine, race_world: World
) -> None:
    """The payment service's retry after a lost acknowledgement, many times at once."""
    with Session(race_engine) as session:
        booking = ops.create_booking(
            session,
            user_id=race_world.guest.id,
            room_id=race_world.room.id,
            check_in=date(2037, 1, 1),
            check_out=date(2037, 1, 3),
            guests=1,
        ).id
        session.commit()

    def attempt(session: Session, n: int) -> object:
        return ops.pay(
            session,
            booking_id=booking,
            amount=Decimal(50),
            method_id=race_world.method.id,
            idempotency_key="pay-storm",
        )

    assert race(race_engine, attempt) == Counter({"ok": CLIENTS})
    with race_engine.connect() as conn:
        paid = conn.execute(
            text("SELECT count(*), sum(amount) FROM payments WHERE booking_id = :b"),
            {"b": booking},
        ).one()
    assert tuple(paid) == (1, 50)


def _rename_racing(race_engine: Engine, hotel: int, attempts: list[int], lose: int) -> object:
    """Work for run_transaction: read a hotel, then, in the first `lose` attempts, let another
    transaction commit a change to it before this one writes: a real serialization failure
    (40001) under REPEATABLE READ."""

    def work(session: Session) -> object:
        attempts.append(1)
        session.execute(text("SET LOCAL ROLE hotel_app"))
        name = session.execute(text("SELECT name FROM hotels WHERE id = :h"), {"h": hotel})
        seen = name.scalar_one()
        if len(attempts) <= lose:
            with race_engine.begin() as other:
                other.execute(
                    text("UPDATE hotels SET name = name || '+' WHERE id = :h"), {"h": hotel}
                )
        session.execute(
            text("UPDATE hotels SET name = :n WHERE id = :h"), {"n": seen + "!", "h": hotel}
        )
        return seen

    return work


def repeatable_read(engine: Engine) -> Callable[[], Session]:
    return lambda: Session(engine.execution_options(isolation_level="REPEATABLE READ"))


def test_a_serialization_failure_is_retried(race_engine: Engine, race_world: World) -> None:
    attempts: list[int] = []
    hotel = race_world.hotel.id
    work = _rename_racing(race_engine, hotel, attempts, lose=1)
    seen = ops.run_transaction(repeatable_read(race_engine), work, backoff=0)  # type: ignore[arg-type]
    assert len(attempts) == 2
    assert seen == "Seaview+"  # the second attempt read the winner's commit, and built on it
    with race_engine.connect() as conn:
        final = conn.execute(text("SELECT name FROM hotels WHERE id = :h"), {"h": hotel})
        assert final.scalar_one() == "Seaview+!"


def test_retries_are_bounded(race_engine: Engine, race_world: World) -> None:
    attempts: list[int] = []
    work = _rename_racing(race_engine, race_world.hotel.id, attempts, lose=99)
    with pytest.raises(DBAPIError) as failed:
        ops.run_transaction(repeatable_read(race_engine), work, attempts=3, backoff=0)  # type: ignore[arg-type]
    assert failed.value.orig.sqlstate == "40001"  # type: ignore[union-attr]
    assert len(attempts) == 3


def test_a_refusal_is_not_retried(race_engine: Engine, race_world: World) -> None:
    attempts: list[int] = []

    def work(session: Session) -> object:
        attempts.append(1)
        return ops.create_booking(
            session,
            user_id=race_world.guest.id,
            room_id=race_world.closed_room.id,
            check_in=date(2038, 1, 1),
            check_out=date(2038, 1, 2),
            guests=1,
        )

    with pytest.raises(HotelRuleError):
        ops.run_transaction(lambda: Session(race_engine), work)
    assert len(attempts) == 1
