"""Indexes adjusted to the query catalogue, each proven by `hotel explain` on 1M bookings.

Revision ID: 0016
Revises: 0015

Added:
- rooms (price, id) INCLUDE (hotel_id, capacity, room_type) WHERE available: the
  availability search walks a city's free rooms cheapest first, index-only, and stops at its
  limit instead of pricing every room of the city.
- room_rates GiST (daterange(starts_on, ends_on)): the availability search finds the few
  rates inside a stay among all rooms' instead of scanning every rate (loadtest/catalogue.py
  `search_availability`; the EXCLUDE constraint's GiST already serves bookings per room).
- bookings (created_at): the monitoring's bookings-per-minute reads the last minute, not every
  booking, at every scrape (176 ms -> 0.05 ms on 1M bookings; found by `hotel explain --top`).
- payments (created_at) INCLUDE (booking_id, amount) WHERE completed: the revenue report
  reads the last 90 days of completed payments index-only instead of every payment.
Replaced (two indexes where one serves):
- payments (booking_id) and payments (booking_id) INCLUDE (amount) WHERE completed become
  one payments (booking_id) INCLUDE (status, amount): the foreign key, the paid-state sums
  and the payment step all read it index-only; every payment write maintains one index less.
Kept, with the query that uses each (pg_stat_user_indexes after a load run): see
docs/operations.md "Query performance".

Built CONCURRENTLY outside a transaction, like 0005: a live system keeps writing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPLETED = "WHERE status = 'completed'"
# Name -> (table, definition).
ADDED = {
    "ix_rooms_available_price": (
        "rooms",
        "(price, id) INCLUDE (hotel_id, capacity, room_type) WHERE status = 'available'",
    ),
    "ix_room_rates_stay": ("room_rates", "USING gist (daterange(starts_on, ends_on, '[)'))"),
    "ix_bookings_created_at": ("bookings", "(created_at)"),
    "ix_payments_completed_created_at": (
        "payments",
        f"(created_at) INCLUDE (booking_id, amount) {COMPLETED}",
    ),
    "ix_payments_booking_id_covering": ("payments", "(booking_id) INCLUDE (status, amount)"),
}
REPLACED = {
    "ix_payments_booking_id": ("payments", "(booking_id)"),
    "ix_payments_booking_id_completed": ("payments", f"(booking_id) INCLUDE (amount) {COMPLETED}"),
}


def _build(indexes: dict[str, tuple[str, str]]) -> None:
    # A build that failed half-way leaves an INVALID index behind: drop it, then build.
    for name, (table, definition) in indexes.items():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")


def _drop(indexes: dict[str, tuple[str, str]]) -> None:
    for name in reversed(indexes):
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


# The replacement is built before what it replaces is dropped (and back on downgrade), so
# the foreign key is never without an index.
def upgrade() -> None:
    with op.get_context().autocommit_block():
        _build(ADDED)
        _drop(REPLACED)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        _build(REPLACED)
        _drop(ADDED)
