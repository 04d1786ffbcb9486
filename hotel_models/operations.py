"""The service's core transactions: plain functions over a Session whose transaction the
caller owns (commit or roll back). Rules are enforced by the database; these functions
compute prices, keep a failed statement inside a savepoint (the caller's transaction stays
usable) and raise the typed errors of hotel_models.errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from hotel_models.bookings import Booking, BookingService, Payment
from hotel_models.enums import BookingStatus, PaymentOption, PaymentStatus, RoomType
from hotel_models.errors import (
    BookingConflict,
    HotelRuleError,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    translated,
)
from hotel_models.loyalty import BonusAccount, BonusTransaction
from hotel_models.reviews import Review
from hotel_models.rooms import Room, Service

# The nights of the stay :check_in to :check_out, as rows n(night). The integer
# generate_series lets the planner see the stay's length when it plans for these dates (the
# date one is estimated at 1000 rows, enough to make it JIT-compile a 3 ms search for
# 100+ ms): the search, planned for each call's dates, uses it.
NIGHTS_BY_SERIES = """(SELECT CAST(:check_in AS date) + i AS night
          FROM generate_series(0, CAST(:check_out AS date)
                                  - CAST(:check_in AS date) - 1) AS i) AS n"""
# A prepared statement's generic plan knows no dates, and the series' 1000 nights made it
# cost 160 times the custom plan: the booking insert was planned again on every call.
# stay_nights() (revision 0025) is estimated at a week.
STAY_NIGHTS = "stay_nights(CAST(:check_in AS date), CAST(:check_out AS date)) AS n(night)"


def nightly_price(nights: str) -> str:
    """Per night: the lowest rate (seasonal offer or discount) covering that night, else the
    room's base price. `r` is the room; `nights` one of the two forms above."""
    return f"""
    SELECT sum(coalesce(
             (SELECT min(rr.price) FROM room_rates rr
              WHERE rr.room_id = r.id AND rr.starts_on <= n.night AND n.night < rr.ends_on),
             r.price)) AS total
    FROM {nights}
"""


# Rates are half-open [starts_on, ends_on) like stays; the GiST index on this range finds
# the few rates of a stay among all rooms' (ix_room_rates_stay).
RATE_IN_STAY = """daterange(rr.starts_on, rr.ends_on, '[)')
    && daterange(CAST(:check_in AS date), CAST(:check_out AS date), '[)')"""


def stay_price(earlier: bool = False) -> str:
    """The price of room `r` for the stay. Most rooms have no rate in a given stay: they
    skip the per-night walk. `earlier`: as written before revision 0025 (no stay_nights)."""
    nights = NIGHTS_BY_SERIES if earlier else STAY_NIGHTS
    return f"""
    SELECT CASE WHEN EXISTS (SELECT FROM room_rates rr WHERE rr.room_id = r.id AND {RATE_IN_STAY})
           THEN ({nightly_price(nights)})
           ELSE r.price * (CAST(:check_out AS date) - CAST(:check_in AS date))
           END AS total
"""


STAY_PRICE = stay_price()
# {city} is r.city (revision 0024 on): the rooms index on (city, price) walks only the
# city's rooms; h.city is how the search was written before. {holds_room} is the
# exclusion's predicate, so its GiST index finds a room's overlapping stays: holds_room from
# revision 0025, status <> 'cancelled' before.
_FREE_ROOM = """{city} = :city AND r.capacity >= :guests AND r.status = 'available'
      AND NOT EXISTS (
        SELECT FROM bookings b
        WHERE b.room_id = r.id AND {holds_room}
          AND daterange(b.check_in, b.check_out, '[)')
              && daterange(CAST(:check_in AS date), CAST(:check_out AS date), '[)'))"""


