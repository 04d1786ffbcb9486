"""A small world of one hotel (two rooms, one under maintenance), a guest with a bonus
account, and a payment method; and the helpers the model tests share to act on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hotel_models import (
    BonusAccount,
    Hotel,
    Partner,
    PartnerType,
    PaymentMethod,
    Room,
    Service,
    User,
)
from hotel_models.enums import RoomStatus, RoomType


@dataclass
class World:
    hotel: Hotel
    room: Room
    closed_room: Room
    guest: User
    other_guest: User
    account: BonusAccount
    method: PaymentMethod
    breakfast: Service


def make_world(session: Session, tag: str = "") -> World:
    ptype = PartnerType(code=f"owner{tag}", name="Owner")
    session.add(ptype)
    session.flush()
    partner = Partner(
        partner_type_id=ptype.id,
        name="P",
        login=f"p{tag}",
        email=f"p{tag}@x.test",
        password_hash="h",
    )
    session.add(partner)
    session.flush()
    hotel = Hotel(partner_id=partner.id, name="Seaview", address="1 Quay", city=f"Sochi{tag}")
    session.add(hotel)
    session.flush()
    room = Room(
        hotel_id=hotel.id, number="101", room_type=RoomType.DOUBLE, capacity=2, price=Decimal(100)
    )
    closed = Room(
        hotel_id=hotel.id,
        number="102",
        room_type=RoomType.DOUBLE,
        capacity=2,
        price=Decimal(100),
        status=RoomStatus.MAINTENANCE,
    )
    breakfast = Service(hotel_id=hotel.id, name="Breakfast", price=Decimal(15))
    guests = [
        User(
            first_name="G",
            last_name=str(i),
            email=f"g{i}{tag}@x.test",
            login=f"g{i}{tag}",
            password_hash="h",
        )
        for i in range(2)
    ]
    method = PaymentMethod(code=f"card{tag}", name="Card")
    session.add_all([room, closed, breakfast, *guests, method])
    session.flush()
    account = BonusAccount(user_id=guests[0].id)
    session.add(account)
    session.flush()
    return World(hotel, room, closed, guests[0], guests[1], account, method, breakfast)


def committed_world(engine: Engine) -> World:
    """A world committed under a fresh tag, for writers on many connections (`race_engine`):
    they must see it, and many worlds share one database."""
    with Session(engine, expire_on_commit=False) as session:
        world = make_world(session, tag=uuid.uuid4().hex[:8])
        session.commit()
    return world


@contextmanager
def violates(session: Session, constraint: str) -> Iterator[None]:
    """Expect the block's SQL to be refused naming `constraint`; the session stays usable."""
    savepoint = session.begin_nested()
    try:
        yield
        session.flush()
    except DBAPIError as exc:
        savepoint.rollback()
        diag = exc.orig.diag  # type: ignore[union-attr]
        assert diag.constraint_name == constraint, diag.message_primary
    else:
        pytest.fail(f"not refused: expected a violation of {constraint}")


def as_app(session: Session) -> None:
    """Act as the service's role for the rest of the test transaction."""
    session.execute(text("SET LOCAL ROLE hotel_app"))


def insert_booking(
    session: Session, world: World, check_in: str, check_out: str, guests: int = 1, **extra: object
) -> int:
    columns = {
        "user_id": world.guest.id,
        "room_id": world.room.id,
        "check_in": check_in,
        "check_out": check_out,
        "guests": guests,
        "total_price": 100,
        **extra,
    }
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    return int(
        session.execute(
            text(f"INSERT INTO bookings ({names}) VALUES ({values}) RETURNING id"), columns
        ).scalar_one()
    )


DENIED = "42501"  # insufficient_privilege


def refused(session: Session, sql: str, sqlstate: str = DENIED) -> None:
    savepoint = session.begin_nested()
    with pytest.raises(DBAPIError) as caught:
        session.execute(text(sql))
    savepoint.rollback()
    assert caught.value.orig.sqlstate == sqlstate, caught.value  # type: ignore[attr-defined]


def unwatched_columns(session: Session, table: str, trigger: str) -> set[str]:
    """The columns of `table` that an UPDATE can set without firing `trigger` (its
    `UPDATE OF` list leaves them out): a column added to the table and not named there is
    found here."""
    return set(
        session.execute(
            text(
                "SELECT a.attname FROM pg_attribute a JOIN pg_trigger t ON t.tgrelid = a.attrelid "
                "WHERE a.attrelid = CAST(:table AS regclass) AND t.tgname = :trigger "
                "AND a.attnum > 0 AND NOT a.attisdropped AND a.attnum <> ALL(t.tgattr::int2[])"
            ),
            {"table": table, "trigger": trigger},
        ).scalars()
    )
