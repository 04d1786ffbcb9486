"""Adopting the earlier system's database: a home for its descriptive columns, the quarantine
of rows that break a rule, the id map, and a `legacy` schema of read-only views.

Revision ID: 0018
Revises: 0017

- partner_types.description, partners.second_name, rooms.description, amenities.description,
  facilities.description: the earlier columns the new schema had left out.
- adoption_quarantine: every earlier row `hotel adopt` could not carry over, with the rule it
  broke and the old row as jsonb; adoption_id_map: old ids that could not stay the same.
  Both written once by the adoption (one audit event), so not audited row by row.
- legacy: views with the earlier tables' names, columns and enum values over the new tables,
  so the analysts' saved SQL runs unchanged with `SET search_path = legacy`. Read-only (they
  join or compute, and `analytic` gets SELECT only). Dates the earlier schema kept as `date`
  are the UTC day of the new timestamps (adoption writes an old date as UTC midnight).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from hotel_models import roles

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANALYTIC = roles.quote_ident(roles.ANALYTIC)
DESCRIPTIVE = (
    ("partner_types", "description"),
    ("partners", "second_name"),
    ("rooms", "description"),
    ("amenities", "description"),
    ("facilities", "description"),
)
ENUMS = {
    "booking_status_enum": ("new", "canceled", "in_process", "done"),
    "paid_enum": ("yes", "no"),
    "payment_status_enum": ("pending", "completed", "failed"),
}


def _day(column: str) -> str:
    return f"({column} AT TIME ZONE 'UTC')::date"


def _booking_status(column: str) -> str:
    return (
        f"(CASE {column} WHEN 'pending' THEN 'new' WHEN 'cancelled' THEN 'canceled' "
        "WHEN 'completed' THEN 'done' ELSE 'in_process' END)::legacy.booking_status_enum"
    )


# Frozen as of this revision: view -> SELECT over the public tables.
VIEWS = {
    "partnertype": """
SELECT id::int AS partner_type_id, name AS type_name, description FROM public.partner_types""",
    "partner": """
SELECT id::int AS partner_id, partner_type_id::int, name, second_name, email, phone, login
FROM public.partners""",
    "hotel": """
SELECT id::int AS hotel_id, partner_id::int, stars::int AS rating, name AS hotel_name, address,
       city, phone, email, description
FROM public.hotels""",
    "users": """
SELECT u.id::int AS user_id, a.id::int AS bonus_account_id, u.first_name AS name,
       u.last_name AS second_name, u.email, u.phone, u.login
FROM public.users u LEFT JOIN public.bonus_accounts a ON a.user_id = u.id""",
    "roomfacility": """
SELECT id::int AS facility_id, name AS facility_name, description AS facility_description
FROM public.facilities""",
    "room": """
SELECT id::int AS room_id, hotel_id::int, capacity::int, price, description,
       room_type::text AS room_type
FROM public.rooms""",
    "amenity": """
SELECT id::int AS amenity_id, name AS amenity_name, description AS amenity_description
FROM public.amenities""",
    "hotelamenity": "SELECT hotel_id::int, amenity_id::int FROM public.hotel_amenities",
    "roomhasfacility": "SELECT room_id::int, facility_id::int FROM public.room_facilities",
    "booking": f"""
SELECT b.id::int AS booking_id, b.user_id::int, b.room_id::int,
       (SELECT min(p.id) FROM public.payments p WHERE p.booking_id = b.id)::int AS payment_id,
       b.check_in AS check_in_date, b.check_out AS check_out_date,
       b.guests::int AS guests_number, {_booking_status("b.status")} AS status,
       b.total_price AS price, {_day("b.created_at")} AS date_creation,
       (CASE b.paid_state WHEN 'paid' THEN 'yes' ELSE 'no' END)::legacy.paid_enum AS paid
FROM public.bookings b""",
    "bookingstatushistory": f"""
SELECT id::int AS booking_status_history_id, booking_id::int,
       {_booking_status("old_status")} AS old_status,
       {_booking_status("new_status")} AS new_status, {_day("changed_at")} AS changed_at
FROM public.booking_status_history""",
    "paymentmethod": """
SELECT id::int AS payment_method_id, name AS method_name FROM public.payment_methods""",
    # A refund did not exist: a refunded payment is money not kept, as a failed one.
    "payment": f"""
