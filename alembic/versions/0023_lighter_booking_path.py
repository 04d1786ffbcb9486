"""A lighter booking path: fewer audit rows for what the database derives, and the loyalty
trigger called only when it has something to do.

Revision ID: 0023
Revises: 0022

Measured by `python -m loadtest.server_work_bench`: a guest's booking journey wrote about
13 audit rows per booking, almost half of them for rows the database itself derives from an
audited write, each repeating what that write's audit row already says:
- booking_status_history: written only by the status trigger (hotel_app cannot write it),
  one row per booking insert or status change, whose audit row carries the old and new
  status, the role, the time and the transaction. Not audited any more, like guest_spending.
- bookings, an UPDATE that changes nothing but paid_state and updated_at: the payment
  trigger's recomputation (paid_state is derived: the BEFORE trigger recomputes it from the
  payments whatever a client writes), following an audited payment.
- bonus_accounts, an UPDATE that changes nothing but balance and updated_at: the ledger's own
  update (only hotel_owner may change a balance), following an audited ledger entry.
Every other write is audited as before, by the same function (an UPDATE of a booking's
guests, dates or status; any change of a hotel, its rating included).

audit_row() no longer calls strip_secrets() per image (a SQL function with its own
search_path, never inlined): the secret columns, by the same pattern, are read once per row
from the catalog and subtracted in place; one added later is still stripped.

bookings_loyalty ran on every status and paid_state change (a bonus-account lookup each
time, about five per booking): its WHEN now admits only what it acts on, points spent at
insert, the first time a booking is paid, a cancellation returning points.
"""

from collections.abc import Sequence

from alembic import op

from hotel_models import roles

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table -> the columns the database derives: an UPDATE changing only those is not audited.
DERIVED = {
    "bookings": ("paid_state", "updated_at"),
    "bonus_accounts": ("balance", "updated_at"),
}

SECRET = roles.quote_literal(roles.SECRET_COLUMN)

# 0019's audit_row() stripped secret columns by calling strip_secrets() on every image: a
# SQL function with its own search_path, never inlined (about a tenth of a booking's server
# time). The same columns, by the same pattern, are now read once per row from the catalog
# and subtracted in place; a secret column added later is still stripped.
AUDIT_ROW = """
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  {declare}
  old_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN {old} END;
  new_image jsonb := CASE WHEN TG_OP <> 'DELETE' THEN {new} END;
BEGIN
  INSERT INTO audit_log (table_name, operation, row_pk, old_row, new_row, db_role)
  VALUES (TG_TABLE_NAME, TG_OP::audit_operation,
          (SELECT jsonb_object_agg(k, coalesce(new_image, old_image) -> k)
           FROM unnest(TG_ARGV) AS k),
          old_image, new_image, invoking_role());
  RETURN NULL;
END $$"""
STRIPPED_IN_PLACE = AUDIT_ROW.format(
    declare=f"secret text[] := ARRAY(SELECT attname::text FROM pg_attribute "
    f"WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped AND attname ~ {SECRET});",
    old="to_jsonb(OLD) - secret",
    new="to_jsonb(NEW) - secret",
)
STRIPPED_BY_CALL = AUDIT_ROW.format(  # 0019's
    declare="",
    old="strip_secrets(to_jsonb(OLD))",
    new="strip_secrets(to_jsonb(NEW))",
).replace("DECLARE\n  \n", "DECLARE\n")

LOYALTY_UPDATE = (
    "(NEW.paid_state = 'paid' AND OLD.paid_state <> 'paid') "
    "OR (NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.bonus_points_used > 0)"
)


def _all_audited(table: str) -> str:
    return (
        f"CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_row('id')"
    )


def upgrade() -> None:
    op.execute(STRIPPED_IN_PLACE)
    op.execute("DROP TRIGGER audit ON booking_status_history")
    for table, columns in DERIVED.items():
        derived = ", ".join(f"'{column}'" for column in columns)
        op.execute(f"DROP TRIGGER audit ON {table}")
        op.execute(
            f"CREATE TRIGGER audit AFTER INSERT OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_row('id')"
        )
        op.execute(
            f"CREATE TRIGGER audit_update AFTER UPDATE ON {table} FOR EACH ROW "
            f"WHEN ((to_jsonb(OLD.*) - ARRAY[{derived}]) "
            f"IS DISTINCT FROM (to_jsonb(NEW.*) - ARRAY[{derived}])) "
            "EXECUTE FUNCTION audit_row('id')"
        )
    op.execute("DROP TRIGGER bookings_loyalty ON bookings")
    op.execute(
        "CREATE TRIGGER bookings_loyalty AFTER INSERT ON bookings FOR EACH ROW "
        "WHEN (NEW.bonus_points_used > 0) EXECUTE FUNCTION bookings_loyalty()"
    )
    op.execute(
        "CREATE TRIGGER bookings_loyalty_update AFTER UPDATE OF status, paid_state ON bookings "
        f"FOR EACH ROW WHEN ({LOYALTY_UPDATE}) EXECUTE FUNCTION bookings_loyalty()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_loyalty_update ON bookings")
    op.execute("DROP TRIGGER bookings_loyalty ON bookings")
    op.execute(
        "CREATE TRIGGER bookings_loyalty AFTER INSERT OR UPDATE OF status, paid_state "
        "ON bookings FOR EACH ROW EXECUTE FUNCTION bookings_loyalty()"
    )
    for table in reversed(DERIVED):
        op.execute(f"DROP TRIGGER audit_update ON {table}")
        op.execute(f"DROP TRIGGER audit ON {table}")
        op.execute(_all_audited(table))
    op.execute(_all_audited("booking_status_history"))
    op.execute(STRIPPED_BY_CALL)
