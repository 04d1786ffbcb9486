"""Database roles the schema relies on, and reconciliation of analyst logins from settings.

Roles are cluster-wide while migrations are per database, so every statement here is
idempotent, and dropping a role that another database still uses is skipped with a NOTICE
instead of failing the migration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.engine import make_url

from hotel_models.settings import Settings, SettingsError

ANALYTIC = "analytic"
# Columns no analyst reads and no audit row copies (revision 0019): password hashes, tokens.
SECRET_COLUMN = "(^|_)(password|passwd|secret|token)(_|$)"  # noqa: S105 (a name pattern)
ANALYST_COMMENT = "hotel analyst login, managed by `hotel roles sync`"
log = logging.getLogger("hotel.roles")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def as_text(statement: str) -> TextClause:
    """Literal SQL for op.execute: colons in verifiers are not bind parameters."""
    return text(statement.replace(":", "\\:"))


def create_role_if_missing(name: str, attributes: str = "NOLOGIN") -> str:
    return (
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"{quote_literal(name)}) THEN CREATE ROLE {quote_ident(name)} {attributes}; "
        "END IF; END $$"
    )


def drop_analytic_roles() -> str:
    """Drop the managed analysts and `analytic` together, or none of them: when another
    database still uses `analytic`, its analysts must keep working there."""
    managed = (
        "SELECT a.rolname FROM pg_roles a JOIN pg_shdescription d ON d.objoid = a.oid "
        "AND d.classoid = 'pg_authid'::regclass "
        f"WHERE d.description = {quote_literal(ANALYST_COMMENT)}"
    )
    return (
        "DO $$ DECLARE r record; BEGIN BEGIN "
        f"FOR r IN {managed} LOOP EXECUTE format('DROP ROLE %I', r.rolname); END LOOP; "
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = {quote_literal(ANALYTIC)}) "
        f"THEN DROP ROLE {quote_ident(ANALYTIC)}; END IF; "
        "EXCEPTION WHEN dependent_objects_still_exist OR object_in_use THEN "
        "RAISE NOTICE 'analyst roles kept: another database still uses them'; END; END $$"
    )


@dataclass(frozen=True)
class AnalystPlan:
    name: str
    verifier: str | None  # SCRAM-SHA-256 verifier; None: NOLOGIN
    statement_timeout: str = "5min"
    connection_limit: int = 5


def scram_verifier(connection: Connection, name: str, password: str) -> str:
    """libpq's own SCRAM-SHA-256 encoding (PQencryptPasswordConn): the plain password
    never travels to the server, so it cannot end up in a server log."""
    pgconn = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
    verifier: bytes = pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    return verifier.decode()


def refuse_foreign_roles(connection: Connection, names: list[str]) -> None:
    """An analyst name must be new or an analyst already: any other existing role (the
    superuser under another name, a service's login) would be altered by the sync."""
    foreign = connection.execute(
        text(
            "SELECT r.rolname FROM pg_roles r WHERE r.rolname = ANY(:names) "
            "AND shobj_description(r.oid, 'pg_authid') IS DISTINCT FROM :comment "
            "ORDER BY 1"
        ),
        {"names": names, "comment": ANALYST_COMMENT},
    ).scalars()
    for name in foreign:
        raise SettingsError(
            f"HOTEL_ANALYSTS: {name!r} is an existing role that is not an analyst login; "
            "refusing to alter it (choose another name)"
        )


def plan_analysts(settings: Settings, connection: Connection | None) -> list[AnalystPlan]:
    """Who should exist, with what credential. Offline (no connection): no credentials."""
    plans = []
    names = settings.analyst_names()
    if connection is not None:
        refuse_foreign_roles(connection, names)
    for name in names:
        password = settings.analyst_password(name)
        if password is None:
            log.warning(
                "analyst %s has no password (HOTEL_ANALYST_PASSWORD_%s): created NOLOGIN",
                name,
                name.upper(),
            )
        verifier = (
            scram_verifier(connection, name, password)
            if password is not None and connection is not None
            else None
        )
        plans.append(
            AnalystPlan(
                name,
                verifier,
                settings.analyst_statement_timeout,
                settings.analyst_connection_limit,
            )
        )
    return plans


def analyst_statements(plans: list[AnalystPlan], managed_now: set[str]) -> list[str]:
    """Create missing analysts, set credentials, and set removed ones NOLOGIN (never dropped:
    audit history keeps naming them)."""
    statements = []
    for plan in plans:
        role = quote_ident(plan.name)
        statements.append(create_role_if_missing(plan.name))
        if plan.verifier is None:
            statements.append(f"ALTER ROLE {role} NOLOGIN PASSWORD NULL")
        else:
            statements.append(f"ALTER ROLE {role} LOGIN PASSWORD {quote_literal(plan.verifier)}")
        # Role settings are not inherited from `analytic`: each login carries its own.
        statements.append(f"ALTER ROLE {role} CONNECTION LIMIT {int(plan.connection_limit)}")
        statements.append(
            f"ALTER ROLE {role} SET statement_timeout = {quote_literal(plan.statement_timeout)}"
        )
        statements.append(f"COMMENT ON ROLE {role} IS {quote_literal(ANALYST_COMMENT)}")
        statements.append(f"GRANT {quote_ident(ANALYTIC)} TO {role}")
    wanted = {plan.name for plan in plans}
    statements.extend(
        f"ALTER ROLE {quote_ident(name)} NOLOGIN" for name in sorted(managed_now - wanted)
    )
    return statements


def managed_analysts(connection: Connection) -> set[str]:
    rows = connection.execute(
        text(
            "SELECT r.rolname FROM pg_roles r "
            "JOIN pg_shdescription d ON d.objoid = r.oid "
            "AND d.classoid = 'pg_authid'::regclass "
            "WHERE d.description = :comment"
        ),
        {"comment": ANALYST_COMMENT},
    )
    return {row[0] for row in rows}


def sync_analysts(connection: Connection, settings: Settings) -> list[str]:
    """Reconcile analyst logins with settings; returns the statements it ran."""
    statements = analyst_statements(
        plan_analysts(settings, connection), managed_analysts(connection)
    )
    for statement in statements:
        connection.exec_driver_sql(statement)
    return statements


HOTEL_OWNER = "hotel_owner"
HOTEL_APP = "hotel_app"


def login_url(url: str, role: str, password: str) -> str:
    """The same server and database as `url`, logged in as `role` (its own password)."""
    return make_url(url).set(username=role, password=password).render_as_string(False)


def sync_service_roles(connection: Connection, settings: Settings) -> list[str]:
    """Give hotel_app its password from settings (a SCRAM verifier). Without one the role
    is left as it is: a sync run without the secret must not lock the service out."""
    password = settings.resolved_app_password()
    exists = connection.execute(text("SELECT to_regrole(:r) IS NOT NULL"), {"r": HOTEL_APP})
    if password is None or not exists.scalar_one():
        return []
    verifier = scram_verifier(connection, HOTEL_APP, password)
    statement = f"ALTER ROLE {quote_ident(HOTEL_APP)} LOGIN PASSWORD {quote_literal(verifier)}"
    connection.exec_driver_sql(statement)
    return [HOTEL_APP]


def drop_roles_if_unused(*names: str) -> str:
    """Drop the given roles together, or none of them when another database still has
    objects or privileges of theirs (roles are cluster-wide, migrations per database)."""
    drops = " ".join(
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = {quote_literal(name)}) "
        f"THEN DROP ROLE {quote_ident(name)}; END IF;"
        for name in names
    )
    return (
        f"DO $$ BEGIN BEGIN {drops} "
        "EXCEPTION WHEN dependent_objects_still_exist OR object_in_use THEN "
        f"RAISE NOTICE 'roles % kept: another database still uses them', "
        f"{quote_literal(', '.join(names))}; END; END $$"
    )
