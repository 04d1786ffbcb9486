"""The service's idempotency key on payments: a payment retried after a lost
acknowledgement is recorded once.

Revision ID: 0020
Revises: 0019

Built like 0014's key on bookings: outside a transaction and rerunnable, the unique index
CONCURRENTLY (payments keep being written meanwhile; an INVALID leftover of a failed build
is dropped first), then the constraint adopts it under a brief lock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.add_column(
            "payments", sa.Column("idempotency_key", sa.Text(), nullable=True), if_not_exists=True
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS uq_payments_idempotency_key")
        op.execute(
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_payments_idempotency_key "
            "ON payments (idempotency_key)"
        )
    op.execute(
        "ALTER TABLE payments ADD CONSTRAINT uq_payments_idempotency_key "
        "UNIQUE USING INDEX uq_payments_idempotency_key"
    )


def downgrade() -> None:
    op.drop_constraint("uq_payments_idempotency_key", "payments", type_="unique")
    op.drop_column("payments", "idempotency_key")
