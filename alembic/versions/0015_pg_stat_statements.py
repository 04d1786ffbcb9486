"""pg_stat_statements in the database: which statements the service spends its time in.

Revision ID: 0015
Revises: 0014

The library itself must be preloaded by the server (shared_preload_libraries: the embedded
server and every Patroni node are configured so); this creates the views and functions that
read it (`hotel explain --top`, loadtest.statements). Creating the extension needs no preload.

pg_stat_statements is not a trusted extension: only a superuser can create it. Migrations
run as the server's superuser here (`hotel up`, the compose `migrate` service). Where the
migrating role is not one (a managed server), a superuser creates it beforehand and this
revision passes: IF NOT EXISTS is checked before the privilege.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public")


def downgrade() -> None:
    op.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
