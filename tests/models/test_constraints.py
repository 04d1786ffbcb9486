"""The basic constraints of the schema, proven by trying to break each one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotel_models import (
    Booking,
    Hotel,
    Partner,
    PartnerType,
    Review,
    Room,
    User,
)
from hotel_models.enums import BookingStatus, PaidState, RoomStatus, RoomType


@pytest.fixture
def world(session: Session) -> dict[str, int]:
    kind = PartnerType(code="owner", name="Owner")
    session.add(kind)
    session.flush()
    partner = Partner(
        partner_type_id=kind.id, name="P", login="p1", email="p1@x.org", password_hash="h"
    )
    session.add(partner)
    session.flush()
    hotel = Hotel(partner_id=partner.id, name="H", address="A", city="Kazan")
    user = User(first_name="A", last_name="B", email="a@x.org", login="a", password_hash="h")
    session.add_all([hotel, user])
    session.flush()
    room = Room(hotel_id=hotel.id, number="1", room_type=RoomType.DOUBLE, capacity=2, price=100)
    session.add(room)
    session.flush()
    return {"hotel": hotel.id, "user": user.id, "room": room.id, "partner": partner.id}


def booking(world: dict[str, int], **overrides: object) -> Booking:
    values: dict[str, object] = {
        "code": "ABCD2345",
        "user_id": world["user"],
        "room_id": world["room"],
        "check_in": date(2026, 7, 1),
        "check_out": date(2026, 7, 3),
        "guests": 2,
        "total_price": Decimal("200.00"),
    }
    return Booking(**{**values, **overrides})


def rejected(session: Session, obj: object, constraint: str) -> None:
    session.add(obj)
    with pytest.raises(IntegrityError, match=constraint):
        session.flush()
    session.rollback()


def test_server_defaults_fill_what_bulk_loads_leave_out(
    session: Session, world: dict[str, int]
) -> None:
    session.add(b := booking(world))
    session.flush()
    session.refresh(b)
    assert b.status is BookingStatus.PENDING
    assert b.paid_state is PaidState.UNPAID
    assert b.created_at is not None
    room = session.get(Room, world["room"])
    assert room is not None
    assert room.status is RoomStatus.AVAILABLE


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"check_out": date(2026, 7, 1)}, "ck_bookings_valid_stay"),
        ({"guests": 0}, "ck_bookings_positive_guests"),
        ({"bonus_points_used": -5}, "ck_bookings_nonnegative_points"),
    ],
)
def test_booking_checks(
    session: Session, world: dict[str, int], overrides: dict[str, object], constraint: str
) -> None:
    rejected(session, booking(world, **overrides), constraint)


def test_booking_code_is_unique(session: Session, world: dict[str, int]) -> None:
    session.add(booking(world))
    session.flush()
    rejected(
        session,
        booking(world, check_in=date(2026, 8, 1), check_out=date(2026, 8, 2)),
        "uq_bookings_code",
    )


def test_room_checks(session: Session, world: dict[str, int]) -> None:
    rejected(
        session,
        Room(hotel_id=world["hotel"], number="2", room_type=RoomType.SUITE, capacity=0, price=1),
        "ck_rooms_positive_capacity",
    )


def test_room_price_is_not_negative(session: Session, world: dict[str, int]) -> None:
    rejected(
        session,
        Room(hotel_id=world["hotel"], number="3", room_type=RoomType.SUITE, capacity=1, price=-1),
        "ck_rooms_nonnegative_price",
    )


def _room_cities(session: Session, hotel: int) -> list[str]:
    query = text("SELECT city FROM rooms WHERE hotel_id = :hotel")
    return list(session.execute(query, {"hotel": hotel}).scalars())


def test_a_room_is_in_its_hotels_city_whatever_is_written(
    session: Session, world: dict[str, int]
) -> None:
    room = Room(
        hotel_id=world["hotel"], number="2", room_type=RoomType.SINGLE, capacity=1, price=1,
        city="Elsewhere",
    )  # fmt: skip
    session.add(room)
    session.flush()
    session.execute(text("SET LOCAL ROLE hotel_app"))
    session.execute(text("UPDATE rooms SET city = 'Elsewhere' WHERE hotel_id = :hotel"), world)
    assert _room_cities(session, world["hotel"]) == ["Kazan", "Kazan"]


def test_a_hotel_that_moves_takes_its_rooms_along(session: Session, world: dict[str, int]) -> None:
    session.execute(text("SET LOCAL ROLE hotel_app"))
    session.execute(text("UPDATE hotels SET city = 'Samara' WHERE id = :hotel"), world)
    assert _room_cities(session, world["hotel"]) == ["Samara"]


def test_rating_is_one_to_five(session: Session, world: dict[str, int]) -> None:
    session.add(b := booking(world))
    session.flush()
    for status in (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.COMPLETED):
        b.status = status
        session.flush()  # the status machine allows one step at a time
    rejected(
        session,
        Review(booking_id=b.id, user_id=world["user"], hotel_id=world["hotel"], rating=6),
        "ck_reviews_rating_range",
    )


def test_logins_and_emails_are_unique(session: Session, world: dict[str, int]) -> None:
    rejected(
        session,
        User(first_name="C", last_name="D", email="a@x.org", login="c", password_hash="h"),
        "uq_users_email",
    )


def test_a_user_with_bookings_cannot_be_deleted(session: Session, world: dict[str, int]) -> None:
    session.add(booking(world))
    session.flush()
    with pytest.raises(IntegrityError, match="fk_bookings_user_id_users"):
        session.execute(text("DELETE FROM users WHERE id = :id"), {"id": world["user"]})
    session.rollback()


def test_deleting_a_hotel_without_bookings_takes_its_rooms(
    session: Session, world: dict[str, int]
) -> None:
    session.execute(text("DELETE FROM hotels WHERE id = :id"), {"id": world["hotel"]})
    assert session.get(Room, world["room"]) is None
