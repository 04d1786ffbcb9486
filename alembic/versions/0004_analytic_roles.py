"""The `analytic` read-only group role and analyst logins from settings.

Revision ID: 0004
Revises: 0003

Passwords come from HOTEL_ANALYST_PASSWORD_<NAME> or HOTEL_ANALYST_PASSWORDS_FILE, are sent
as SCRAM verifiers, and are never derived from names (the earlier system did that). Offline
(--sql) output carries no credential: analysts are created NOLOGIN there, and
`hotel roles sync` sets passwords afterwards.
"""

from collections.abc import Sequence

from alembic import context, op

from hotel_models import roles
from hotel_models.settings import get_settings

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANALYTIC = roles.quote_ident(roles.ANALYTIC)


def upgrade() -> None:
    op.execute(roles.create_role_if_missing(roles.ANALYTIC))
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ANALYTIC}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ANALYTIC}")
    # Tables created later by the migrating role are readable too, without a grant each.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ANALYTIC}")
    connection = None if context.is_offline_mode() else op.get_bind()
    plans = roles.plan_analysts(get_settings(), connection)
    for statement in roles.analyst_statements(plans, managed_now=set()):
        op.execute(roles.as_text(statement))


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {ANALYTIC}")
    op.execute(f"REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM {ANALYTIC}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ANALYTIC}")
    op.execute(roles.drop_analytic_roles())
