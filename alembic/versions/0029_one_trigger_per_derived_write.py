"""Rows derived from one write are written by one trigger, in one statement.

Revision ID: 0029
Revises: 0028

Every trigger a write fires costs a call, and every statement a trigger runs costs an
executor start-up, whatever the row. On the booking path most of the server's time is spent
there (`python -m loadtest.server_work_bench`, docs/operations.md). Same rules, same rows:
- A booking's insert or status change wrote its history row and its status-rollup rows from
  two triggers (bookings_status_history, booking_status_rollup[_update]). bookings_status_changed
  writes both in one statement; booking_status_rollup stays for DELETE.
- A completed payment's insert updated the guest's spending (payments_guest_spending, through
  guest_spending_add) and the revenue rollup (revenue_rollup_insert) from two triggers, each
  looking the booking up. payments_completed does both in one statement. A payment's status
  change keeps the two triggers (refunds: the spending can go down).
- A payment's paid-state recomputation computed the state three times (the UPDATE's SET and
  WHERE, then bookings_paid_state, which sets it whatever the UPDATE wrote). It names the
  column now: twice.
- bookings_guard fires for an UPDATE that sets a column it guards or stamps: every column but
  paid_state (and holds_room, generated). bookings_paid_state stamps updated_at on a
  paid-state recomputation. `tests/models/test_booking_rules.py` fails when bookings gets a
  column the guard does not name.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
squawk_waivers = {
    "ban-drop-function": "bookings_status_history() is a trigger function no client may call "
    "(EXECUTE revoked from PUBLIC); its trigger is dropped in the same transaction",
}

STATUS_CHANGED = """
CREATE FUNCTION bookings_status_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    WITH history AS (
      INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by)
      VALUES (NEW.id, NULL, NEW.status, invoking_role()))
    INSERT INTO booking_status_rollup (status, bookings, total_price)
    VALUES (NEW.status, 1, NEW.total_price);
  ELSIF NEW.status <> OLD.status THEN
    WITH history AS (
      INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by)
      VALUES (NEW.id, OLD.status, NEW.status, invoking_role()))
    INSERT INTO booking_status_rollup (status, bookings, total_price)
    VALUES (OLD.status, -1, -OLD.total_price), (NEW.status, 1, NEW.total_price);
  ELSE  -- the price alone
    INSERT INTO booking_status_rollup (status, bookings, total_price)
    VALUES (OLD.status, -1, -OLD.total_price), (NEW.status, 1, NEW.total_price);
  END IF;
  RETURN NULL;
END $$"""
STATUS_CHANGED_TRIGGERS = (
    "CREATE TRIGGER bookings_status_changed AFTER INSERT ON bookings "
    "FOR EACH ROW EXECUTE FUNCTION bookings_status_changed()",
    "CREATE TRIGGER bookings_status_changed_update AFTER UPDATE OF status, total_price "
    "ON bookings FOR EACH ROW "
    "WHEN (OLD.status <> NEW.status OR OLD.total_price <> NEW.total_price) "
    "EXECUTE FUNCTION bookings_status_changed()",
)

# The amount is positive (ck_payments_positive_amount), so the guest's row may be proposed
# as a new one: ON CONFLICT checks the row it proposes against completed >= 0.
COMPLETED = """
CREATE FUNCTION payments_completed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
    WHERE b.id = NEW.booking_id FOR SHARE;
  END IF;
  WITH booking AS (
    SELECT b.user_id, h.city FROM bookings b JOIN rooms r ON r.id = b.room_id
    JOIN hotels h ON h.id = r.hotel_id WHERE b.id = NEW.booking_id),
  spending AS (
    INSERT INTO guest_spending AS g (user_id, completed) SELECT user_id, NEW.amount FROM booking
    ON CONFLICT (user_id) DO UPDATE
    SET completed = g.completed + EXCLUDED.completed, updated_at = now())
  INSERT INTO revenue_rollup (city, day, payments, amount)
  SELECT city, (NEW.created_at AT TIME ZONE 'UTC')::date, 1, NEW.amount FROM booking;
  RETURN NULL;
END $$"""

PAYMENTS_PAID_STATE = """
CREATE OR REPLACE FUNCTION payments_paid_state() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE bookings SET paid_state = {value}
  WHERE id = NEW.booking_id AND paid_state <> booking_paid_state(id, total_price);
  RETURN NULL;
END $$"""
BOOKINGS_PAID_STATE = """
CREATE OR REPLACE FUNCTION bookings_paid_state() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  NEW.paid_state := booking_paid_state(NEW.id, NEW.total_price);{stamp}
  RETURN NEW;