def availability_sql(filters: str = "", earlier: bool = False) -> str:
    """Free rooms of a city for a stay, cheapest first: (id, hotel id, hotel name, room
    type, capacity, hotel rating, stay price). Parameters :city, :check_in, :check_out,
    :guests, :limit; `filters` are extra conditions over `r`, `h` and `total`; `earlier`:
    the search as written before revisions 0024 and 0025 (the benches that compare).

    Exact and able to stop early: rooms without a rate in the stay cost nights x base
    price, so the city's rooms are walked in base-price order (one index on city, price)
    and the walk stops at :limit; the few rooms with a rate in the stay (found through the
    rates) are priced night by night; the two are merged. Pricing every free room of a
    city of 20,000 rooms to sort them was what made the search slow."""
    nights = "(CAST(:check_out AS date) - CAST(:check_in AS date))"
    base_total = f"r.price * {nights}"
    columns = "r.id, h.id AS hotel_id, h.name, r.room_type, r.capacity, h.rating"
    free_room = (
        _FREE_ROOM.format(city="h.city", holds_room="b.status <> 'cancelled'")
        if earlier
        else _FREE_ROOM.format(city="r.city", holds_room="b.holds_room")
    )
    nightly = nightly_price(NIGHTS_BY_SERIES)
    return f"""
    SELECT * FROM (
      (SELECT {columns}, {base_total} AS total
       FROM rooms r JOIN hotels h ON h.id = r.hotel_id
       WHERE {free_room}
         AND NOT EXISTS (SELECT FROM room_rates rr WHERE rr.room_id = r.id AND {RATE_IN_STAY})
         {filters.replace("{total}", base_total)}
       ORDER BY r.price, r.id
       LIMIT :limit)
      UNION ALL
      (SELECT {columns}, p.total
       FROM rooms r JOIN hotels h ON h.id = r.hotel_id CROSS JOIN LATERAL ({nightly}) AS p
       WHERE r.id IN (SELECT rr.room_id FROM room_rates rr WHERE {RATE_IN_STAY})
         AND {free_room}
         {filters.replace("{total}", "p.total")})
    ) AS offers
    ORDER BY total, id
    LIMIT :limit"""


CODE_ATTEMPTS = 3


@dataclass(frozen=True)
class RoomOffer:
    room_id: int
    hotel_id: int
    hotel_name: str
    room_type: RoomType
    capacity: int
    hotel_rating: Decimal | None
    nights: int
    total_price: Decimal


@dataclass(frozen=True)
class BonusEntry:
    created_at: datetime
    kind: str
    amount: int
    booking_id: int | None
    description: str | None


@dataclass(frozen=True)
class BonusStatement:
    balance: int
    entries: list[BonusEntry]


@contextmanager
def _guarded(session: Session) -> Iterator[None]:
    """A savepoint around the writes, and rule violations as typed errors."""
    with translated(), session.begin_nested():
        yield


def _nights(check_in: date, check_out: date) -> int:
    if check_out <= check_in:
        raise InvalidRequest("check-out must be after check-in")
    return (check_out - check_in).days


def search_availability(
    session: Session,
    *,
    city: str,
    check_in: date,
    check_out: date,
    guests: int,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    min_rating: Decimal | None = None,
    room_type: RoomType | None = None,
    limit: int = 50,
) -> list[RoomOffer]:
    """Rooms free for the whole stay, cheapest first, priced for those dates. The price
    range applies to the average nightly price."""
    nights = _nights(check_in, check_out)
    params: dict[str, Any] = {
        "city": city,
        "check_in": check_in,
        "check_out": check_out,
        "guests": guests,
        "nights": nights,
        "limit": limit,
    }
    filters = []
    if room_type is not None:
        filters.append("AND r.room_type = CAST(:room_type AS room_type)")
        params["room_type"] = RoomType(room_type).value
    if min_rating is not None:
        filters.append("AND h.rating >= :min_rating")
        params["min_rating"] = min_rating
    if min_price is not None:
        filters.append("AND {total} / :nights >= :min_price")
        params["min_price"] = min_price
    if max_price is not None:
        filters.append("AND {total} / :nights <= :max_price")
        params["max_price"] = max_price
    rows = session.execute(text(availability_sql(" ".join(filters))), params).all()
    return [
        RoomOffer(row[0], row[1], row[2], RoomType(row[3]), row[4], row[5], nights, row[6])
        for row in rows
    ]


def _by_idempotency_key(session: Session, key: str, request: dict[str, Any]) -> Booking | None:
    """The booking a key made, if the request is the one it made it for."""
    booking = session.scalars(select(Booking).where(Booking.idempotency_key == key)).first()
    if booking is None:
        return None
    if booking.user_id != request["user_id"]:
        raise IdempotencyKeyReused("this idempotency key belongs to another guest's request")
    services = session.scalars(
        select(BookingService.service_id).where(BookingService.booking_id == booking.id)
    ).all()
    made = {
        "user_id": booking.user_id,
        "room_id": booking.room_id,
        "check_in": booking.check_in,
        "check_out": booking.check_out,
        "guests": booking.guests,
        "service_ids": frozenset(services),
        "bonus_points": booking.bonus_points_used,
        "payment_option": booking.payment_option,
    }
    differs = sorted(k for k in made if made[k] != request[k])
    if differs:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was used for booking {booking.code} with another "
            f"{', '.join(differs)}: use a new key for a new request"
        )
    return booking


