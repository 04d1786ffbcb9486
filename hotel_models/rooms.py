"""Rooms with their facilities, seasonal rates, and the extra services a hotel sells."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotel_models.base import Base, CreatedMixin, IdMixin, pg_enum
from hotel_models.enums import RateKind, RoomStatus, RoomType
from hotel_models.partners import Hotel


class Room(IdMixin, CreatedMixin, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("hotel_id", "number"),
        CheckConstraint("capacity >= 1", name="positive_capacity"),
        CheckConstraint("price >= 0", name="nonnegative_price"),
        Index(
            "ix_rooms_hotel_id_price_desc",
            "hotel_id",
            text("price DESC"),
            postgresql_include=["id"],
        ),
        Index(
            "ix_rooms_price_capacity_desc",
            "price",
            text("capacity DESC"),
            postgresql_include=["hotel_id"],
        ),
        # The availability search: a city's free rooms walked cheapest first, index-only.
        Index(
            "ix_rooms_city_available_price",
            "city",
            "price",
            "id",
            postgresql_include=["hotel_id", "capacity", "room_type"],
            postgresql_where=text("status = 'available'"),
        ),
    )

    # CASCADE: a hotel's rooms go with it; bookings (RESTRICT on room) stop that when
    # there is history to keep.
    hotel_id: Mapped[int] = mapped_column(ForeignKey("hotels.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(Text)
    room_type: Mapped[RoomType] = mapped_column(pg_enum(RoomType, "room_type"))
    capacity: Mapped[int] = mapped_column(SmallInteger)
    price: Mapped[Decimal]  # base nightly price
    status: Mapped[RoomStatus] = mapped_column(
        pg_enum(RoomStatus, "room_status"), server_default=RoomStatus.AVAILABLE.value
    )
    description: Mapped[str | None] = mapped_column(Text)
    # The hotel's city, set by the database whatever is written (revision 0024).
    city: Mapped[str] = mapped_column(Text, server_default=FetchedValue())

    hotel: Mapped[Hotel] = relationship(lazy="raise")
    rates: Mapped[list[RoomRate]] = relationship(back_populates="room", lazy="raise")
    facilities: Mapped[list[Facility]] = relationship(secondary="room_facilities", lazy="raise")


class RoomRate(IdMixin, Base):
    """A seasonal offer or discount: the nightly price for nights in [starts_on, ends_on)."""

    __tablename__ = "room_rates"
    __table_args__ = (
        CheckConstraint("ends_on > starts_on", name="valid_period"),
        CheckConstraint("price >= 0", name="nonnegative_price"),
        Index(None, "room_id", "starts_on"),
        # The rates inside a stay, among all rooms' (availability search).
        Index(
            "ix_room_rates_stay",
            text("daterange(starts_on, ends_on, '[)')"),
            postgresql_using="gist",
        ),
    )

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    kind: Mapped[RateKind] = mapped_column(pg_enum(RateKind, "rate_kind"))
    name: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    price: Mapped[Decimal]

    room: Mapped[Room] = relationship(back_populates="rates", lazy="raise")


class Facility(IdMixin, Base):
    __tablename__ = "facilities"

    name: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class RoomFacility(Base):
    __tablename__ = "room_facilities"
    __table_args__ = (Index(None, "facility_id"),)

    room_id: Mapped[int] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facilities.id", ondelete="CASCADE"), primary_key=True
    )


class Service(IdMixin, CreatedMixin, Base):
    """An extra service a hotel sells (breakfast, transfer...). Retired, never deleted once sold."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("hotel_id", "name"),
        CheckConstraint("price >= 0", name="nonnegative_price"),
    )

    hotel_id: Mapped[int] = mapped_column(ForeignKey("hotels.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal]
    active: Mapped[bool] = mapped_column(server_default=true())

    hotel: Mapped[Hotel] = relationship(lazy="raise")
