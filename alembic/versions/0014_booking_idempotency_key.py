"""The service's idempotency key on bookings: a retried create_booking finds its booking.

Revision ID: 0014
Revises: 0013

Runs outside a transaction and can be rerun after a failure part-way: the unique index is
built CONCURRENTLY (bookings keep being written meanwhile; an INVALID leftover of a failed
build is dropped first), then the constraint adopts it under a brief lock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.add_column(
            "bookings", sa.Column("idempotency_key", sa.Text(), nullable=True), if_not_exists=True
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS uq_bookings_idempotency_key")
        op.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_bookings_idempotency_key "
            "ON bookings (idempotency_key)"
        )
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT uq_bookings_idempotency_key "
        "UNIQUE USING INDEX uq_bookings_idempotency_key"
    )


def downgrade() -> None:
    op.drop_constraint("uq_bookings_idempotency_key", "bookings", type_="unique")
    op.drop_column("bookings", "idempotency_key")