def create_booking(
    session: Session,
    *,
    user_id: int,
    room_id: int,
    check_in: date,
    check_out: date,
    guests: int,
    service_ids: Iterable[int] = (),
    bonus_points: int = 0,
    payment_option: PaymentOption | str = PaymentOption.FULL,
    idempotency_key: str | None = None,
) -> Booking:
    """Book a room: price = nightly prices + services - bonus points. The database refuses
    overlaps, over-capacity, rooms under maintenance and overspent points; a repeated
    idempotency_key returns the booking made the first time (the same request only)."""
    request: dict[str, Any] = {
        "user_id": user_id,
        "room_id": room_id,
        "check_in": check_in,
        "check_out": check_out,
        "guests": guests,
        "service_ids": frozenset(service_ids),
        "bonus_points": bonus_points,
        "payment_option": PaymentOption(payment_option),
    }
    if idempotency_key is not None:
        existing = _by_idempotency_key(session, idempotency_key, request)
        if existing is not None:
            return existing
    _nights(check_in, check_out)
    if bonus_points < 0:
        raise InvalidRequest("bonus points cannot be negative")
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(f"room {room_id} does not exist")
    stay_price = session.execute(
        text(
            f"SELECT total FROM rooms r CROSS JOIN LATERAL ({STAY_PRICE}) AS p WHERE r.id = :room"
        ),
        {"room": room_id, "check_in": check_in, "check_out": check_out},
    ).scalar_one()
    wanted = set(request["service_ids"])
    services = session.scalars(
        select(Service).where(
            Service.id.in_(wanted), Service.hotel_id == room.hotel_id, Service.active
        )
    ).all()
    if len(services) != len(wanted):
        raise NotFound("a chosen extra service is not offered by this hotel")
    price = stay_price + sum((s.price for s in services), Decimal(0)) - bonus_points
    if price < 0:
        raise InvalidRequest("bonus points cannot exceed the booking's price")
    for attempt in range(CODE_ATTEMPTS):
        booking = Booking(
            user_id=user_id,
            room_id=room_id,
            check_in=check_in,
            check_out=check_out,
            guests=guests,
            payment_option=PaymentOption(payment_option),
            total_price=price,
            bonus_points_used=bonus_points,
            idempotency_key=idempotency_key,
        )
        try:
            with _guarded(session):
                session.add(booking)
                session.flush()
                session.add_all(
                    BookingService(booking_id=booking.id, service_id=s.id, price=s.price)
                    for s in services
                )
                session.flush()
        except (IntegrityError, BookingConflict) as exc:
            # A generated code met an existing one (40 random bits): draw another.
            if _constraint_of(exc) == "uq_bookings_code" and attempt + 1 < CODE_ATTEMPTS:
                continue
            # A concurrent retry with the same key may have won the race; its commit shows
            # up here as a unique violation or as an overlap with itself: return its booking.
            winner = None
            if idempotency_key is not None:
                winner = _by_idempotency_key(session, idempotency_key, request)
            if winner is None:
                raise
            return winner
        # paid_state and balances were set by triggers: read them afresh when asked.
        session.expire(booking, ["paid_state", "updated_at"])
        return booking
    raise AssertionError("unreachable: the last attempt returns or raises")


def _constraint_of(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(getattr(orig, "diag", None), "constraint_name", None)


def _booking(session: Session, booking_id: int) -> Booking:
    booking = session.get(Booking, booking_id, populate_existing=True)
    if booking is None:
        raise NotFound(f"booking {booking_id} does not exist")
    return booking


def _payment_by_key(
    session: Session, key: str, booking_id: int, amount: Decimal, method_id: int
) -> Payment | None:
    payment = session.scalars(select(Payment).where(Payment.idempotency_key == key)).first()
    if payment is None:
        return None
    made = {"booking": payment.booking_id, "amount": payment.amount, "method": payment.method_id}
    asked = {"booking": booking_id, "amount": Decimal(amount), "method": method_id}
    differs = sorted(k for k in made if made[k] != asked[k])
    if differs:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was used for payment {payment.id} with another "
            f"{', '.join(differs)}: use a new key for a new payment"
        )
    return payment


