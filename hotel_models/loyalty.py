"""The loyalty programme: one bonus account per guest and its ledger of signed entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    Text,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotel_models.base import Base, IdMixin, pg_enum
from hotel_models.enums import BonusKind


class BonusAccount(IdMixin, Base):
    __tablename__ = "bonus_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="nonnegative_balance"),)

    # RESTRICT: a ledger is a financial record; the guest is anonymised, not deleted.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BonusTransaction(IdMixin, Base):
    __tablename__ = "bonus_transactions"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero_amount"),
        Index(None, "account_id", "created_at"),
        Index(None, "booking_id"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("bonus_accounts.id", ondelete="RESTRICT"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: credits > 0, debits < 0
    kind: Mapped[BonusKind] = mapped_column(pg_enum(BonusKind, "bonus_kind"))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class LoyaltyConfig(Base):
    """The programme's settings, one row: the database's triggers read the earn rate here."""

    __tablename__ = "loyalty_config"
    __table_args__ = (
        CheckConstraint("id", name="single_row"),
        CheckConstraint("earn_percent BETWEEN 0 AND 100", name="percent_range"),
    )

    id: Mapped[bool] = mapped_column(primary_key=True, server_default=true())
    # Points credited per 100 currency units of a fully paid booking.
    earn_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), server_default=text("5"))
