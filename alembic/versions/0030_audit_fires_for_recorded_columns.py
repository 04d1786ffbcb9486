"""The hotels and bonus_accounts audits fire only for an UPDATE that sets a column they record.

Revision ID: 0030
Revises: 0029

A review's rating recomputation (`UPDATE hotels SET rating = rating`, 0028) and a ledger
entry's balance update (0011) fired the audit_update trigger of their table, which evaluated
its WHEN (two row images as JSON, compared without the derived column) only to skip the row.
As for bookings (0027), the trigger now names the columns it records (`UPDATE OF`): a
derived-only update does not fire it. The WHEN stays, so an UPDATE that sets a recorded
column to its own value is still not audited. `tests/models/test_audit.py` fails when either
table gets a column the trigger does not name.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (the columns an audited UPDATE sets, the derived ones the WHEN leaves out)
AUDITED = {
    "hotels": (
        (
            "id",
            "partner_id",
            "name",
            "address",
            "city",
            "phone",
            "email",
            "description",
            "stars",
            "created_at",
        ),
        "'rating'",
    ),
    "bonus_accounts": (("id", "user_id", "created_at"), "ARRAY['balance', 'updated_at']"),
}


def _audit_update(table: str, columns: str, derived: str) -> None:
    op.execute(f"DROP TRIGGER audit_update ON {table}")
    op.execute(
        f"CREATE TRIGGER audit_update AFTER UPDATE{columns} ON {table} FOR EACH ROW "
        f"WHEN ((to_jsonb(OLD.*) - {derived}) IS DISTINCT FROM (to_jsonb(NEW.*) - {derived})) "
        "EXECUTE FUNCTION audit_row('id')"
    )


def upgrade() -> None:
    for table, (columns, derived) in AUDITED.items():
        _audit_update(table, f" OF {', '.join(columns)}", derived)


def downgrade() -> None:
    for table, (_, derived) in AUDITED.items():
        _audit_update(table, "", derived)
