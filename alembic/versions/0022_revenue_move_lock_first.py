"""A move of revenue to another city locks the revenue rollup before any row.

Revision ID: 0022
Revises: 0021

0021's mover took the rollup's SHARE ROW EXCLUSIVE lock in its AFTER ROW trigger, that is
while already holding the moved row: a guest transaction that had paid (holding ROW
EXCLUSIVE on the rollup) and then key-share-locked that room through a foreign-key check
waited for the mover, which waited for it (a deadlock, found by the concurrency test). Now
a BEFORE ... FOR EACH STATEMENT trigger takes the lock first, before the UPDATE touches a row,
on every UPDATE that sets hotels.city, rooms.hotel_id or bookings.room_id (in READ
COMMITTED; the row trigger refuses a real move in other isolation levels). Lock order is
then the rollup before rows for both sides.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK = """
CREATE FUNCTION revenue_rollup_lock() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF current_setting('transaction_isolation') = 'read committed' THEN
    LOCK TABLE revenue_rollup IN SHARE ROW EXCLUSIVE MODE;
  END IF;
  RETURN NULL;
END $$"""

MOVED = {"hotels": "city", "rooms": "hotel_id", "bookings": "room_id"}


def upgrade() -> None:
    op.execute(LOCK)
    op.execute("ALTER FUNCTION revenue_rollup_lock() OWNER TO hotel_owner")
    op.execute("REVOKE EXECUTE ON FUNCTION revenue_rollup_lock() FROM PUBLIC")
    for table, column in MOVED.items():
        op.execute(
            f"CREATE TRIGGER revenue_rollup_lock BEFORE UPDATE OF {column} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION revenue_rollup_lock()"
        )


def downgrade() -> None:
    for table in reversed(MOVED):
        op.execute(f"DROP TRIGGER revenue_rollup_lock ON {table}")
    op.execute("DROP FUNCTION revenue_rollup_lock()")
