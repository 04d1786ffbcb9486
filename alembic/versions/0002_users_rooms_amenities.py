"""Guests, rooms with rates, amenities and facilities, payment methods.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk findings this revision accepts, each with its reason (see deploy/migrate/lint.py).
squawk_waivers = {
    "prefer-bigint-over-smallint": "rooms.capacity is a small bounded count (CHECK >= 1)",
}

# Frozen copies of the enum types as this revision made them (the models may move on).
ROOM_TYPE = postgresql.ENUM(
    "single", "double", "twin", "triple", "family", "suite", name="room_type", create_type=False
)
ROOM_STATUS = postgresql.ENUM("available", "maintenance", name="room_status", create_type=False)
RATE_KIND = postgresql.ENUM("seasonal", "discount", name="rate_kind", create_type=False)


def upgrade() -> None:
    ROOM_TYPE.create(op.get_bind())
    ROOM_STATUS.create(op.get_bind())
    RATE_KIND.create(op.get_bind())
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("login", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("login", name=op.f("uq_users_login")),
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("code", name=op.f("uq_payment_methods_code")),
    )
    op.create_table(
        "user_payment_methods",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("method_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["payment_methods.id"],
            name=op.f("fk_user_payment_methods_method_id_payment_methods"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_payment_methods_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_payment_methods")),
    )
    op.create_index(
        op.f("ix_user_payment_methods_user_id"), "user_payment_methods", ["user_id"], unique=False
    )
    op.create_table(
        "amenities",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_amenities")),
        sa.UniqueConstraint("name", name=op.f("uq_amenities_name")),
    )
    op.create_table(
        "hotel_amenities",
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("amenity_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amenity_id"],
            ["amenities.id"],
            name=op.f("fk_hotel_amenities_amenity_id_amenities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hotel_id"],
            ["hotels.id"],
            name=op.f("fk_hotel_amenities_hotel_id_hotels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hotel_id", "amenity_id", name=op.f("pk_hotel_amenities")),
    )
    op.create_index(
        op.f("ix_hotel_amenities_amenity_id"), "hotel_amenities", ["amenity_id"], unique=False
    )
    op.create_table(
        "rooms",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("room_type", ROOM_TYPE, nullable=False),
        sa.Column("capacity", sa.SmallInteger(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", ROOM_STATUS, server_default="available", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_rooms_positive_capacity")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_rooms_nonnegative_price")),
        sa.ForeignKeyConstraint(
            ["hotel_id"], ["hotels.id"], name=op.f("fk_rooms_hotel_id_hotels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("hotel_id", "number", name=op.f("uq_rooms_hotel_id_number")),
    )
    op.create_table(
        "room_rates",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", RATE_KIND, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_room_rates_valid_period")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_room_rates_nonnegative_price")),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_room_rates_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_rates")),
    )
    op.create_index(
        op.f("ix_room_rates_room_id_starts_on"),
        "room_rates",
        ["room_id", "starts_on"],
        unique=False,
    )
    op.create_table(
        "facilities",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
        sa.UniqueConstraint("name", name=op.f("uq_facilities_name")),
    )
    op.create_table(
        "room_facilities",
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("facility_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_room_facilities_facility_id_facilities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_room_facilities_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "facility_id", name=op.f("pk_room_facilities")),
    )
    op.create_index(
        op.f("ix_room_facilities_facility_id"), "room_facilities", ["facility_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_room_facilities_facility_id"), table_name="room_facilities")
    op.drop_table("room_facilities")
    op.drop_table("facilities")
    op.drop_index(op.f("ix_room_rates_room_id_starts_on"), table_name="room_rates")
    op.drop_table("room_rates")
    op.drop_table("rooms")
    op.drop_index(op.f("ix_hotel_amenities_amenity_id"), table_name="hotel_amenities")
    op.drop_table("hotel_amenities")
    op.drop_table("amenities")
    op.drop_index(op.f("ix_user_payment_methods_user_id"), table_name="user_payment_methods")
    op.drop_table("user_payment_methods")
    op.drop_table("payment_methods")
    op.drop_table("users")
    RATE_KIND.drop(op.get_bind())
    ROOM_STATUS.drop(op.get_bind())
    ROOM_TYPE.drop(op.get_bind())
