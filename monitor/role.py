"""The monitoring role, `hotel_monitor`: a login that holds only `pg_monitor`, which every
exporter of ours and postgres_exporter use, and how to reach a node as it. Apart from the
collectors so the stacks can set it up without loading prometheus_client."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.conninfo
import psycopg.sql

MONITOR_ROLE = "hotel_monitor"
# Its CONNECTION LIMIT: the exporters' share of each node's max_connections (the HA stack
# keeps it free of HAProxy's connections, deploy/cluster/topology.py).
MONITOR_CONNECTION_LIMIT = 10
DATABASE = "hotel"  # where revision 0015 created the extension; it shows every database

Conn = psycopg.Connection[Any]


def ensure_monitor_role(conn: Conn, password: str) -> None:
    """Create or update the monitoring login (run as a superuser, on the primary: roles are
    cluster-wide and replicate). It reads statistics and settings (pg_monitor) and, once the
    schema's roles exist, what analysts read (analytic: the db exporter's business counts, never
    a secret column); it writes nothing. The password travels as a SCRAM verifier only."""
    verifier = conn.pgconn.encrypt_password(
        password.encode(), MONITOR_ROLE.encode(), b"scram-sha-256"
    ).decode()
    role = psycopg.sql.Identifier(MONITOR_ROLE)
    with conn.transaction():
        # The verifier must not reach pg_stat_statements (utility statements keep their text).
        conn.execute("SET LOCAL pg_stat_statements.track_utility = off")
        exists = conn.execute("SELECT FROM pg_roles WHERE rolname = %s", [MONITOR_ROLE])
        if exists.fetchone() is None:
            conn.execute(psycopg.sql.SQL("CREATE ROLE {}").format(role))
        conn.execute(
            psycopg.sql.SQL(
                "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {}"
            ).format(role, MONITOR_CONNECTION_LIMIT, psycopg.sql.Literal(verifier))
        )
        conn.execute(psycopg.sql.SQL("GRANT pg_monitor TO {}").format(role))
        if conn.execute("SELECT to_regrole('analytic') IS NOT NULL").fetchone() == (True,):
            conn.execute(psycopg.sql.SQL("GRANT analytic TO {}").format(role))


def node_conninfo(host: str, port: int, password: str, database: str = DATABASE) -> str:
    return psycopg.conninfo.make_conninfo(
        host=host, port=port, user=MONITOR_ROLE, password=password, dbname=database
    )


def parse_nodes(specs: list[str], password: str, database: str = DATABASE) -> dict[str, str]:
    """`pg0=127.0.0.1:5432` options as node name -> conninfo; ValueError names a bad one."""
    nodes = {}
    for spec in specs:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        if not (name and host and port.isdigit()):
            raise ValueError(f"--node {spec!r}: expected NAME=HOST:PORT, e.g. pg0=127.0.0.1:5432")
        nodes[name] = node_conninfo(host, int(port), password, database)
    return nodes
