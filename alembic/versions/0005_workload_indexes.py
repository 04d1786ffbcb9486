"""Indexes for the workload, from the earlier system's fifth migration, reviewed.

Revision ID: 0005
Revises: 0004

Kept, each for the query it serves:
- rooms (hotel_id, price DESC) INCLUDE (id): top rooms by price per hotel, index-only.
- payments (booking_id) INCLUDE (amount) WHERE completed: sums of completed payments per
  booking (paid state, top spenders) without touching failed/pending rows or the heap.
- bookings (user_id, id): a guest's booking history; also the FK index for users.
- hotels (rating DESC NULLS LAST): the best-rated hotels first.
- rooms (price, capacity DESC) INCLUDE (hotel_id): rooms in a price and capacity range.
- hotels (city): every search starts from a city.
Dropped: hotel_amenities (hotel_id, amenity_id) is exactly its primary key's index.

Runs outside a transaction (autocommit_block): CREATE INDEX CONCURRENTLY cannot run in one.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Name -> (table, definition). Built CONCURRENTLY outside a transaction so a live system keeps
# writing meanwhile; a build that failed half-way leaves an INVALID index behind, so each one
# is dropped first if present rather than skipped by IF NOT EXISTS.
INDEXES = {
    "ix_rooms_hotel_id_price_desc": ("rooms", "(hotel_id, price DESC) INCLUDE (id)"),
    "ix_payments_booking_id_completed": (
        "payments",
        "(booking_id) INCLUDE (amount) WHERE status = 'completed'",
    ),
    "ix_bookings_user_id_id": ("bookings", "(user_id, id)"),
    "ix_hotels_rating_desc": ("hotels", "(rating DESC NULLS LAST)"),
    "ix_rooms_price_capacity_desc": ("rooms", "(price, capacity DESC) INCLUDE (hotel_id)"),
    "ix_hotels_city": ("hotels", "(city)"),
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, (table, definition) in INDEXES.items():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in reversed(INDEXES):
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
