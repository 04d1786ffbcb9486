"""Partner types, partners and their hotels.

Revision ID: 0001
Revises: None
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk findings this revision accepts, each with its reason (see deploy/migrate/lint.py).
squawk_waivers = {
    "prefer-text-field": "only alembic_version's varchar(32), which Alembic itself defines",
    "prefer-bigint-over-smallint": "hotels.stars is 1..5 by CHECK; keys are bigint",
}

# Frozen copies of the enum types as this revision made them (the models may move on).


def upgrade() -> None:

    op.create_table(
        "partner_types",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_types")),
        sa.UniqueConstraint("code", name=op.f("uq_partner_types_code")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_type_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("login", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["partner_type_id"],
            ["partner_types.id"],
            name=op.f("fk_partners_partner_type_id_partner_types"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("email", name=op.f("uq_partners_email")),
        sa.UniqueConstraint("login", name=op.f("uq_partners_login")),
    )
    op.create_index(
        op.f("ix_partners_partner_type_id"), "partners", ["partner_type_id"], unique=False
    )
    op.create_table(
        "hotels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("stars", sa.SmallInteger(), nullable=True),
        sa.Column("rating", sa.Numeric(precision=3, scale=2), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_hotels_rating_range")),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_hotels_stars_range")),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_hotels_partner_id_partners"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotels")),
    )
    op.create_index(op.f("ix_hotels_partner_id"), "hotels", ["partner_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_hotels_partner_id"), table_name="hotels")
    op.drop_table("hotels")
    op.drop_index(op.f("ix_partners_partner_type_id"), table_name="partners")
    op.drop_table("partners")
    op.drop_table("partner_types")
