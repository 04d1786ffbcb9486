"""Bookings, the services added to them, their status history and payments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotel_models.base import Base, CreatedMixin, IdMixin, pg_enum
from hotel_models.enums import BookingStatus, PaidState, PaymentOption, PaymentStatus

if TYPE_CHECKING:
    from hotel_models.guests import User
    from hotel_models.rooms import Room

booking_status = pg_enum(BookingStatus, "booking_status")


class Booking(IdMixin, CreatedMixin, Base):
    """A stay of [check_in, check_out) in one room. Users and rooms with bookings cannot be
    deleted (RESTRICT): the booking is the business record."""

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("check_out > check_in", name="valid_stay"),
        CheckConstraint("guests >= 1", name="positive_guests"),
        CheckConstraint("total_price >= 0", name="nonnegative_total"),
        CheckConstraint("bonus_points_used >= 0", name="nonnegative_points"),
        Index(None, "room_id", "check_in"),
        Index("ix_bookings_user_id_id", "user_id", "id"),
    )

    code: Mapped[str] = mapped_column(Text, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="RESTRICT"))
    check_in: Mapped[date]
    check_out: Mapped[date]
    guests: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[BookingStatus] = mapped_column(
        booking_status, server_default=BookingStatus.PENDING.value
    )
    payment_option: Mapped[PaymentOption] = mapped_column(
        pg_enum(PaymentOption, "payment_option"), server_default=PaymentOption.FULL.value
    )
    paid_state: Mapped[PaidState] = mapped_column(
        pg_enum(PaidState, "paid_state"), server_default=PaidState.UNPAID.value
    )
    total_price: Mapped[Decimal]
    bonus_points_used: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    user: Mapped[User] = relationship(lazy="raise")
    room: Mapped[Room] = relationship(lazy="raise")
    payments: Mapped[list[Payment]] = relationship(back_populates="booking", lazy="raise")


class BookingService(Base):
    """An extra service on a booking, priced at booking time (later price changes don't apply)."""

    __tablename__ = "booking_services"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="positive_quantity"),
        CheckConstraint("price >= 0", name="nonnegative_price"),
        Index(None, "service_id"),
    )

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    # RESTRICT: a sold service is retired (services.active), not deleted.
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    price: Mapped[Decimal]


class BookingStatusHistory(IdMixin, Base):
    __tablename__ = "booking_status_history"
    __table_args__ = (Index(None, "booking_id", "changed_at"),)

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    old_status: Mapped[BookingStatus | None] = mapped_column(booking_status)
    new_status: Mapped[BookingStatus] = mapped_column(booking_status)
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    changed_by: Mapped[str] = mapped_column(Text, server_default=func.current_user())


class Payment(IdMixin, CreatedMixin, Base):
    """Money moves only forward: a refund is a payment in status refunded, never a deletion."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive_amount"),
        Index(None, "booking_id"),
        Index(
            "ix_payments_booking_id_completed",
            "booking_id",
            postgresql_include=["amount"],
            postgresql_where=text("status = 'completed'"),
        ),
    )

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="RESTRICT"))
    method_id: Mapped[int] = mapped_column(ForeignKey("payment_methods.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal]
    status: Mapped[PaymentStatus] = mapped_column(
        pg_enum(PaymentStatus, "payment_status"), server_default=PaymentStatus.PENDING.value
    )

    booking: Mapped[Booking] = relationship(back_populates="payments", lazy="raise")
