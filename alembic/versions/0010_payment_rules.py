"""Money rules: completed payments never exceed the booking's price, paid_state follows the
payments, and payments are never deleted (a refund is a payment in status refunded).

Revision ID: 0010
Revises: 0009

The booking row is locked before the sum is read, so concurrent payments of one booking
are checked one after the other, each seeing the ones committed before it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAID_STATE = """
CREATE FUNCTION booking_paid_state(booking bigint, total numeric) RETURNS paid_state
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
DECLARE
  paid numeric := (SELECT coalesce(sum(amount), 0) FROM payments
                   WHERE booking_id = booking AND status = 'completed');
BEGIN
  IF paid > total THEN
    RAISE EXCEPTION 'payments of % exceed the booking''s price of %', paid, total
      USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_within_total';
  END IF;
  RETURN CASE WHEN paid >= total THEN 'paid' WHEN paid = 0 THEN 'unpaid'
              ELSE 'partially_paid' END;
END $$"""

# Derived, never written: whatever a client sets, paid_state is what the payments say.
BOOKINGS_PAID_STATE = """
CREATE FUNCTION bookings_paid_state() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  NEW.paid_state := booking_paid_state(NEW.id, NEW.total_price);
  RETURN NEW;
END $$"""

GUARD = """
CREATE FUNCTION payments_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  total numeric;
  paid numeric;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'payments are never deleted: record a refund instead'
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'payments_append_only';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF (NEW.booking_id, NEW.amount, NEW.method_id) IS DISTINCT FROM
       (OLD.booking_id, OLD.amount, OLD.method_id) THEN
      RAISE EXCEPTION 'a payment''s booking, amount and method never change'
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'payments_append_only';
    END IF;
    IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
         ('pending', 'completed'), ('pending', 'failed'), ('completed', 'refunded')) THEN
      RAISE EXCEPTION 'a payment cannot go from % to %', OLD.status, NEW.status
        USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_status_transition';
    END IF;
  END IF;
  IF NEW.status = 'completed' THEN
    SELECT total_price INTO total FROM bookings WHERE id = NEW.booking_id FOR NO KEY UPDATE;
    SELECT coalesce(sum(amount), 0) INTO paid FROM payments
    WHERE booking_id = NEW.booking_id AND status = 'completed' AND id <> NEW.id;
    IF paid + NEW.amount > total THEN
      RAISE EXCEPTION 'payment of % would bring the booking to % of its % price',
        NEW.amount, paid + NEW.amount, total
        USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_within_total';
    END IF;
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$"""

FOLLOW = """
CREATE FUNCTION payments_paid_state() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE bookings SET paid_state = booking_paid_state(id, total_price)
  WHERE id = NEW.booking_id AND paid_state <> booking_paid_state(id, total_price);
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.execute(PAID_STATE)
    op.execute(BOOKINGS_PAID_STATE)
    op.execute(
        "CREATE TRIGGER bookings_paid_state BEFORE INSERT OR UPDATE OF paid_state, total_price "
        "ON bookings FOR EACH ROW EXECUTE FUNCTION bookings_paid_state()"
    )
    op.execute(GUARD)
    op.execute(
        "CREATE TRIGGER payments_guard BEFORE INSERT OR UPDATE OR DELETE ON payments "
        "FOR EACH ROW EXECUTE FUNCTION payments_guard()"
    )
    op.execute(FOLLOW)
    op.execute(
        "CREATE TRIGGER payments_paid_state AFTER INSERT OR UPDATE OF status ON payments "
        "FOR EACH ROW EXECUTE FUNCTION payments_paid_state()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER payments_paid_state ON payments")
    op.execute("DROP FUNCTION payments_paid_state()")
    op.execute("DROP TRIGGER payments_guard ON payments")
    op.execute("DROP FUNCTION payments_guard()")
    op.execute("DROP TRIGGER bookings_paid_state ON bookings")
    op.execute("DROP FUNCTION bookings_paid_state()")
    op.execute("DROP FUNCTION booking_paid_state(bigint, numeric)")
