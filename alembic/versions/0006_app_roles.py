"""Least-privilege roles: `hotel_owner` (owns the rule functions) and `hotel_app` (the service).

Revision ID: 0006
Revises: 0005

hotel_app reads and writes the business tables and nothing else: no DDL, no TRUNCATE, no
direct writes to audit_log or booking_status_history (triggers owned by hotel_owner write
those). PostgreSQL 15 already denies CREATE on schema public to PUBLIC; the REVOKE states it
for older servers, so the downgrade has nothing to restore on 15.
"""

from collections.abc import Sequence

from alembic import op

from hotel_models import roles

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER = roles.quote_ident(roles.HOTEL_OWNER)
APP = roles.quote_ident(roles.HOTEL_APP)
# Frozen: the business tables as of this revision (later revisions grant their own tables).
APP_WRITES = (
    "partner_types, partners, hotels, amenities, hotel_amenities, users, payment_methods, "
    "user_payment_methods, rooms, room_rates, facilities, room_facilities, services, "
    "bookings, booking_services, payments, bonus_accounts, bonus_transactions, reviews"
)
# The role acting for a statement, also inside SECURITY DEFINER functions (where
# current_user is the function's owner): SET ROLE's target, else the login role.
INVOKING_ROLE = """
CREATE FUNCTION invoking_role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE current_setting('role') WHEN 'none' THEN session_user::text
         ELSE current_setting('role') END
$$"""


def upgrade() -> None:
    op.execute(roles.create_role_if_missing(roles.HOTEL_OWNER))
    op.execute(roles.create_role_if_missing(roles.HOTEL_APP, "LOGIN"))
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    op.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {OWNER}")
    op.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {OWNER}")
    op.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {OWNER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO {OWNER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO {OWNER}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {APP_WRITES} TO {APP}")
    op.execute(f"GRANT SELECT ON booking_status_history TO {APP}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO {APP}")
    op.execute(INVOKING_ROLE)


def downgrade() -> None:
    op.execute("DROP FUNCTION invoking_role()")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE ON SEQUENCES FROM {APP}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {APP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {OWNER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {OWNER}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {OWNER}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {OWNER}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {OWNER}")
    op.execute(roles.drop_roles_if_unused(roles.HOTEL_APP, roles.HOTEL_OWNER))
