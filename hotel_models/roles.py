"""Database roles the schema relies on, and reconciliation of analyst logins from settings.

Roles are cluster-wide while migrations are per database, so every statement here is
idempotent, and dropping a role that another database still uses is skipped with a NOTICE
instead of failing the migration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, TextClause, text

from hotel_models.settings import Settings

ANALYTIC = "analytic"
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


def scram_verifier(connection: Connection, name: str, password: str) -> str:
    """libpq's own SCRAM-SHA-256 encoding (PQencryptPasswordConn): the plain password
    never travels to the server, so it cannot end up in a server log."""
    pgconn = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
    verifier: bytes = pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    return verifier.decode()


def plan_analysts(settings: Settings, connection: Connection | None) -> list[AnalystPlan]:
    """Who should exist, with what credential. Offline (no connection): no credentials."""
    plans = []
    for name in settings.analyst_names():
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
        plans.append(AnalystPlan(name, verifier))
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
HOTEL_LOAD = "hotel_load"
HOTEL_MONITOR = "hotel_monitor"


def sync_service_logins(connection: Connection, settings: Settings) -> list[str]:
    """The compose services' own logins, for those whose password is set (HOTEL_LOAD_PASSWORD,
    HOTEL_MONITOR_PASSWORD), so only migrate, seed, backups and Patroni use the superuser.

    hotel_load is NOINHERIT: it can do nothing until its sessions SET ROLE hotel_app (the
    service) or analytic (the analysts' reports), as the load generator's do. hotel_monitor
    reads the statistics views (pg_monitor) and the tables the db exporter counts (analytic).
    Returns the role names it set.
    """
    wanted = (
        (HOTEL_LOAD, settings.load_password, "NOINHERIT", (HOTEL_APP, ANALYTIC)),
        (HOTEL_MONITOR, settings.monitor_password, "INHERIT", ("pg_monitor", ANALYTIC)),
    )
    done = []
    for name, secret, inherit, member_of in wanted:
        if secret is None:
            continue
        verifier = scram_verifier(connection, name, secret.get_secret_value())
        role = quote_ident(name)
        for statement in (
            create_role_if_missing(name, "LOGIN"),
            f"ALTER ROLE {role} LOGIN {inherit} PASSWORD {quote_literal(verifier)}",
            f"GRANT {', '.join(quote_ident(r) for r in member_of)} TO {role}",
        ):
            connection.exec_driver_sql(statement)
        done.append(name)
    return done


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
