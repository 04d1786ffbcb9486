"""The audit history: every write to a business table, as old and new row images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from hotel_models.base import Base, IdMixin, pg_enum
from hotel_models.enums import AuditOperation


class AuditLog(IdMixin, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "table_name", "changed_at"),)

    table_name: Mapped[str] = mapped_column(Text)
    operation: Mapped[AuditOperation] = mapped_column(pg_enum(AuditOperation, "audit_operation"))
    row_pk: Mapped[dict[str, Any]]
    old_row: Mapped[dict[str, Any] | None]
    new_row: Mapped[dict[str, Any] | None]
    db_role: Mapped[str] = mapped_column(Text, server_default=func.current_user())
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    txid: Mapped[int] = mapped_column(BigInteger, server_default=func.txid_current())
