"""No double booking: live bookings of one room never overlap, checked by PostgreSQL itself.

Revision ID: 0008
Revises: 0007

Stays are half-open [check_in, check_out), so back-to-back stays do not overlap, and a
cancelled booking frees its dates. The exclusion constraint is also what makes concurrent
bookings of the same dates safe: the second inserter waits for the first and then fails.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk findings this revision accepts, each with its reason (see deploy/migrate/lint.py).
squawk_waivers = {
    "constraint-missing-not-valid": "EXCLUDE constraints cannot be added NOT VALID; building "
    "their GiST index is the validation, so on a large live table run this in a quiet window",
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION btree_gist WITH SCHEMA public")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        "(room_id WITH =, daterange(check_in, check_out, '[)') WITH &&) "
        "WHERE (status <> 'cancelled')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")
    op.execute("DROP EXTENSION btree_gist")
