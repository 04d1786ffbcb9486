"""Guests (users) and the payment methods they keep on file."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from hotel_models.base import AccountMixin, Base, CreatedMixin, IdMixin


class User(IdMixin, AccountMixin, CreatedMixin, Base):
    __tablename__ = "users"

    first_name: Mapped[str] = mapped_column(Text)
    last_name: Mapped[str] = mapped_column(Text)


class PaymentMethod(IdMixin, Base):
    __tablename__ = "payment_methods"

    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)


class UserPaymentMethod(IdMixin, CreatedMixin, Base):
    __tablename__ = "user_payment_methods"
    __table_args__ = (Index(None, "user_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    method_id: Mapped[int] = mapped_column(ForeignKey("payment_methods.id", ondelete="RESTRICT"))
    # Masked details only (last four digits, wallet id): never a full card number.
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    is_default: Mapped[bool] = mapped_column(server_default=false())
