"""The report rollups (revision 0021) equal the same reports over the base tables: after
every kind of change, across folds, and after many concurrent bookings, payments, status
changes and city moves."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hotel_models import Hotel, Room
from hotel_models import operations as ops
from hotel_models.enums import RoomType
from hotel_models.rollups import (
    BOOKING_STATUS_BASE,
    BOOKING_STATUS_REPORT,
    REVENUE_BASE,
    REVENUE_REPORT,
)
from tests.models.world import World, as_app, committed_world, refused


def reports(conn: Connection | Session) -> dict[str, Any]:
    """Each report from its rollup and from the base tables, in one snapshot."""
    run = conn.execute
    return {
        "status": sorted(run(text(BOOKING_STATUS_REPORT)).all()),
        "status_base": sorted(run(text(BOOKING_STATUS_BASE)).all()),
        "revenue": run(text(REVENUE_REPORT)).all(),
        "revenue_base": run(text(REVENUE_BASE)).all(),
    }


def assert_exact(conn: Connection | Session) -> dict[str, Any]:
    got = reports(conn)
    assert got["status"] == got["status_base"]
    assert got["revenue"] == got["revenue_base"]
    return got


def fold_next(session: Session, table: str) -> None:
    """The next delta of `table` is the one that folds (every 256th id)."""
    session.execute(
        text(
            "SELECT setval(pg_get_serial_sequence(:t, 'id'),"
            " (nextval(pg_get_serial_sequence(:t, 'id')) / 256 + 1) * 256 - 1)"
        ),
        {"t": table},
    )


def loose(session: Session, table: str) -> int:
    query = text(f"SELECT count(*) FROM {table} WHERE NOT compact")
    return int(session.execute(query).scalar_one())


def book(session: Session, world: World, start: date, nights: int = 2, **kw: Any) -> int:
    booking = ops.create_booking(
        session,
        user_id=world.guest.id,
        room_id=kw.pop("room_id", world.room.id),
        check_in=start,
        check_out=start + timedelta(days=nights),
        guests=1,
        **kw,
    )
    return booking.id


def test_reports_follow_every_change(session: Session, world: World) -> None:
    assert_exact(session)
    first = book(session, world, date(2031, 3, 1))
    second = book(session, world, date(2031, 3, 5))
    third = book(session, world, date(2031, 3, 9))
    assert_exact(session)
    ops.confirm_booking(session, booking_id=first)
    ops.pay(session, booking_id=first, amount=Decimal(50), method_id=world.method.id)
    ops.pay(session, booking_id=second, amount=Decimal(30), method_id=world.method.id)
    ops.cancel_booking(session, booking_id=third)
    got = assert_exact(session)
    assert sum(row[3] for row in got["revenue"]) >= 2
    # A refund leaves the report; a payment dated back moves between days and months, and
    # one on the window's first (partial) day counts only after the window's start.
    refund = ops.pay(session, booking_id=second, amount=Decimal(20), method_id=world.method.id)
    session.execute(text("UPDATE payments SET status = 'refunded' WHERE id = :p"), {"p": refund.id})
    for offset in ("45 days", "89 days 23 hours", "90 days 1 hour", "90 days"):
        paid = ops.pay(session, booking_id=first, amount=Decimal(1), method_id=world.method.id)
        session.execute(
            text(f"UPDATE payments SET created_at = now() - interval '{offset}' WHERE id = :p"),
            {"p": paid.id},
        )
        assert_exact(session)
    # Price changes and deletes of bookings.
    session.execute(text("UPDATE bookings SET total_price = 250 WHERE id = :b"), {"b": third})
    session.execute(text("DELETE FROM booking_status_history WHERE booking_id = :b"), {"b": third})
    session.execute(text("DELETE FROM audit_log WHERE row_pk ->> 'id' = :b"), {"b": str(third)})
    session.execute(text("DELETE FROM bookings WHERE id = :b"), {"b": third})
    assert_exact(session)
    # A booking, a room and a hotel changing city move their revenue.
    other = Hotel(partner_id=world.hotel.partner_id, name="Hill", address="2 Hill", city="Omsk")
    session.add(other)
    session.flush()
    far = Room(hotel_id=other.id, number="1", room_type=RoomType.DOUBLE, capacity=2, price=80)
    session.add(far)
    session.flush()
    session.execute(
        text("UPDATE bookings SET room_id = :r WHERE id = :b"), {"r": far.id, "b": first}
    )
    assert_exact(session)
    session.execute(
        text("UPDATE rooms SET hotel_id = :h WHERE id = :r"),
        {"h": world.hotel.id, "r": far.id},
    )
    assert_exact(session)
    session.execute(text("UPDATE hotels SET city = 'Perm' WHERE id = :h"), {"h": world.hotel.id})
    got = assert_exact(session)
    assert "Perm" in {row[0] for row in got["revenue"]}


def test_a_fold_keeps_the_sums(session: Session, world: World) -> None:
    for day in range(6):
        booking = book(session, world, date(2032, 1, 1) + timedelta(days=3 * day))
        ops.pay(session, booking_id=booking, amount=Decimal(10), method_id=world.method.id)
    before = assert_exact(session)
    assert loose(session, "booking_status_rollup")
    assert loose(session, "revenue_rollup")
    fold_next(session, "booking_status_rollup")
    fold_next(session, "revenue_rollup")
    booking = book(session, world, date(2032, 6, 1))  # its deltas fold everything
    ops.pay(session, booking_id=booking, amount=Decimal(10), method_id=world.method.id)
    assert loose(session, "booking_status_rollup") == 0
    assert loose(session, "revenue_rollup") == 0
    after = assert_exact(session)
    assert after != before


def test_the_service_reads_the_rollups_and_cannot_write_them(
    session: Session, world: World
) -> None:
    book(session, world, date(2033, 1, 1))
    as_app(session)
    reports(session)
    for statement in (
        "INSERT INTO booking_status_rollup (status, bookings, total_price) "
        "VALUES ('pending', 1, 1)",
        "UPDATE revenue_rollup SET amount = 0",
        "DELETE FROM booking_status_rollup",
    ):
        refused(session, statement)


def test_analysts_read_the_rollups(session: Session) -> None:
    session.execute(text("SET LOCAL ROLE analytic"))
    reports(session)


# -- concurrency: committed data, many connections ------------------------------------------

CLIENTS = 12
ROUNDS = 30  # bookings per client: 360 bookings, about 1,400 deltas, several folds


def test_rollups_stay_exact_under_concurrent_writers(race_engine: Engine) -> None:
    world = committed_world(race_engine)
    with Session(race_engine, expire_on_commit=False) as session:
        rooms = [
            Room(
                hotel_id=world.hotel.id,
                number=f"R{n}",
                room_type=RoomType.DOUBLE,
                capacity=2,
                price=Decimal(100 + n),
            )
            for n in range(CLIENTS)
        ]
        spare = Hotel(partner_id=world.hotel.partner_id, name="Spare", address="3 Bay", city="Ufa")
        session.add_all([*rooms, spare])
        session.commit()
    start = threading.Barrier(CLIENTS + 1)
    done = threading.Event()

    def guest(n: int) -> int:
        """Books, pays, confirms, cancels or completes, refunds: committed one by one."""
        start.wait()
        committed = 0
        for i in range(ROUNDS):
            with Session(race_engine) as session:
                session.execute(text("SET LOCAL ROLE hotel_app"))
                stay = date(2035, 1, 1) + timedelta(days=3 * i)
                booking = book(session, world, stay, room_id=rooms[n].id)
                session.commit()
                session.execute(text("SET LOCAL ROLE hotel_app"))
                price = session.execute(
                    text("SELECT total_price FROM bookings WHERE id = :b"), {"b": booking}
                ).scalar_one()
                paid = ops.pay(
                    session, booking_id=booking, amount=price / 2, method_id=world.method.id
                )
                ops.confirm_booking(session, booking_id=booking)
                if i % 3 == 0:
                    ops.cancel_booking(session, booking_id=booking)
                    session.execute(
                        text("UPDATE payments SET status = 'refunded' WHERE id = :p"),
                        {"p": paid.id},
                    )
                elif i % 3 == 1:
                    ops.check_in(session, booking_id=booking)
                    ops.complete_stay(session, booking_id=booking)
                session.commit()
                committed += 1
        return committed

    def mover() -> int:
        """A partner moves the hotel between cities, and a room between hotels, meanwhile."""
        start.wait()
        moves = 0
        cities = ("Kazan", "Sochi")
        while not done.is_set():
            with race_engine.begin() as conn:
                conn.execute(
                    text("UPDATE hotels SET city = :c WHERE id = :h"),
                    {"c": cities[moves % 2], "h": world.hotel.id},
                )
            with race_engine.begin() as conn:
                conn.execute(
                    text("UPDATE rooms SET hotel_id = :h WHERE id = :r"),
                    {"h": (spare.id, world.hotel.id)[moves % 2], "r": rooms[0].id},
                )
            moves += 1
        return moves

    with ThreadPoolExecutor(CLIENTS + 1) as pool_:
        moving = pool_.submit(mover)
        guests = list(pool_.map(guest, range(CLIENTS)))
        done.set()
        moves = moving.result()
    assert guests == [ROUNDS] * CLIENTS
    assert moves > 0
    with race_engine.connect() as conn:
        got = assert_exact(conn)
        folded = conn.execute(
            text("SELECT count(*) FROM booking_status_rollup WHERE compact")
        ).scalar_one()
        deltas = conn.execute(text("SELECT max(id) FROM booking_status_rollup")).scalar_one()
    assert sum(row[1] for row in got["status"]) == CLIENTS * ROUNDS
    assert folded > 0
    assert deltas > 256


def test_a_city_move_outside_read_committed_is_refused(race_engine: Engine) -> None:
    """Its snapshot would predate the writers it waited for: it could miss their payments."""
    world = committed_world(race_engine)
    repeatable = race_engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with repeatable as conn, pytest.raises(DBAPIError, match="READ COMMITTED"):
        conn.execute(text("UPDATE hotels SET city = 'Tula' WHERE id = :h"), {"h": world.hotel.id})
