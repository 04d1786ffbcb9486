"""What each guest has paid, kept by the database: the top-spenders report without a join
of every payment to its booking.

Revision ID: 0017
Revises: 0016

`analytic_top_spenders` (the earlier system's "top 20 spenders by completed payments")
joined 1M completed payments to their bookings and grouped them by guest: about 0.9 s on
the large seed, the heaviest statement of the default mix (half the database's execution
time). No index removes that join, so its result is kept instead, exactly, by triggers:
- guest_spending.completed = the sum of the guest's completed payments, moved by every
  payment that completes or is refunded, and by a booking that changes hands;
- written only by the trigger functions (SECURITY DEFINER, owned by hotel_owner):
  hotel_app reads it and cannot write it, like booking_status_history;
- not audited: it is derived from payments, which are.
No index beside the key: the report reads 200k small rows, and unindexed updates stay HOT.

The backfill runs after the triggers exist, in the same transaction: CREATE TRIGGER holds
payments and bookings against writes until the commit, so no payment is missed or counted
twice (on the large seed the upgrade takes about 2 s, during which payments wait).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# UPDATE first: INSERT ... ON CONFLICT checks the CHECK constraint on the row it proposes,
# so a refund (negative delta) must never be proposed as a new row.
ADD = """
CREATE FUNCTION guest_spending_add(guest bigint, delta numeric) RETURNS void
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE guest_spending SET completed = completed + delta, updated_at = now()
  WHERE user_id = guest;
  IF NOT FOUND THEN
    INSERT INTO guest_spending AS g (user_id, completed) VALUES (guest, delta)
    ON CONFLICT (user_id) DO UPDATE
    SET completed = g.completed + EXCLUDED.completed, updated_at = now();
  END IF;
END $$"""

# A payment's booking and amount never change (payments_guard); its status may.
PAYMENTS = """
CREATE FUNCTION payments_guest_spending() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  delta numeric := CASE WHEN NEW.status = 'completed' THEN NEW.amount ELSE 0 END
                 - CASE WHEN TG_OP = 'UPDATE' AND OLD.status = 'completed'
                        THEN OLD.amount ELSE 0 END;
BEGIN
  IF delta <> 0 THEN
    PERFORM guest_spending_add(b.user_id, delta) FROM bookings b WHERE b.id = NEW.booking_id;
  END IF;
  RETURN NULL;
END $$"""

BOOKINGS = """
CREATE FUNCTION bookings_guest_spending() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  paid numeric := (SELECT coalesce(sum(amount), 0) FROM payments
                   WHERE booking_id = NEW.id AND status = 'completed');
BEGIN
  IF paid <> 0 THEN
    PERFORM guest_spending_add(OLD.user_id, -paid);
    PERFORM guest_spending_add(NEW.user_id, paid);
  END IF;
  RETURN NULL;
END $$"""

BACKFILL = """
INSERT INTO guest_spending (user_id, completed)
SELECT b.user_id, sum(p.amount) FROM payments p JOIN bookings b ON b.id = p.booking_id
WHERE p.status = 'completed' GROUP BY b.user_id"""

FUNCTIONS = {
    "guest_spending_add(bigint, numeric)": ADD,
    "payments_guest_spending()": PAYMENTS,
    "bookings_guest_spending()": BOOKINGS,
}


def upgrade() -> None:
    op.create_table(
        "guest_spending",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "completed",
            sa.Numeric(precision=12, scale=2),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("completed >= 0", name=op.f("ck_guest_spending_nonnegative_completed")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_guest_spending_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_guest_spending")),
    )
    op.execute("GRANT SELECT ON guest_spending TO hotel_app")
    for signature, definition in FUNCTIONS.items():
        op.execute(definition)
        op.execute(f"ALTER FUNCTION {signature} OWNER TO hotel_owner")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER payments_guest_spending AFTER INSERT OR UPDATE OF status ON payments "
        "FOR EACH ROW EXECUTE FUNCTION payments_guest_spending()"
    )
    op.execute(
        "CREATE TRIGGER bookings_guest_spending AFTER UPDATE OF user_id ON bookings "
        "FOR EACH ROW WHEN (NEW.user_id <> OLD.user_id) "
        "EXECUTE FUNCTION bookings_guest_spending()"
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_guest_spending ON bookings")
    op.execute("DROP TRIGGER payments_guest_spending ON payments")
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_table("guest_spending")
