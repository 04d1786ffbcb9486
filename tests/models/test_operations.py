"""The service's transactions against the real schema, failures as typed errors."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from hotel_models import Booking, RoomRate
from hotel_models import operations as ops
from hotel_models.enums import BookingStatus, PaidState, RateKind, RoomType
from hotel_models.errors import (
    BookingConflict,
    CapacityExceeded,
    IdempotencyKeyReused,
    InsufficientBonus,
    InvalidTransition,
    NotFound,
    Overpayment,
    ReviewNotAllowed,
    RoomUnavailable,
)
from tests.models.world import World

D = date


def book(session: Session, world: World, start: date, end: date, **extra: object) -> Booking:
    return ops.create_booking(
        session,
        user_id=world.guest.id,
        room_id=world.room.id,
        check_in=start,
        check_out=end,
        guests=1,
        **extra,  # type: ignore[arg-type]
    )


def free_rooms(
    session: Session, world: World, start: date, end: date, **extra: object
) -> list[int]:
    offers = ops.search_availability(
        session,
        city=world.hotel.city,
        check_in=start,
        check_out=end,
        guests=1,
        **extra,  # type: ignore[arg-type]
    )
    return [offer.room_id for offer in offers]


def test_search_finds_free_rooms_priced_with_rates(session: Session, world: World) -> None:
    session.add_all(
        [
            RoomRate(
                room_id=world.room.id,
                kind=RateKind.SEASONAL,
                name="peak",
                starts_on=D(2033, 1, 2),
                ends_on=D(2033, 1, 4),
                price=Decimal(150),
            ),
            RoomRate(
                room_id=world.room.id,
                kind=RateKind.DISCOUNT,
                name="deal",
                starts_on=D(2033, 1, 3),
                ends_on=D(2033, 1, 4),
                price=Decimal(60),
            ),
        ]
    )
    session.flush()
    [offer] = ops.search_availability(
        session, city=world.hotel.city, check_in=D(2033, 1, 1), check_out=D(2033, 1, 5), guests=2
    )
    assert offer.room_id == world.room.id  # the room under maintenance is not offered
    assert offer.total_price == 100 + 150 + 60 + 100  # lowest applicable rate per night
    assert offer.nights == 4
    assert free_rooms(session, world, D(2033, 1, 1), D(2033, 1, 5), room_type=RoomType.SUITE) == []
    assert free_rooms(session, world, D(2033, 1, 1), D(2033, 1, 5), max_price=Decimal(100)) == []
    assert free_rooms(session, world, D(2033, 1, 1), D(2033, 1, 5), min_rating=Decimal(1)) == []
    assert (
        ops.search_availability(
            session,
            city=world.hotel.city,
            check_in=D(2033, 1, 1),
            check_out=D(2033, 1, 5),
            guests=3,
        )
        == []
    )
    book(session, world, D(2033, 1, 4), D(2033, 1, 6))
    assert free_rooms(session, world, D(2033, 1, 1), D(2033, 1, 5)) == []
    assert free_rooms(session, world, D(2033, 1, 1), D(2033, 1, 4)) == [world.room.id]


def test_create_booking_prices_services_and_points(session: Session, world: World) -> None:
    session.execute(
        text("INSERT INTO bonus_transactions (account_id, amount, kind) VALUES (:a, 30, 'promo')"),
        {"a": world.account.id},
    )
    booking = book(
        session,
        world,
        D(2033, 2, 1),
        D(2033, 2, 3),
        service_ids=[world.breakfast.id],
        bonus_points=20,
    )
    assert booking.total_price == 2 * 100 + 15 - 20
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", booking.code)
    assert booking.status == BookingStatus.PENDING
    assert ops.bonus_statement(session, user_id=world.guest.id).balance == 10
    with pytest.raises(InsufficientBonus, match="not enough bonus points"):
        book(session, world, D(2033, 3, 1), D(2033, 3, 3), bonus_points=11)
    with pytest.raises(NotFound):
        book(session, world, D(2033, 3, 1), D(2033, 3, 3), service_ids=[-1])


def test_create_booking_refusals_are_typed(session: Session, world: World) -> None:
    book(session, world, D(2033, 4, 1), D(2033, 4, 5))
    with pytest.raises(BookingConflict, match="already booked"):
        book(session, world, D(2033, 4, 4), D(2033, 4, 6))
    book(session, world, D(2033, 4, 5), D(2033, 4, 6))  # the session is still usable
    with pytest.raises(CapacityExceeded, match="at most 2 guests"):
        ops.create_booking(
            session,
            user_id=world.guest.id,
            room_id=world.room.id,
            check_in=D(2033, 5, 1),
            check_out=D(2033, 5, 2),
            guests=3,
        )
    with pytest.raises(RoomUnavailable, match="maintenance"):
        ops.create_booking(
            session,
            user_id=world.guest.id,
            room_id=world.closed_room.id,
            check_in=D(2033, 5, 1),
            check_out=D(2033, 5, 2),
            guests=1,
        )


def test_the_same_idempotency_key_returns_the_same_booking(session: Session, world: World) -> None:
    first = book(session, world, D(2033, 6, 1), D(2033, 6, 2), idempotency_key="req-1")
    again = book(session, world, D(2033, 6, 1), D(2033, 6, 2), idempotency_key="req-1")
    assert again.id == first.id
    count = session.execute(
        text("SELECT count(*) FROM bookings WHERE user_id = :u"), {"u": world.guest.id}
    ).scalar_one()
    assert count == 1


def test_an_idempotency_key_reused_for_another_request_is_refused(
    session: Session, world: World
) -> None:
    """It used to return the first booking: the guest believed the new dates were booked."""
    first = book(session, world, D(2033, 6, 10), D(2033, 6, 12), idempotency_key="req-2")
    with pytest.raises(IdempotencyKeyReused, match=r"req-2.*another check_in, check_out"):
        book(session, world, D(2033, 6, 20), D(2033, 6, 22), idempotency_key="req-2")
    with pytest.raises(IdempotencyKeyReused, match="another service_ids"):
        book(
            session,
            world,
            D(2033, 6, 10),
            D(2033, 6, 12),
            idempotency_key="req-2",
            service_ids=[world.breakfast.id],
        )
    with pytest.raises(IdempotencyKeyReused, match="another guest"):
        ops.create_booking(
            session,
            user_id=world.other_guest.id,
            room_id=world.room.id,
            check_in=D(2033, 6, 10),
            check_out=D(2033, 6, 12),
            guests=1,
            idempotency_key="req-2",
        )
    assert book(session, world, D(2033, 6, 10), D(2033, 6, 12), idempotency_key="req-2") == first


def test_a_retried_payment_is_recorded_once(session: Session, world: World) -> None:
    booking = book(session, world, D(2033, 8, 1), D(2033, 8, 3))
    pay = {"booking_id": booking.id, "amount": Decimal(50), "method_id": world.method.id}
    first = ops.pay(session, **pay, idempotency_key="pay-1")  # type: ignore[arg-type]
    again = ops.pay(session, **pay, idempotency_key="pay-1")  # type: ignore[arg-type]
    assert again.id == first.id
    paid = session.execute(
        text("SELECT count(*), sum(amount) FROM payments WHERE booking_id = :b"),
        {"b": booking.id},
    ).one()
    assert tuple(paid) == (1, 50)
    with pytest.raises(IdempotencyKeyReused, match=r"pay-1.*another amount"):
        ops.pay(
            session,
            booking_id=booking.id,
            amount=Decimal(60),
            method_id=world.method.id,
            idempotency_key="pay-1",
        )


def test_a_booking_s_whole_life(session: Session, world: World) -> None:
    booking = book(session, world, D(2033, 7, 1), D(2033, 7, 3))
    with pytest.raises(Overpayment):
        ops.pay(session, booking_id=booking.id, amount=Decimal(201), method_id=world.method.id)
    ops.pay(session, booking_id=booking.id, amount=Decimal(50), method_id=world.method.id)
    assert (
        ops.confirm_booking(session, booking_id=booking.id).paid_state == PaidState.PARTIALLY_PAID
    )
    ops.pay(session, booking_id=booking.id, amount=Decimal(150), method_id=world.method.id)
    assert ops.check_in(session, booking_id=booking.id).paid_state == PaidState.PAID
    with pytest.raises(InvalidTransition, match="checked_in to cancelled"):
        ops.cancel_booking(session, booking_id=booking.id)
    with pytest.raises(ReviewNotAllowed, match="completed stay"):
        ops.add_review(session, booking_id=booking.id, user_id=world.guest.id, rating=5)
    assert ops.complete_stay(session, booking_id=booking.id).status == BookingStatus.COMPLETED
    review = ops.add_review(session, booking_id=booking.id, user_id=world.guest.id, rating=4)
    assert review.hotel_id == world.hotel.id
    with pytest.raises(ReviewNotAllowed, match="already been reviewed"):
        ops.add_review(
            session, booking_id=booking.id, user_id=world.guest.id, rating=5, comment="!"
        )
    session.refresh(world.hotel)
    assert world.hotel.rating == 4
    history = session.execute(
        text(
            "SELECT old_status, new_status FROM booking_status_history "
            "WHERE booking_id = :b ORDER BY id"
        ),
        {"b": booking.id},
    ).all()
    assert [tuple(h) for h in history] == [
        (None, "pending"),
        ("pending", "confirmed"),
        ("confirmed", "checked_in"),
        ("checked_in", "completed"),
    ]
    statement = ops.bonus_statement(session, user_id=world.guest.id)
    assert statement.balance == 10  # 5 % of 200, earned when fully paid
    assert [(e.kind, e.amount, e.booking_id) for e in statement.entries] == [
        ("earn", 10, booking.id)
    ]


def test_cancelling_returns_points_and_frees_the_dates(session: Session, world: World) -> None:
    session.execute(
        text("INSERT INTO bonus_transactions (account_id, amount, kind) VALUES (:a, 30, 'promo')"),
        {"a": world.account.id},
    )
    booking = book(session, world, D(2033, 8, 1), D(2033, 8, 3), bonus_points=30)
    assert ops.bonus_statement(session, user_id=world.guest.id).balance == 0
    assert ops.cancel_booking(session, booking_id=booking.id).status == BookingStatus.CANCELLED
    assert ops.bonus_statement(session, user_id=world.guest.id).balance == 30
    rebooked = book(session, world, D(2033, 8, 1), D(2033, 8, 3))
    with pytest.raises(NotFound):
        ops.cancel_booking(session, booking_id=-1)
    with pytest.raises(NotFound, match="payment_methods"):
        ops.pay(session, booking_id=rebooked.id, amount=Decimal(1), method_id=-1)


def test_a_colliding_booking_code_is_drawn_again(session: Session, world: World) -> None:
    taken = book(session, world, D(2033, 9, 1), D(2033, 9, 2)).code
    # Inside the rolled-back test transaction: the next code drawn is the taken one.
    session.execute(text("CREATE TEMP SEQUENCE draws"))
    session.execute(
        text(
            "CREATE OR REPLACE FUNCTION booking_code() RETURNS text LANGUAGE sql AS "
            f"$$ SELECT CASE WHEN nextval('draws') = 1 THEN '{taken}' ELSE 'FRESH234' END $$"
        )
    )
    assert book(session, world, D(2033, 9, 2), D(2033, 9, 3)).code == "FRESH234"


def test_rates_touching_the_stay_do_not_apply(session: Session, world: World) -> None:
    """The shortcut for rooms without a rate in the stay: rates ending on check-in or
    starting on check-out cover no night of it."""
    for starts, ends in ((D(2034, 1, 1), D(2034, 1, 3)), (D(2034, 1, 5), D(2034, 1, 9))):
        session.add(
            RoomRate(
                room_id=world.room.id,
                kind=RateKind.DISCOUNT,
                name=f"deal {starts}",
                starts_on=starts,
                ends_on=ends,
                price=Decimal(10),
            )
        )
    session.flush()
    [offer] = ops.search_availability(
        session, city=world.hotel.city, check_in=D(2034, 1, 3), check_out=D(2034, 1, 5), guests=1
    )
    assert offer.total_price == 2 * 100
    [inside] = ops.search_availability(
        session, city=world.hotel.city, check_in=D(2034, 1, 2), check_out=D(2034, 1, 6), guests=1
    )
    assert inside.total_price == 10 + 100 + 100 + 10
