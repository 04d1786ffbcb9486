"""Booking rules: room capacity, rooms under maintenance, the status machine, status history.

Revision ID: 0009
Revises: 0008

Violations raise check_violation with a CONSTRAINT name (RAISE ... USING CONSTRAINT), so
clients map them like real constraints. The history is written by a SECURITY DEFINER
function owned by hotel_owner: the service cannot write history rows itself.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE FUNCTION bookings_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  room rooms%ROWTYPE;
BEGIN
  IF TG_OP = 'INSERT' AND NEW.status <> 'pending' THEN
    RAISE EXCEPTION 'a booking starts as pending, not %', NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_status_transition';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.status <> OLD.status
     AND (OLD.status, NEW.status) NOT IN (
       ('pending', 'confirmed'), ('confirmed', 'checked_in'), ('checked_in', 'completed'),
       ('pending', 'cancelled'), ('confirmed', 'cancelled')) THEN
    RAISE EXCEPTION 'booking % cannot go from % to %', NEW.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_status_transition';
  END IF;
  IF TG_OP = 'INSERT' OR (NEW.room_id, NEW.guests, NEW.check_in, NEW.check_out)
                         IS DISTINCT FROM (OLD.room_id, OLD.guests, OLD.check_in, OLD.check_out)
  THEN
    -- FOR NO KEY UPDATE queues bookers of one room behind each other: the second then sees
    -- the first's committed stay and fails the EXCLUDE check cleanly. (With FOR SHARE both
    -- insert, then each waits for the other's uncommitted row: a deadlock.) It also keeps a
    -- room from going under maintenance while it is being booked.
    SELECT * INTO room FROM rooms WHERE id = NEW.room_id FOR NO KEY UPDATE;
    IF FOUND AND NEW.guests > room.capacity THEN
      RAISE EXCEPTION 'room % takes at most % guests, not %', room.number, room.capacity, NEW.guests
        USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_capacity';
    END IF;
    IF FOUND AND room.status = 'maintenance' THEN
      RAISE EXCEPTION 'room % is under maintenance and takes no booking', room.number
        USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_room_available';
    END IF;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$"""

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


def upgrade() -> None:
    op.execute(GUARD)
    op.execute(
        "CREATE TRIGGER bookings_guard BEFORE INSERT OR UPDATE ON bookings "
        "FOR EACH ROW EXECUTE FUNCTION bookings_guard()"
    )
    op.execute(HISTORY)
    op.execute("ALTER FUNCTION bookings_status_history() OWNER TO hotel_owner")
    op.execute("REVOKE EXECUTE ON FUNCTION bookings_status_history() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER bookings_status_history AFTER INSERT OR UPDATE OF status ON bookings "
        "FOR EACH ROW EXECUTE FUNCTION bookings_status_history()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_status_history ON bookings")
    op.execute("DROP FUNCTION bookings_status_history()")
    op.execute("DROP TRIGGER bookings_guard ON bookings")
    op.execute("DROP FUNCTION bookings_guard()")