END $$"""
STAMP = """
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := now();
  END IF;"""
# bookings' columns an UPDATE sets for bookings_guard: all but paid_state (bookings_paid_state)
# and holds_room (generated from status).
GUARDED = (
    "id",
    "code",
    "user_id",
    "room_id",
    "check_in",
    "check_out",
    "guests",
    "status",
    "payment_option",
    "total_price",
    "bonus_points_used",
    "updated_at",
    "created_at",
    "idempotency_key",
)

# What the downgrade restores: 0009's history trigger, 0017's and 0021's payment triggers.
HISTORY = """
CREATE FUNCTION bookings_status_history() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by)
    VALUES (NEW.id, NULL, NEW.status, invoking_role());
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by)
    VALUES (NEW.id, OLD.status, NEW.status, invoking_role());
  END IF;
  RETURN NULL;
END $$"""
BEFORE_TRIGGERS = (
    "CREATE TRIGGER bookings_status_history AFTER INSERT OR UPDATE OF status ON bookings "
    "FOR EACH ROW EXECUTE FUNCTION bookings_status_history()",
    "CREATE TRIGGER booking_status_rollup AFTER INSERT OR DELETE ON bookings FOR EACH ROW "
    "EXECUTE FUNCTION booking_status_rollup_delta()",
    "CREATE TRIGGER booking_status_rollup_update AFTER UPDATE OF status, total_price ON bookings "
    "FOR EACH ROW WHEN (OLD.status <> NEW.status OR OLD.total_price <> NEW.total_price) "
    "EXECUTE FUNCTION booking_status_rollup_delta()",
    "CREATE TRIGGER payments_guest_spending AFTER INSERT OR UPDATE OF status ON payments "
    "FOR EACH ROW EXECUTE FUNCTION payments_guest_spending()",
    "CREATE TRIGGER revenue_rollup_insert AFTER INSERT ON payments FOR EACH ROW "
    "WHEN (NEW.status = 'completed') EXECUTE FUNCTION revenue_rollup_delta()",
)


def _definer(definition: str, signature: str) -> None:
    op.execute(definition)
    op.execute(f"ALTER FUNCTION {signature} OWNER TO hotel_owner")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")


def _guard(columns: str) -> None:
    op.execute("DROP TRIGGER bookings_guard ON bookings")
    op.execute(
        f"CREATE TRIGGER bookings_guard BEFORE INSERT OR UPDATE{columns} ON bookings "
        "FOR EACH ROW EXECUTE FUNCTION bookings_guard()"
    )


def upgrade() -> None:
    for trigger, table in (
        ("bookings_status_history", "bookings"),
        ("booking_status_rollup", "bookings"),
        ("booking_status_rollup_update", "bookings"),
        ("payments_guest_spending", "payments"),
        ("revenue_rollup_insert", "payments"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute("DROP FUNCTION bookings_status_history()")
    _definer(STATUS_CHANGED, "bookings_status_changed()")
    for trigger in STATUS_CHANGED_TRIGGERS:
        op.execute(trigger)
    op.execute(
        "CREATE TRIGGER booking_status_rollup AFTER DELETE ON bookings FOR EACH ROW "
        "EXECUTE FUNCTION booking_status_rollup_delta()"
    )
    _definer(COMPLETED, "payments_completed()")
    op.execute(
        "CREATE TRIGGER payments_completed AFTER INSERT ON payments FOR EACH ROW "
        "WHEN (NEW.status = 'completed') EXECUTE FUNCTION payments_completed()"
    )
    op.execute(
        "CREATE TRIGGER payments_guest_spending AFTER UPDATE OF status ON payments "
        "FOR EACH ROW EXECUTE FUNCTION payments_guest_spending()"
    )
    op.execute(PAYMENTS_PAID_STATE.format(value="paid_state"))
    op.execute(BOOKINGS_PAID_STATE.format(stamp=STAMP))
    _guard(f" OF {', '.join(GUARDED)}")


def downgrade() -> None:
    _guard("")
    op.execute(BOOKINGS_PAID_STATE.format(stamp=""))
    op.execute(PAYMENTS_PAID_STATE.format(value="booking_paid_state(id, total_price)"))
    for trigger, table in (
        ("payments_guest_spending", "payments"),
        ("payments_completed", "payments"),
        ("booking_status_rollup", "bookings"),
        ("bookings_status_changed_update", "bookings"),
        ("bookings_status_changed", "bookings"),
    ):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute("DROP FUNCTION payments_completed()")
    op.execute("DROP FUNCTION bookings_status_changed()")
    _definer(HISTORY, "bookings_status_history()")
    for trigger in BEFORE_TRIGGERS:
        op.execute(trigger)