def pay(
    session: Session,
    *,
    booking_id: int,
    amount: Decimal,
    method_id: int,
    idempotency_key: str | None = None,
) -> Payment:
    """Record a completed payment (the payment service said yes); paid_state follows. A
    repeated idempotency_key (a retry after a lost acknowledgement) returns the payment
    recorded the first time instead of charging twice."""
    if idempotency_key is not None:
        existing = _payment_by_key(session, idempotency_key, booking_id, amount, method_id)
        if existing is not None:
            return existing
    booking = _booking(session, booking_id)
    if booking.status == BookingStatus.CANCELLED:
        raise InvalidTransition(f"booking {booking.code} is cancelled and takes no payment")
    payment = Payment(
        booking_id=booking_id,
        method_id=method_id,
        amount=amount,
        status=PaymentStatus.COMPLETED,
        idempotency_key=idempotency_key,
    )
    try:
        with _guarded(session):
            session.add(payment)
            session.flush()
    except (IntegrityError, HotelRuleError):
        # A concurrent retry with the same key committed first: its payment, as a unique
        # violation or as an overpayment with itself.
        winner = None
        if idempotency_key is not None:
            winner = _payment_by_key(session, idempotency_key, booking_id, amount, method_id)
        if winner is None:
            raise
        return winner
    session.expire(booking)
    return payment


def _move(session: Session, booking_id: int, status: BookingStatus) -> Booking:
    with _guarded(session):
        moved = session.execute(
            update(Booking)
            .where(Booking.id == booking_id)
            .values(status=status)
            .returning(Booking.id)
            .execution_options(synchronize_session=False)
        ).first()
    if moved is None:
        raise NotFound(f"booking {booking_id} does not exist")
    return _booking(session, booking_id)


def confirm_booking(session: Session, *, booking_id: int) -> Booking:
    return _move(session, booking_id, BookingStatus.CONFIRMED)


def cancel_booking(session: Session, *, booking_id: int) -> Booking:
    """Cancel a pending or confirmed booking: its dates are free again, its points return."""
    return _move(session, booking_id, BookingStatus.CANCELLED)


def check_in(session: Session, *, booking_id: int) -> Booking:
    return _move(session, booking_id, BookingStatus.CHECKED_IN)


def complete_stay(session: Session, *, booking_id: int) -> Booking:
    return _move(session, booking_id, BookingStatus.COMPLETED)


def add_review(
    session: Session, *, booking_id: int, user_id: int, rating: int, comment: str | None = None
) -> Review:
    """Review a completed stay (its guest only, once); the hotel's rating follows."""
    hotel_id = session.execute(
        select(Room.hotel_id)
        .join(Booking, Booking.room_id == Room.id)
        .where(Booking.id == booking_id)
    ).scalar()
    if hotel_id is None:
        raise NotFound(f"booking {booking_id} does not exist")
    if not 1 <= rating <= 5:
        raise InvalidRequest("a rating is a whole number from 1 to 5")
    review = Review(
        booking_id=booking_id, user_id=user_id, hotel_id=hotel_id, rating=rating, comment=comment
    )
    with _guarded(session):
        session.add(review)
        session.flush()
    return review


def bonus_statement(session: Session, *, user_id: int) -> BonusStatement:
    """The guest's balance and every credit and debit, newest first."""
    account = session.scalars(select(BonusAccount).where(BonusAccount.user_id == user_id)).first()
    if account is None:
        raise NotFound("the guest is not in the loyalty programme")
    session.refresh(account)
    entries = session.scalars(
        select(BonusTransaction)
        .where(BonusTransaction.account_id == account.id)
        .order_by(BonusTransaction.id.desc())
    ).all()
    return BonusStatement(
        account.balance,
        [
            BonusEntry(e.created_at, e.kind.value, e.amount, e.booking_id, e.description)
            for e in entries
        ],
    )


T = TypeVar("T")
# serialization_failure, deadlock_detected: the database undid the whole transaction and
# says that running it again may succeed.
RETRYABLE = frozenset({"40001", "40P01"})


def run_transaction(
    new_session: Callable[[], Session],
    work: Callable[[Session], T],
    *,
    attempts: int = 3,
    backoff: float = 0.05,
) -> T:
    """Run `work` in a transaction of its own and commit; on a serialization failure or a
    deadlock run it again, at most `attempts` times in all, with jittered exponential
    backoff so the contenders do not collide again. Anything else, and the last failure,
    is raised. `work` must be safe to repeat (it is: the rolled-back attempt left nothing);
    a lost connection is not retried here: an unknown outcome needs an idempotency key."""
    for attempt in range(1, attempts + 1):
        with new_session() as session:
            try:
                with session.begin():
                    return work(session)
            except DBAPIError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                if state not in RETRYABLE or attempt == attempts:
                    raise
        time.sleep(backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))  # noqa: S311
    raise AssertionError("unreachable: the last attempt returns or raises")
