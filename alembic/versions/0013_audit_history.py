"""Audit history: every INSERT/UPDATE/DELETE on a business table lands in audit_log.

Revision ID: 0013
Revises: 0012

One generic trigger function, SECURITY DEFINER owned by hotel_owner: it can write
audit_log, the roles it runs for cannot (0006 grants hotel_app nothing on audit_log). It
records the acting role (invoking_role(), not current_user, which is the owner here). The
trigger arguments name each table's primary key columns for row_pk.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: table -> primary key columns, as of this revision.
AUDITED = {
    "partner_types": ("id",),
    "partners": ("id",),
    "hotels": ("id",),
    "amenities": ("id",),
    "hotel_amenities": ("hotel_id", "amenity_id"),
    "users": ("id",),
    "payment_methods": ("id",),
    "user_payment_methods": ("id",),
    "rooms": ("id",),
    "room_rates": ("id",),
    "facilities": ("id",),
    "room_facilities": ("room_id", "facility_id"),
    "services": ("id",),
    "bookings": ("id",),
    "booking_services": ("booking_id", "service_id"),
    "booking_status_history": ("id",),
    "payments": ("id",),
    "bonus_accounts": ("id",),
    "bonus_transactions": ("id",),
    "reviews": ("id",),
    "loyalty_config": ("id",),
}

AUDIT_ROW = """
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  old_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
  new_image jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
  INSERT INTO audit_log (table_name, operation, row_pk, old_row, new_row, db_role)
  VALUES (TG_TABLE_NAME, TG_OP::audit_operation,
          (SELECT jsonb_object_agg(k, coalesce(new_image, old_image) -> k)
           FROM unnest(TG_ARGV) AS k),
          old_image, new_image, invoking_role());
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.execute(AUDIT_ROW)
    op.execute("ALTER FUNCTION audit_row() OWNER TO hotel_owner")
    op.execute("REVOKE EXECUTE ON FUNCTION audit_row() FROM PUBLIC")
    for table, key in AUDITED.items():
        args = ", ".join(f"'{column}'" for column in key)
        op.execute(
            f"CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_row({args})"
        )


def downgrade() -> None:
    for table in reversed(AUDITED):
        op.execute(f"DROP TRIGGER audit ON {table}")
    op.execute("DROP FUNCTION audit_row()")
