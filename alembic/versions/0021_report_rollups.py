"""Report rollups kept by the database: bookings per status, completed payments per city and
day, so the booking-status and revenue reports stop reading every booking and payment.

Revision ID: 0021
Revises: 0020

`analytic_booking_status` counted 1M bookings (about 100 ms) and `revenue_report` joined
the last 90 days' payments to all bookings, rooms and hotels (about 250 ms). Their results
are kept instead, exactly, like 0017's guest_spending, with one difference: a counter row per
status (or per busy city and day) would queue every booking behind the last one's commit.
So writers only append signed deltas (`compact` false), one row per change, and never wait
on each other; every 256th delta folds the loose rows into one compact row per key (in READ
COMMITTED, by one transaction at a time: an advisory lock; it deletes only the loose rows
its snapshot sees, so a writer still in flight is folded next time). A report sums compact
and loose rows: under any snapshot that is the base tables' answer, since a change and its
delta commit together and a fold moves sums without changing them.

- booking_status_rollup: +1/-1 bookings and +/- total_price per status, on every insert,
  delete and change of status or price of a booking.
- revenue_rollup: +1/-1 payments and +/- amount per hotel city and UTC day of created_at,
  when a payment becomes or stops being completed. A hotel that changes city, a room that
  changes hotel and a booking that changes room move their completed payments' sums: the
  mover locks the rollup (SHARE ROW EXCLUSIVE: it waits for every transaction that wrote a
  delta and holds new ones back until it commits) and then reads the payments, so it moves
  exactly what is committed. That needs READ COMMITTED (a REPEATABLE READ snapshot would
  predate the wait), refused otherwise; a writer outside READ COMMITTED locks the rows it
  read the city through, so a concurrent move makes it a serialization failure. Moves are
  rare catalogue edits; payments never wait for each other.
- TRUNCATE of bookings or payments empties its rollup.
- Written only by the trigger functions (SECURITY DEFINER, owned by hotel_owner): hotel_app
  and analytic read them. Not audited: derived from audited tables.

The backfill runs after the triggers exist, in the same transaction (CREATE TRIGGER holds
the tables against writes until the commit): nothing is missed or counted twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLD_EVERY = 256  # loose rows between folds

BOOKING_DELTA = """
CREATE FUNCTION booking_status_rollup_delta() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO booking_status_rollup (status, bookings, total_price)
    VALUES (NEW.status, 1, NEW.total_price);
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO booking_status_rollup (status, bookings, total_price)
    VALUES (OLD.status, -1, -OLD.total_price);
  ELSE
    INSERT INTO booking_status_rollup (status, bookings, total_price)
    VALUES (OLD.status, -1, -OLD.total_price), (NEW.status, 1, NEW.total_price);
  END IF;
  RETURN NULL;
END $$"""


def fold(table: str, keys: str, sums: tuple[str, ...]) -> str:
    """A rollup's fold: its loose rows summed into one compact row per key (`keys`, the
    columns of its partial unique index), in READ COMMITTED by one transaction at a time."""
    columns = ", ".join((keys, *sums))
    return f"""
CREATE FUNCTION {table}_fold() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF current_setting('transaction_isolation') = 'read committed'
     AND pg_try_advisory_xact_lock(TG_RELID::integer, 0) THEN
    WITH loose AS (DELETE FROM {table} WHERE NOT compact RETURNING {columns})
    INSERT INTO {table} AS r ({columns}, compact)
    SELECT {keys}, {", ".join(f"sum({s})" for s in sums)}, true FROM loose GROUP BY {keys}
    ON CONFLICT ({keys}) WHERE compact DO UPDATE
    SET {", ".join(f"{s} = r.{s} + EXCLUDED.{s}" for s in sums)};
  END IF;
  RETURN NULL;
END $$"""


BOOKING_FOLD = fold("booking_status_rollup", "status", ("bookings", "total_price"))


# The city of a payment's booking, read after the rollup's lock is taken (the INSERT locks
# its target before its snapshot), so a concurrent move is either seen or waits for us.
REVENUE_DELTA = """
CREATE FUNCTION revenue_rollup_delta() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
    WHERE b.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.booking_id ELSE NEW.booking_id END
    FOR SHARE;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.status = 'completed' THEN
    INSERT INTO revenue_rollup (city, day, payments, amount)
    SELECT h.city, (OLD.created_at AT TIME ZONE 'UTC')::date, -1, -OLD.amount
    FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
    WHERE b.id = OLD.booking_id;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'completed' THEN
    INSERT INTO revenue_rollup (city, day, payments, amount)
    SELECT h.city, (NEW.created_at AT TIME ZONE 'UTC')::date, 1, NEW.amount
    FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
    WHERE b.id = NEW.booking_id;
  END IF;
  RETURN NULL;
