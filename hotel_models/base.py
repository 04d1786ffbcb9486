"""The declarative base: one naming convention, one type map, small mixins."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Enum, Identity, MetaData, Numeric, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic names for every constraint and index, so migrations can refer to them and
# the round-trip proof compares like with like. CHECK names stay short ("positive_price"):
# the convention adds the table prefix.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        date: Date(),
        Decimal: Money,
        dict[str, Any]: JSONB,
    }


def pg_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A named PostgreSQL enum storing the members' values (lowercase words), not their names."""
    return Enum(
        enum_class,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class IdMixin:
    """A bigint identity key: no sequence default to keep in sync, COPY-friendly."""

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), primary_key=True, sort_order=-1
    )


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), sort_order=99)


class AccountMixin:
    """A login of its own: guests and partners are separate accounts with the same shape.
    The password is hashed by the service (argon2/bcrypt); the database never sees it plain."""

    login: Mapped[str] = mapped_column(Text, unique=True)
    email: Mapped[str] = mapped_column(Text, unique=True)
    phone: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