SELECT id::int AS payment_id, booking_id::int, {_day("created_at")} AS payment_date,
       method_id::int AS payment_method_id,
       (CASE status WHEN 'refunded' THEN 'failed' ELSE status::text END)
         ::legacy.payment_status_enum AS payment_status
FROM public.payments""",
    "userpaymentmethod": """
SELECT id::int AS user_payment_method_id, user_id::int, method_id::int AS payment_method_id,
       coalesce(details ->> 'legacy', details::text)::varchar AS details
FROM public.user_payment_methods""",
    "bonus_account": """
SELECT a.id::int AS bonus_account_id, a.user_id::int,
       (SELECT max(t.id) FROM public.bonus_transactions t
        WHERE t.account_id = a.id)::int AS transaction_id
FROM public.bonus_accounts a""",
    # The earlier ledger kept a magnitude and a type; ours keeps the sign.
    "bonus_transaction": f"""
SELECT id::int AS transaction_id, account_id::int AS bonus_account_id,
       {_day("created_at")} AS transaction_date, abs(amount)::numeric AS amount,
       (CASE WHEN amount > 0 THEN 'earn' ELSE 'spend' END)::varchar AS transaction_type
FROM public.bonus_transactions""",
    "review": f"""
SELECT id::int AS review_id, user_id::int, hotel_id::int, comment AS comment_text,
       {_day("created_at")} AS date_creation
FROM public.reviews""",
    # One earlier service became one per hotel that sold it (adoption_id_map): one row per
    # old id again; services created since keep their own id.
    "additional_service": """
SELECT DISTINCT ON (coalesce(m.old_id, s.id)) coalesce(m.old_id, s.id)::int AS service_id,
       s.price, s.name AS service_name, s.description AS service_description
FROM public.services s
LEFT JOIN public.adoption_id_map m ON m.source_table = 'additional_service' AND m.new_id = s.id
ORDER BY coalesce(m.old_id, s.id), s.id""",
    "booking_additional_service": """
SELECT bs.booking_id::int, coalesce(m.old_id, bs.service_id)::int AS service_id
FROM public.booking_services bs
LEFT JOIN public.adoption_id_map m
  ON m.source_table = 'additional_service' AND m.new_id = bs.service_id""",
}


def upgrade() -> None:
    for table, column in DESCRIPTIVE:
        op.add_column(table, sa.Column(column, sa.Text(), nullable=True))
    op.create_table(
        "adoption_quarantine",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source_table", sa.Text(), nullable=False),
        sa.Column("old_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("old_row", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "adopted_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_quarantine")),
    )
    op.create_index(
        op.f("ix_adoption_quarantine_source_table_reason"),
        "adoption_quarantine",
        ["source_table", "reason"],
    )
    op.create_table(
        "adoption_id_map",
        sa.Column("source_table", sa.Text(), nullable=False),
        sa.Column("old_id", sa.BigInteger(), nullable=False),
        sa.Column("new_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source_table", "old_id", "new_id", name=op.f("pk_adoption_id_map")
        ),
    )
    op.create_index(
        op.f("ix_adoption_id_map_source_table_new_id"),
        "adoption_id_map",
        ["source_table", "new_id"],
    )
    op.execute("CREATE SCHEMA legacy")
    for name, values in ENUMS.items():
        labels = ", ".join(f"'{v}'" for v in values)
        op.execute(f"CREATE TYPE legacy.{name} AS ENUM ({labels})")
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW legacy.{name} AS {query.strip()}")
    op.execute(f"GRANT USAGE ON SCHEMA legacy TO {ANALYTIC}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA legacy TO {ANALYTIC}")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT ON ALL TABLES IN SCHEMA legacy FROM {ANALYTIC}")
    op.execute(f"REVOKE USAGE ON SCHEMA legacy FROM {ANALYTIC}")
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW legacy.{name}")
    for name in reversed(ENUMS):
        op.execute(f"DROP TYPE legacy.{name}")
    op.execute("DROP SCHEMA legacy")
    op.drop_index(op.f("ix_adoption_id_map_source_table_new_id"), table_name="adoption_id_map")
    op.drop_table("adoption_id_map")
    op.drop_index(
        op.f("ix_adoption_quarantine_source_table_reason"), table_name="adoption_quarantine"
    )
    op.drop_table("adoption_quarantine")
    for table, column in reversed(DESCRIPTIVE):
        op.drop_column(table, column)