END $$"""

# A hotel, room or booking changing city moves its completed payments' sums.
REVENUE_MOVE = """
CREATE FUNCTION revenue_rollup_move() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  from_city text;
  to_city text;
BEGIN
  IF TG_TABLE_NAME = 'hotels' THEN
    from_city := OLD.city;
    to_city := NEW.city;
  ELSIF TG_TABLE_NAME = 'rooms' THEN
    from_city := (SELECT city FROM hotels WHERE id = OLD.hotel_id);
    to_city := (SELECT city FROM hotels WHERE id = NEW.hotel_id);
  ELSE
    from_city := (SELECT h.city FROM rooms r JOIN hotels h ON h.id = r.hotel_id
                  WHERE r.id = OLD.room_id);
    to_city := (SELECT h.city FROM rooms r JOIN hotels h ON h.id = r.hotel_id
                WHERE r.id = NEW.room_id);
  END IF;
  IF from_city = to_city THEN
    RETURN NULL;
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'moving % % to another city moves its revenue: run it in a READ COMMITTED '
                    'transaction', TG_TABLE_NAME, NEW.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  LOCK TABLE revenue_rollup IN SHARE ROW EXCLUSIVE MODE;
  INSERT INTO revenue_rollup (city, day, payments, amount)
  SELECT c.city, d.day, c.sign * d.payments, c.sign * d.amount
  FROM (SELECT (p.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS payments,
               sum(p.amount) AS amount
        FROM bookings b JOIN payments p ON p.booking_id = b.id
        WHERE p.status = 'completed'
          AND b.id = ANY(CASE TG_TABLE_NAME
                WHEN 'hotels' THEN ARRAY(SELECT b2.id FROM rooms r JOIN bookings b2
                                         ON b2.room_id = r.id WHERE r.hotel_id = NEW.id)
                WHEN 'rooms' THEN ARRAY(SELECT id FROM bookings WHERE room_id = NEW.id)
                ELSE ARRAY[NEW.id] END)
        GROUP BY 1) d,
       (VALUES (-1, from_city), (1, to_city)) AS c(sign, city);
  RETURN NULL;
END $$"""

REVENUE_FOLD = fold("revenue_rollup", "day, city", ("payments", "amount"))

CLEAR = """
CREATE FUNCTION rollup_clear() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  EXECUTE format('DELETE FROM %I', TG_ARGV[0]);
  RETURN NULL;
END $$"""

FUNCTIONS = {
    "booking_status_rollup_delta()": BOOKING_DELTA,
    "booking_status_rollup_fold()": BOOKING_FOLD,
    "revenue_rollup_delta()": REVENUE_DELTA,
    "revenue_rollup_move()": REVENUE_MOVE,
    "revenue_rollup_fold()": REVENUE_FOLD,
    "rollup_clear()": CLEAR,
}

# (name, table, what follows "CREATE TRIGGER name")
TRIGGERS = (
    (
        "booking_status_rollup",
        "bookings",
        "AFTER INSERT OR DELETE ON bookings FOR EACH ROW "
        "EXECUTE FUNCTION booking_status_rollup_delta()",
    ),
    (
        "booking_status_rollup_update",
        "bookings",
        "AFTER UPDATE OF status, total_price ON bookings FOR EACH ROW "
        "WHEN (OLD.status <> NEW.status OR OLD.total_price <> NEW.total_price) "
        "EXECUTE FUNCTION booking_status_rollup_delta()",
    ),
    (
        "booking_status_rollup_truncate",
        "bookings",
        "AFTER TRUNCATE ON bookings FOR EACH STATEMENT "
        "EXECUTE FUNCTION rollup_clear('booking_status_rollup')",
    ),
    (
        "fold",
        "booking_status_rollup",
        "AFTER INSERT ON booking_status_rollup FOR EACH ROW "
        f"WHEN (NOT NEW.compact AND NEW.id % {FOLD_EVERY} = 0) "
        "EXECUTE FUNCTION booking_status_rollup_fold()",
    ),
    (
        "revenue_rollup_insert",
        "payments",
        "AFTER INSERT ON payments FOR EACH ROW WHEN (NEW.status = 'completed') "
        "EXECUTE FUNCTION revenue_rollup_delta()",
    ),
    (
        "revenue_rollup_update",
        "payments",
        "AFTER UPDATE OF status, created_at, amount, booking_id ON payments FOR EACH ROW "
        "WHEN ((OLD.status = 'completed' OR NEW.status = 'completed') "
        "AND (OLD.status, OLD.created_at, OLD.amount, OLD.booking_id) IS DISTINCT FROM "
        "(NEW.status, NEW.created_at, NEW.amount, NEW.booking_id)) "
        "EXECUTE FUNCTION revenue_rollup_delta()",
    ),
    (
        "revenue_rollup_delete",
        "payments",
        "AFTER DELETE ON payments FOR EACH ROW WHEN (OLD.status = 'completed') "
        "EXECUTE FUNCTION revenue_rollup_delta()",
    ),
    (
        "revenue_rollup_truncate",
        "payments",
        "AFTER TRUNCATE ON payments FOR EACH STATEMENT "
        "EXECUTE FUNCTION rollup_clear('revenue_rollup')",
    ),
    (
        "revenue_rollup_move",
        "hotels",
        "AFTER UPDATE OF city ON hotels FOR EACH ROW WHEN (OLD.city <> NEW.city) "
        "EXECUTE FUNCTION revenue_rollup_move()",
    ),
    (
        "revenue_rollup_move",
        "rooms",
        "AFTER UPDATE OF hotel_id ON rooms FOR EACH ROW WHEN (OLD.hotel_id <> NEW.hotel_id) "
        "EXECUTE FUNCTION revenue_rollup_move()",
    ),
    (
        "revenue_rollup_move",
        "bookings",
        "AFTER UPDATE OF room_id ON bookings FOR EACH ROW WHEN (OLD.room_id <> NEW.room_id) "
        "EXECUTE FUNCTION revenue_rollup_move()",
    ),
    (
        "fold",
        "revenue_rollup",
        "AFTER INSERT ON revenue_rollup FOR EACH ROW "
        f"WHEN (NOT NEW.compact AND NEW.id % {FOLD_EVERY} = 0) "
        "EXECUTE FUNCTION revenue_rollup_fold()",
    ),
)

BACKFILL = (
    "INSERT INTO booking_status_rollup (status, bookings, total_price, compact)"
    " SELECT status, count(*), sum(total_price), true FROM bookings GROUP BY status",
    "INSERT INTO revenue_rollup (city, day, payments, amount, compact)"
    " SELECT h.city, (p.created_at AT TIME ZONE 'UTC')::date, count(*), sum(p.amount), true"
    " FROM payments p JOIN bookings b ON b.id = p.booking_id"
    " JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id"
    " WHERE p.status = 'completed' GROUP BY 1, 2",
)


def upgrade() -> None:
    op.create_table(
        "booking_status_rollup",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(name="booking_status", create_type=False),
            nullable=False,
        ),
        sa.Column("bookings", sa.BigInteger(), nullable=False),
        sa.Column("total_price", sa.Numeric(), nullable=False),
        sa.Column("compact", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_status_rollup")),
    )
    op.create_index(
        "uq_booking_status_rollup_status",
        "booking_status_rollup",
        ["status"],
        unique=True,
        postgresql_where=sa.text("compact"),
    )
    op.create_table(
        "revenue_rollup",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("compact", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_rollup")),
    )
    op.create_index(
        "uq_revenue_rollup_day_city",
        "revenue_rollup",
        ["day", "city"],
        unique=True,
        postgresql_where=sa.text("compact"),
    )
    op.create_index(
        "ix_revenue_rollup_loose_day",
        "revenue_rollup",
        ["day"],
        postgresql_where=sa.text("NOT compact"),
    )
    op.execute("GRANT SELECT ON booking_status_rollup, revenue_rollup TO hotel_app")
    for signature, definition in FUNCTIONS.items():
        op.execute(definition)
        op.execute(f"ALTER FUNCTION {signature} OWNER TO hotel_owner")
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
    for name, _, definition in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {definition}")
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    for name, table, _ in reversed(TRIGGERS):
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_table("revenue_rollup")
    op.drop_table("booking_status_rollup")
