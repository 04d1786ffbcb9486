"""A payment's paid state settles at commit, or at the booking's next write if sooner.

Revision ID: 0028
Revises: 0027

A guest pays and the service confirms the booking in the same transaction (the load's
`pay` step: the payment, then the status change). payments_paid_state updated the booking
at once, then the status change updated it again: two new versions of the row, each with its
triggers, and the second re-ran the booking's foreign-key checks, which PostgreSQL does when
the row was already written by the same transaction. Now:
- payments_paid_state is a constraint trigger, DEFERRABLE INITIALLY DEFERRED: at commit it
  updates a booking whose stored state differs from what its payments say, and does nothing
  to one that already agrees (no new row version).
- bookings_paid_state, which recomputes paid_state from the payments whatever a client
  writes, fires on every INSERT and UPDATE of a booking instead of only on changes of
  paid_state and total_price: any write of the booking settles its paid state, so the status
  change that follows a payment carries it, and the commit finds nothing left to do.
- The recomputation at commit names the column (`SET paid_state = paid_state`) instead of
  computing it for the SET as well: bookings_paid_state sets the value.

What changes for a reader: no other transaction ever sees a paid state that disagrees with
the committed payments (the update commits with them). Inside the paying transaction,
between a payment and the booking's next write, paid_state still shows the state before the
payment; `SET CONSTRAINTS payments_paid_state IMMEDIATE` settles it there and then (and
keeps it immediate for the rest of the transaction), as `hotel_models.operations.pay` does.
A loyalty credit, which follows the paid state, moves with it. Measured by
`python -m loadtest.server_work_bench` (docs/operations.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAYMENTS_PAID_STATE = """
CREATE OR REPLACE FUNCTION payments_paid_state() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE bookings SET paid_state = {value}
  WHERE id = NEW.booking_id AND paid_state <> booking_paid_state(id, total_price);
  RETURN NULL;
END $$"""
COMPUTED_AGAIN = "booking_paid_state(id, total_price)"  # 0010's


# How payments_paid_state is created: deferred to commit now, at each row before (0010).
DEFERRED = "CONSTRAINT TRIGGER payments_paid_state {events} DEFERRABLE INITIALLY DEFERRED"
AT_ONCE = "TRIGGER payments_paid_state {events}"
PAYMENT_EVENTS = "AFTER INSERT OR UPDATE OF status ON payments"


def _triggers(bookings_events: str, payments_trigger: str) -> None:
    op.execute("DROP TRIGGER bookings_paid_state ON bookings")
    op.execute(
        f"CREATE TRIGGER bookings_paid_state BEFORE {bookings_events} ON bookings "
        "FOR EACH ROW EXECUTE FUNCTION bookings_paid_state()"
    )
    op.execute("DROP TRIGGER payments_paid_state ON payments")
    op.execute(
        f"CREATE {payments_trigger.format(events=PAYMENT_EVENTS)} "
        "FOR EACH ROW EXECUTE FUNCTION payments_paid_state()"
    )


def upgrade() -> None:
    # bookings_paid_state (BEFORE UPDATE) sets the value the recomputation names.
    op.execute(PAYMENTS_PAID_STATE.format(value="paid_state"))
    _triggers("INSERT OR UPDATE", DEFERRED)


def downgrade() -> None:
    _triggers("INSERT OR UPDATE OF paid_state, total_price", AT_ONCE)
    op.execute(PAYMENTS_PAID_STATE.format(value=COMPUTED_AGAIN))
