"""Booking rules hold for plain SQL from the service's role: each is tried and refused."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.models.world import World, as_app, insert_booking, unwatched_columns, violates


def test_overlapping_stays_are_refused_back_to_back_and_cancelled_are_not(
    session: Session, world: World
) -> None:
    as_app(session)
    first = insert_booking(session, world, "2030-01-10", "2030-01-15")
    with violates(session, "ex_bookings_no_overlap"):
        insert_booking(session, world, "2030-01-14", "2030-01-16")
    insert_booking(session, world, "2030-01-15", "2030-01-17")  # back to back
    session.execute(text("UPDATE bookings SET status = 'cancelled' WHERE id = :id"), {"id": first})
    insert_booking(session, world, "2030-01-12", "2030-01-14")  # cancelled dates are free


def test_more_guests_than_capacity_are_refused(session: Session, world: World) -> None:
    as_app(session)
    with violates(session, "bookings_capacity"):
        insert_booking(session, world, "2030-02-01", "2030-02-03", guests=3)
    booking = insert_booking(session, world, "2030-02-01", "2030-02-03", guests=2)
    with violates(session, "bookings_capacity"):
        session.execute(text("UPDATE bookings SET guests = 5 WHERE id = :id"), {"id": booking})


def test_a_room_under_maintenance_takes_no_booking(session: Session, world: World) -> None:
    as_app(session)
    with violates(session, "bookings_room_available"):
        insert_booking(session, world, "2030-03-01", "2030-03-02", room_id=world.closed_room.id)


def test_only_allowed_status_transitions(session: Session, world: World) -> None:
    as_app(session)
    with violates(session, "bookings_status_transition"):
        insert_booking(session, world, "2030-04-01", "2030-04-02", status="completed")
    booking = insert_booking(session, world, "2030-04-01", "2030-04-02")

    def move(status: str) -> None:
        session.execute(
            text("UPDATE bookings SET status = :s WHERE id = :id"), {"s": status, "id": booking}
        )

    with violates(session, "bookings_status_transition"):
        move("checked_in")  # pending -> checked_in skips confirmation
    move("confirmed")
    move("checked_in")
    with violates(session, "bookings_status_transition"):
        move("cancelled")  # a guest in the room cannot cancel
    move("completed")
    with violates(session, "bookings_status_transition"):
        move("pending")


def test_the_guard_watches_every_column_but_the_paid_state(session: Session) -> None:
    """bookings_guard (status machine, capacity, maintenance, updated_at) fires for an UPDATE
    setting any column but paid_state, which bookings_paid_state stamps (0029): a column added
    to bookings must be named in the guard's list (revision 0029's GUARDED)."""
    assert unwatched_columns(session, "bookings", "bookings_guard") == {"paid_state", "holds_room"}


def test_status_history_records_the_whole_life_with_the_acting_role(
    session: Session, world: World
) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2030-05-01", "2030-05-03")
    for status in ("confirmed", "checked_in", "completed"):
        session.execute(
            text("UPDATE bookings SET status = :s WHERE id = :id"), {"s": status, "id": booking}
        )
    session.execute(text("UPDATE bookings SET guests = 2 WHERE id = :id"), {"id": booking})
    rows = session.execute(
        text(
            "SELECT old_status::text, new_status::text, changed_by FROM booking_status_history "
            "WHERE booking_id = :id ORDER BY id"
        ),
        {"id": booking},
    ).all()
    assert [tuple(r) for r in rows] == [
        (None, "pending", "hotel_app"),
        ("pending", "confirmed", "hotel_app"),
        ("confirmed", "checked_in", "hotel_app"),
        ("checked_in", "completed", "hotel_app"),
    ]


def test_booking_codes_are_generated_short_unambiguous_and_distinct(
    session: Session, world: World
) -> None:
    as_app(session)
    codes = session.execute(text("SELECT booking_code() FROM generate_series(1, 2000)")).scalars()
    codes = list(codes)
    assert all(re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", code) for code in codes)
    assert len(set(codes)) == len(codes)
    booking = insert_booking(session, world, "2030-06-01", "2030-06-02")
    code = session.execute(
        text("SELECT code FROM bookings WHERE id = :id"), {"id": booking}
    ).scalar_one()
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", code)
