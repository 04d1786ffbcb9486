"""Cheaper booking writes: a status change stays on its page, the booking insert keeps one
plan, a booking code needs no query.

Revision ID: 0025
Revises: 0024

Measured by `python -m loadtest.server_work_bench --before 0024` (docs/operations.md,
"Server work per booking"), found with perf on the backend and pg_stat_statements:

- Status was in the no-overlap exclusion's predicate (`WHERE status <> 'cancelled'`), so
  every status change was a non-HOT update: a new entry in all seven indexes of bookings,
  the GiST insert and its overlap probe included, three times per booking. The predicate
  now reads `holds_room`, a stored generated column (`status <> 'cancelled'`, computed by
  the database, never written): PostgreSQL compares the indexed columns' values, so a change
  between live statuses leaves every index alone and stays on the row's page; only a
  cancellation (the column changes) touches the indexes.
- The booking insert prices the stay night by night where a room has a rate in it, over
  generate_series(0, nights - 1). With the nights a parameter, the generic plan assumed
  1,000 of them and cost 160 times the custom plan, so the prepared insert was planned
  again on every execution (0.37 ms per booking). stay_nights(check_in, check_out) returns
  the same nights with an estimate of a week, and the insert runs its generic plan.
- booking_code() was a SQL function with its own search_path, never inlined: each insert
  parsed and planned its query again. The same code from the same 8 random bytes, now a
  PL/pgSQL loop of plain expressions.

Locks: ADD COLUMN ... STORED rewrites bookings and rebuilds its btree indexes, and the
exclusion is built once, after the rewrite, all under an ACCESS EXCLUSIVE lock (reads wait
too) until the commit: 28.1 s at the large seed's million bookings, most of it the GiST
build (`hotel migrate` from 0024, its ledger's duration_ms; 54.6 s when the exclusion was
dropped after the rewrite, which had built it once for nothing). Run it in a maintenance
window. No online form exists: an exclusion constraint cannot be added NOT VALID or over an
index built CONCURRENTLY. The downgrade takes about 25 s the same way.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REWRITE = "bookings is rewritten under ACCESS EXCLUSIVE until the commit anyway (see above)"
squawk_waivers = {
    "adding-field-with-default": _REWRITE,
    "ban-drop-constraint": "the same exclusion is added again at once, over holds_room",
    "constraint-missing-not-valid": _REWRITE + "; an exclusion cannot be NOT VALID",
}

# The nights of a stay [check_in, check_out). ROWS 7: what the planner assumes without
# knowing the dates (a generic plan); PL/pgSQL, so it is never inlined into generate_series
# and its 1,000.
STAY_NIGHTS = """
CREATE FUNCTION stay_nights(check_in date, check_out date) RETURNS SETOF date
LANGUAGE plpgsql IMMUTABLE STRICT ROWS 7 SET search_path = public, pg_temp AS $$
BEGIN
  FOR night IN 0 .. check_out - check_in - 1 LOOP
    RETURN NEXT check_in + night;
  END LOOP;
END $$"""

BOOKING_CODE_PLPGSQL = """
CREATE OR REPLACE FUNCTION booking_code() RETURNS text LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp AS $$
DECLARE
  bytes bytea := gen_random_bytes(8);
  code text := '';
BEGIN
  FOR i IN 0 .. 7 LOOP
    code := code || substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', get_byte(bytes, i) % 32 + 1, 1);
  END LOOP;
  RETURN code;
END $$"""

BOOKING_CODE_SQL = """
CREATE OR REPLACE FUNCTION booking_code() RETURNS text LANGUAGE sql VOLATILE
SET search_path = public, pg_temp AS $$
  SELECT string_agg(substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', get_byte(b, i) % 32 + 1, 1), ''
                    ORDER BY i)
  FROM gen_random_bytes(8) AS b, generate_series(0, 7) AS i
$$"""


def _no_overlap(predicate: str) -> str:
    return (
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        f"(room_id WITH =, daterange(check_in, check_out, '[)') WITH &&) WHERE ({predicate})"
    )


def upgrade() -> None:
    # Dropped first, so that the rewrite does not build the GiST index once more for nothing.
    op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")
    op.execute(
        "ALTER TABLE bookings ADD COLUMN holds_room boolean "
        "GENERATED ALWAYS AS (status <> 'cancelled') STORED NOT NULL"
    )
    op.execute(_no_overlap("holds_room"))
    op.execute(STAY_NIGHTS)
    op.execute(BOOKING_CODE_PLPGSQL)


def downgrade() -> None:
    op.execute(BOOKING_CODE_SQL)
    op.execute("DROP FUNCTION stay_nights(date, date)")
    op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")
    op.execute(_no_overlap("status <> 'cancelled'"))
    op.execute("ALTER TABLE bookings DROP COLUMN holds_room")
