"""Bookings, services, status history, payments, loyalty ledger, reviews, audit log.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk findings this revision accepts, each with its reason (see deploy/migrate/lint.py).
squawk_waivers = {
    "prefer-bigint-over-smallint": "guests, quantity and rating are small bounded values",
    "prefer-bigint-over-int": "bonus_points_used is points spent on one booking, not a key",
}

# Frozen copies of the enum types as this revision made them (the models may move on).
BOOKING_STATUS = postgresql.ENUM(
    "pending",
    "confirmed",
    "checked_in",
    "completed",
    "cancelled",
    name="booking_status",
    create_type=False,
)
PAYMENT_OPTION = postgresql.ENUM(
    "full", "partial", "on_arrival", name="payment_option", create_type=False
)
PAID_STATE = postgresql.ENUM(
    "unpaid", "partially_paid", "paid", name="paid_state", create_type=False
)
PAYMENT_STATUS = postgresql.ENUM(
    "pending", "completed", "failed", "refunded", name="payment_status", create_type=False
)
BONUS_KIND = postgresql.ENUM(
    "earn", "spend", "return", "promo", name="bonus_kind", create_type=False
)
AUDIT_OPERATION = postgresql.ENUM(
    "INSERT", "UPDATE", "DELETE", name="audit_operation", create_type=False
)


def upgrade() -> None:
    BOOKING_STATUS.create(op.get_bind())
    PAYMENT_OPTION.create(op.get_bind())
    PAID_STATE.create(op.get_bind())
    PAYMENT_STATUS.create(op.get_bind())
    BONUS_KIND.create(op.get_bind())
    AUDIT_OPERATION.create(op.get_bind())
    op.create_table(
        "services",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_services_nonnegative_price")),
        sa.ForeignKeyConstraint(
            ["hotel_id"],
            ["hotels.id"],
            name=op.f("fk_services_hotel_id_hotels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("hotel_id", "name", name=op.f("uq_services_hotel_id_name")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("check_in", sa.Date(), nullable=False),
        sa.Column("check_out", sa.Date(), nullable=False),
        sa.Column("guests", sa.SmallInteger(), nullable=False),
        sa.Column("status", BOOKING_STATUS, server_default="pending", nullable=False),
        sa.Column("payment_option", PAYMENT_OPTION, server_default="full", nullable=False),
        sa.Column("paid_state", PAID_STATE, server_default="unpaid", nullable=False),
        sa.Column("total_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("bonus_points_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("bonus_points_used >= 0", name=op.f("ck_bookings_nonnegative_points")),
        sa.CheckConstraint("check_out > check_in", name=op.f("ck_bookings_valid_stay")),
        sa.CheckConstraint("guests >= 1", name=op.f("ck_bookings_positive_guests")),
        sa.CheckConstraint("total_price >= 0", name=op.f("ck_bookings_nonnegative_total")),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_bookings_room_id_rooms"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bookings_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_bookings_code")),
    )
    op.create_index(
        op.f("ix_bookings_room_id_check_in"), "bookings", ["room_id", "check_in"], unique=False
    )
    op.create_table(
        "booking_services",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_booking_services_nonnegative_price")),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_booking_services_positive_quantity")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_services_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_booking_services_service_id_services"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("booking_id", "service_id", name=op.f("pk_booking_services")),
    )
    op.create_index(
        op.f("ix_booking_services_service_id"), "booking_services", ["service_id"], unique=False
    )
    op.create_table(
        "booking_status_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("old_status", BOOKING_STATUS, nullable=True),
        sa.Column("new_status", BOOKING_STATUS, nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("changed_by", sa.Text(), server_default=sa.text("CURRENT_USER"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_status_history_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_status_history")),
    )
    op.create_index(
        op.f("ix_booking_status_history_booking_id_changed_at"),
        "booking_status_history",
        ["booking_id", "changed_at"],
        unique=False,
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("method_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("status", PAYMENT_STATUS, server_default="pending", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_positive_amount")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_payments_booking_id_bookings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["payment_methods.id"],
            name=op.f("fk_payments_method_id_payment_methods"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_booking_id"), "payments", ["booking_id"], unique=False)
    op.create_table(
        "bonus_accounts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_bonus_accounts_nonnegative_balance")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_bonus_accounts_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonus_accounts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_bonus_accounts_user_id")),
    )
    op.create_table(
        "bonus_transactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", BONUS_KIND, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_bonus_transactions_nonzero_amount")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["bonus_accounts.id"],
            name=op.f("fk_bonus_transactions_account_id_bonus_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_bonus_transactions_booking_id_bookings"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonus_transactions")),
    )
    op.create_index(
        op.f("ix_bonus_transactions_account_id_created_at"),
        "bonus_transactions",
        ["account_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_bonus_transactions_booking_id"), "bonus_transactions", ["booking_id"], unique=False
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("hotel_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_reviews_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hotel_id"], ["hotels.id"], name=op.f("fk_reviews_hotel_id_hotels"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_reviews_booking_id")),
    )
    op.create_index(
        op.f("ix_reviews_hotel_id_created_at"), "reviews", ["hotel_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_reviews_user_id"), "reviews", ["user_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("operation", AUDIT_OPERATION, nullable=False),
        sa.Column("row_pk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("old_row", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_row", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("db_role", sa.Text(), server_default=sa.text("CURRENT_USER"), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "txid", sa.BigInteger(), server_default=sa.text("txid_current()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_table_name_changed_at"),
        "audit_log",
        ["table_name", "changed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_table_name_changed_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_reviews_hotel_id_created_at"), table_name="reviews")
    op.drop_index(op.f("ix_reviews_user_id"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(
        op.f("ix_bonus_transactions_account_id_created_at"), table_name="bonus_transactions"
    )
    op.drop_index(op.f("ix_bonus_transactions_booking_id"), table_name="bonus_transactions")
    op.drop_table("bonus_transactions")
    op.drop_table("bonus_accounts")
    op.drop_index(op.f("ix_payments_booking_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(
        op.f("ix_booking_status_history_booking_id_changed_at"), table_name="booking_status_history"
    )
    op.drop_table("booking_status_history")
    op.drop_index(op.f("ix_booking_services_service_id"), table_name="booking_services")
    op.drop_table("booking_services")
    op.drop_index(op.f("ix_bookings_room_id_check_in"), table_name="bookings")
    op.drop_table("bookings")
    op.drop_table("services")
    AUDIT_OPERATION.drop(op.get_bind())
    BONUS_KIND.drop(op.get_bind())
    PAYMENT_STATUS.drop(op.get_bind())
    PAID_STATE.drop(op.get_bind())
    PAYMENT_OPTION.drop(op.get_bind())
    BOOKING_STATUS.drop(op.get_bind())
