"""What `hotel adopt` keeps beside the adopted data: the rows of the earlier system that did
not fit, each with the rule it broke, and the old ids that could not stay the same."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from hotel_models.base import Base, IdMixin


class AdoptionQuarantine(IdMixin, Base):
    __tablename__ = "adoption_quarantine"
    __table_args__ = (Index(None, "source_table", "reason"),)

    source_table: Mapped[str] = mapped_column(Text)  # the earlier table's name
    old_id: Mapped[int | None] = mapped_column(BigInteger)  # None for the pair tables
    reason: Mapped[str] = mapped_column(Text)  # a rule name, see docs/operations.md
    detail: Mapped[str | None] = mapped_column(Text)
    old_row: Mapped[dict[str, Any]]
    adopted_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AdoptionIdMap(Base):
    """Old ids that map to other ids: an earlier extra service (no hotel) became one service
    per hotel that sold it. Every other adopted row keeps its old id."""

    __tablename__ = "adoption_id_map"
    __table_args__ = (Index(None, "source_table", "new_id"),)

    source_table: Mapped[str] = mapped_column(Text, primary_key=True)
    old_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    new_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
