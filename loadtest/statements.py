"""The heaviest statements by execution time, from pg_stat_statements: what a load run spent
the database's time on. A run resets the statistics when it starts (`reset`), so `top`
afterwards covers that run; `Top.since` says from when the figures count.

The extension is created by revision 0015; the server must preload the library (the
embedded server and every Patroni node do). Sync psycopg: callers are CLI commands and
tests, and the load runner calls `reset` in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from hotel_models.settings import libpq_url
from loadtest.db import APPLICATION_NAME, LoadError, unreachable

EXTENSION = "pg_stat_statements"
NOT_INSTALLED = (
    "pg_stat_statements is not installed in this database: run `hotel migrate head` as a "
    "superuser (revision 0015 creates it)"
)
NOT_LOADED = (
    "pg_stat_statements is not loaded by the server: it needs shared_preload_libraries = "
    "'pg_stat_statements' and a restart (`hotel up` does both for the local server; "
    "`hotel cluster down` then `up` for the HA stack)"
)


class StatementsUnavailable(LoadError):
    """pg_stat_statements cannot be read here; the message is one line saying how to fix it."""


@dataclass(frozen=True)
class Statement:
    """One normalised statement (constants as $1, $2 ...) summed over the roles running it."""

    query: str  # on one line
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    share: float  # of the database's total execution time, 0..1


@dataclass(frozen=True)
class Top:
    since: datetime  # the last reset: the figures count from then
    total_ms: float  # every statement of the database, not only those listed
    statements: list[Statement]  # heaviest first


def _schema(conn: psycopg.Connection) -> str | None:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = %s",
        [EXTENSION],
    ).fetchone()
    return None if row is None else str(row[0])


def reset(conn: psycopg.Connection) -> bool:
    """Empty the statistics of every database (so `since` moves too). False, without an
    error, when the extension is missing or not loaded, or this role may not reset it."""
    try:
        with conn.transaction():
            schema = _schema(conn)
            if schema is None:
                return False
            allowed = conn.execute(
                "SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE')) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = %s AND p.proname = 'pg_stat_statements_reset'",
                [schema],
            ).fetchone()
            if not (allowed and allowed[0]):
                return False
            conn.execute(
                sql.SQL("SELECT {}.pg_stat_statements_reset()").format(sql.Identifier(schema))
            )
    except (
        psycopg.errors.ObjectNotInPrerequisiteState,  # not in shared_preload_libraries
        psycopg.errors.InsufficientPrivilege,
    ):
        return False
    return True


TOP = """
WITH per_statement AS (
    SELECT min(query) AS query, sum(calls)::bigint AS calls,
           sum(total_exec_time) AS total_ms, sum(rows)::bigint AS rows,
           sum(shared_blks_hit)::bigint AS hit, sum(shared_blks_read)::bigint AS read
    FROM {schema}.pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
    GROUP BY queryid
)
SELECT query, calls, total_ms, total_ms / nullif(calls, 0), rows, hit, read,
       coalesce(total_ms / nullif(sum(total_ms) OVER (), 0), 0), sum(total_ms) OVER ()
FROM per_statement ORDER BY total_ms DESC LIMIT %(limit)s
"""


def top(conn: psycopg.Connection, limit: int = 10) -> Top:
    """The `limit` statements of the current database with the most execution time since the
    last reset. Raises StatementsUnavailable when the extension is missing or not loaded."""
    try:
        with conn.transaction():
            schema = _schema(conn)
            if schema is None:
                raise StatementsUnavailable(NOT_INSTALLED)
            name = sql.Identifier(schema)
            since_row = conn.execute(
                sql.SQL("SELECT stats_reset FROM {}.pg_stat_statements_info").format(name)
            ).fetchone()
            rows = conn.execute(sql.SQL(TOP).format(schema=name), {"limit": limit}).fetchall()
    except psycopg.errors.ObjectNotInPrerequisiteState:
        raise StatementsUnavailable(NOT_LOADED) from None
    assert since_row is not None  # the view always has its one row
    statements = [
        Statement(
            query=" ".join(str(query).split()),
            calls=int(calls),
            total_ms=float(total),
            mean_ms=float(mean or 0.0),
            rows=int(count),
            shared_blks_hit=int(hit),
            shared_blks_read=int(read),
            share=float(share),
        )
        for query, calls, total, mean, count, hit, read, share, _ in rows
    ]
    return Top(
        since=since_row[0],
        total_ms=float(rows[0][-1]) if rows else 0.0,
        statements=statements,
    )


def _connect(url: str) -> psycopg.Connection:
    """A connection of its own, as the URL's login role (the load's sessions SET ROLE to the
    service role, which may not reset)."""
    return psycopg.connect(
        libpq_url(url), autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME
    )


def reset_at(url: str) -> bool:
    """`reset` on a connection of its own; False also when unreachable."""
    try:
        with _connect(url) as conn:
            return reset(conn)
    except psycopg.OperationalError:
        return False


def top_at(url: str, limit: int = 10) -> Top:
    """`top` on a connection of its own; an unreachable server is a one-line LoadError."""
    try:
        with _connect(url) as conn:
            return top(conn, limit)
    except psycopg.OperationalError as exc:
        raise unreachable(exc) from None
