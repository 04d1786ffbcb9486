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
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_rooms_hotel_id_price_desc",
        "rooms",
        ["hotel_id", sa.text("price DESC")],
        postgresql_include=["id"],
    )
    op.create_index(
        "ix_payments_booking_id_completed",
        "payments",
        ["booking_id"],
        postgresql_include=["amount"],
        postgresql_where=sa.text("status = 'completed'"),
    )
    op.create_index("ix_bookings_user_id_id", "bookings", ["user_id", "id"])
    op.create_index("ix_hotels_rating_desc", "hotels", [sa.text("rating DESC NULLS LAST")])
    op.create_index(
        "ix_rooms_price_capacity_desc",
        "rooms",
        ["price", sa.text("capacity DESC")],
        postgresql_include=["hotel_id"],
    )
    op.create_index("ix_hotels_city", "hotels", ["city"])


def downgrade() -> None:
    op.drop_index("ix_hotels_city", table_name="hotels")
    op.drop_index("ix_rooms_price_capacity_desc", table_name="rooms")
    op.drop_index("ix_hotels_rating_desc", table_name="hotels")
    op.drop_index("ix_bookings_user_id_id", table_name="bookings")
    op.drop_index("ix_payments_booking_id_completed", table_name="payments")
    op.drop_index("ix_rooms_hotel_id_price_desc", table_name="rooms")
