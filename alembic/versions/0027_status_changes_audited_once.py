"""A booking's status change is recorded once, in booking_status_history, instead of twice.

Revision ID: 0027
Revises: 0026

Every status change wrote two rows saying the same thing: booking_status_history (old and
new status, the role, the time: written by its trigger as the owner, never by the service)
and an audit row with the booking's whole image before and after, which differs from the one
before it only in the status (and holds_room, derived from it). 0023 kept the audit row and
stopped auditing the history; the history is what the domain, the checker and the reports
read, so it is the audit row that goes: about three status changes per booking, each an
audit row (`python -m loadtest.server_work_bench`, docs/operations.md).

- bookings.audit_update fires only for an UPDATE that sets a column the audit records
  (`UPDATE OF` every column but status, holds_room and the derived paid_state and
  updated_at), so a status change or a paid-state recomputation does not even evaluate its
  WHEN. An UPDATE that changes status and anything else is audited whole, status included.
  `tests/models/test_audit.py` fails when bookings gets a column this list does not name.
- booking_status_history is audited on DELETE: a deleted booking's history goes with it
  (ON DELETE CASCADE) and its rows reach audit_log, so the trail of statuses is never lost.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# bookings' columns an audited UPDATE sets: all but status (booking_status_history), holds_room
# (generated from status), paid_state and updated_at (derived by triggers).
AUDITED = (
    "id",
    "code",
    "user_id",
    "room_id",
    "check_in",
    "check_out",
    "guests",
    "payment_option",
    "total_price",
    "bonus_points_used",
    "created_at",
    "idempotency_key",
)
IGNORED = "ARRAY['status', 'holds_room', 'paid_state', 'updated_at']"
IGNORED_BEFORE = "ARRAY['paid_state', 'updated_at']"  # 0023's


def _audit_update(columns: str, ignored: str) -> str:
    return (
        f"CREATE TRIGGER audit_update AFTER UPDATE{columns} ON bookings FOR EACH ROW "
        f"WHEN ((to_jsonb(OLD.*) - {ignored}) IS DISTINCT FROM (to_jsonb(NEW.*) - {ignored})) "
        "EXECUTE FUNCTION audit_row('id')"
    )


def upgrade() -> None:
    op.execute("DROP TRIGGER audit_update ON bookings")
    op.execute(_audit_update(f" OF {', '.join(AUDITED)}", IGNORED))
    op.execute(
        "CREATE TRIGGER audit AFTER DELETE ON booking_status_history "
        "FOR EACH ROW EXECUTE FUNCTION audit_row('id')"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit ON booking_status_history")
    op.execute("DROP TRIGGER audit_update ON bookings")
    op.execute(_audit_update("", IGNORED_BEFORE))
