"""The per-node statements reader against a real server: the monitoring role reads every
role's statements and nothing of the business, and query texts are read once."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from hotel_models.settings import libpq_url
from loadtest.statements import reset_at
from monitor.node_stats import NodeStatsCollector
from monitor.role import MONITOR_ROLE, ensure_monitor_role, parse_nodes

# Three statements that dominate the execution time once the statistics are reset (long
# enough that no catalogue query of a busy server, the collector's own included, outweighs them).
HEAVY = (
    "SELECT pg_sleep(0.5)",
    "SELECT 1 FROM pg_sleep(0.6)",
    "SELECT pg_sleep(0.7)::text",
)


@pytest.fixture(scope="module")
def monitor_conninfo(head_url: str) -> str:
    """hotel_monitor's conninfo on the migrated database (whose revision 0015 created the
    extension), the role set up as `hotel cluster monitor up` does."""
    password = secrets.token_urlsafe(16)
    with psycopg.connect(libpq_url(head_url), autocommit=True) as conn:
        ensure_monitor_role(conn, password)
        ensure_monitor_role(conn, password)  # idempotent: `up` runs it every time
    url = make_url(head_url).set(drivername="postgresql", username=MONITOR_ROLE, password=password)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def as_monitor(monitor_conninfo: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(monitor_conninfo, autocommit=True) as conn:
        yield conn


def test_the_role_holds_pg_monitor_and_analytic_only(head_url: str, monitor_conninfo: str) -> None:
    with psycopg.connect(libpq_url(head_url)) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
            "rolcanlogin, array(SELECT b.rolname FROM pg_auth_members m "
            "JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) "
            "FROM pg_roles r WHERE rolname = %s",
            [MONITOR_ROLE],
        ).fetchone()
    assert row == (False, False, False, False, False, True, ["analytic", "pg_monitor"])


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT password_hash FROM users LIMIT 1",
        "SELECT password_hash FROM partners LIMIT 1",
        "UPDATE payments SET amount = 0",
        "DELETE FROM audit_log",
        "INSERT INTO bookings DEFAULT VALUES",
        "CREATE TABLE stolen (x int)",
        "SELECT pg_stat_statements_reset()",
        "SELECT pg_read_file('postgresql.conf')",
        "SET ROLE hotel_app",
    ],
)
def test_the_monitoring_role_cannot_touch_the_business(
    as_monitor: psycopg.Connection, attack: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_monitor.execute(attack)


def test_the_monitoring_role_cannot_end_other_sessions(
    head_url: str, as_monitor: psycopg.Connection
) -> None:
    with psycopg.connect(libpq_url(head_url)) as victim:
        pid = victim.info.backend_pid
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_monitor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert victim.execute("SELECT 1").fetchone() == (1,)


def test_it_reads_every_roles_statement_texts(
    head_url: str, as_monitor: psycopg.Connection
) -> None:
    """pg_read_all_stats: another role's statements with their text, not
    '<insufficient privilege>'."""
    with psycopg.connect(libpq_url(head_url), autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
    rows = as_monitor.execute(
        "SELECT query FROM pg_stat_statements WHERE query LIKE %s",
        ["SELECT count(*) FROM bookings WHERE status = $1"],
    ).fetchall()
    assert rows


def test_collector_reports_the_heaviest_statements_and_reads_texts_once(
    head_url: str, monitor_conninfo: str
) -> None:
    assert reset_at(head_url)
    with psycopg.connect(libpq_url(head_url), autocommit=True) as conn:
        for statement in HEAVY:
            conn.execute(statement)
    collector = NodeStatsCollector(
        {"pg0": monitor_conninfo, "gone": "host=127.0.0.1 port=1 user=x dbname=x"}, top=3
    )
    try:
        first = {m.name: m for m in collector.collect()}
        second = {m.name: m for m in collector.collect()}
    finally:
        collector.close()
    assert collector.texts_read == 1  # the same three statements: texts served from memory
    up = {s.labels["node"]: s.value for s in second["hotel_pg_node_stats_up"].samples}
    assert up == {"pg0": 1.0, "gone": 0.0}
    for scrape in (first, second):
        seconds = {s.labels["query"]: s.value for s in scrape["hotel_pg_statement_seconds"].samples}
        assert set(seconds) == {
            "SELECT pg_sleep($1)",
            "SELECT $1 FROM pg_sleep($2)",
            "SELECT pg_sleep($1)::text",
        }
        assert all(value >= 0.5 for value in seconds.values())
        calls = [s.value for s in scrape["hotel_pg_statement_calls"].samples]
        assert calls == [1, 1, 1]
        assert {s.labels["datname"] for s in scrape["hotel_pg_statement_rows"].samples} == {
            make_url(head_url).database
        }
    (started,) = second["hotel_pg_postmaster_start_time_seconds"].samples
    assert started.labels == {"node": "pg0"}
    assert started.value > 1.7e9


def test_node_options() -> None:
    nodes = parse_nodes(["pg0=127.0.0.1:5432", "pg1=pg1:5433"], "secret")
    assert list(nodes) == ["pg0", "pg1"]
    assert psycopg.conninfo.conninfo_to_dict(nodes["pg1"]) == {
        "host": "pg1",
        "port": "5433",
        "user": MONITOR_ROLE,
        "password": "secret",
        "dbname": "hotel",
    }
    for bad in ("pg0", "pg0=host", "=h:1", "pg0=h:port"):
        with pytest.raises(ValueError, match="NAME=HOST:PORT"):
            parse_nodes([bad], "secret")
