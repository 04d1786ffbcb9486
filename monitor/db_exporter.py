"""Our exporter of business and health metrics, read from the primary with plain SQL.

Why our own and not postgres_exporter's custom queries: `--extend.query-path` is deprecated
since postgres_exporter 0.13 (Debian ships 0.11.1, where it still works), and sql_exporter is
not packaged here. A prometheus_client collector is about a hundred lines, runs the same SQL
we test, and ships in our image. postgres_exporter still runs once per node for the server's
own statistics.

It follows the primary across failovers: every scrape opens a fresh connection to the URL it
is given -- HAProxy's primary port -- with target_session_attrs=read-write, so it reads the
current primary or reports hotel_db_up 0, never a demoted node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hotel_models.settings import libpq_url
from monitor.node_stats import NodeStatsCollector

# Tables written by every booking: their dead tuples show whether autovacuum keeps up.
HOT_TABLES = (
    "bookings",
    "booking_status_history",
    "payments",
    "bonus_accounts",
    "bonus_transactions",
    "audit_log",
)
STATEMENT_TIMEOUT_MS = 5000  # a slow query costs one scrape, never piles up on the primary

Conn = psycopg.Connection[Any]
Query = Callable[[Conn], Iterator[Metric]]


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _rows(conn: Conn, sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def _num(value: object) -> float:
    """SQL numbers (int, numeric, float) as a sample value."""
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def bookings(conn: Conn) -> Iterator[Metric]:
    by_status = _gauge("hotel_bookings", "Bookings by status.", ["status"])
    for status, count in _rows(
        conn,
        "SELECT s::text, count(b.id) FROM unnest(enum_range(NULL::booking_status)) s "
        "LEFT JOIN bookings b ON b.status = s GROUP BY 1",
    ):
        by_status.add_metric([str(status)], _num(count))
    yield by_status


def recent_bookings(conn: Conn) -> Iterator[Metric]:
    (recent,) = _rows(
        conn, "SELECT count(*) FROM bookings WHERE created_at > now() - interval '1 minute'"
    )
    yield _value("hotel_bookings_created_last_minute", "Bookings created in the last 60 s.", recent)


def money(conn: Conn) -> Iterator[Metric]:
    (row,) = _rows(
        conn,
        "SELECT coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0)"
        " - coalesce(sum(amount) FILTER (WHERE status = 'refunded'), 0) FROM payments",
    )
    yield _value("hotel_revenue", "Completed payments minus refunds, in the booking currency.", row)
    (row,) = _rows(conn, "SELECT coalesce(sum(balance), 0) FROM bonus_accounts")
    yield _value("hotel_bonus_points_outstanding", "Bonus points held by all guests.", row)


def occupancy(conn: Conn) -> Iterator[Metric]:
    ((bookable, occupied),) = _rows(
        conn,
        "SELECT (SELECT count(*) FROM rooms WHERE status = 'available'),"
        " (SELECT count(DISTINCT room_id) FROM bookings WHERE status <> 'cancelled'"
        "  AND check_in <= current_date AND check_out > current_date)",
    )
    yield _value("hotel_rooms_bookable", "Rooms not under maintenance.", (bookable,))
    yield _value("hotel_rooms_occupied_today", "Rooms with a live stay tonight.", (occupied,))
    ratio = _num(occupied) / _num(bookable) if bookable else 0.0
    yield _value("hotel_occupancy_today_ratio", "Occupied / bookable rooms tonight.", (ratio,))


def audit(conn: Conn) -> Iterator[Metric]:
    # max(id) is one index probe where count(*) would scan the whole log.
    ((last_id, size),) = _rows(
        conn, "SELECT coalesce(max(id), 0), pg_total_relation_size('audit_log') FROM audit_log"
    )
    yield _value(
        "hotel_audit_log_last_id", "Highest audit_log id: its rate is the growth.", (last_id,)
    )
    yield _value("hotel_audit_log_bytes", "audit_log with indexes and TOAST.", (size,))


def replication(conn: Conn) -> Iterator[Metric]:
    seconds = _gauge(
        "hotel_pg_replication_lag_seconds",
        "Replay lag of each replica (primary's view).",
        ["replica"],
    )
    lag_bytes = _gauge(
        "hotel_pg_replication_lag_bytes", "WAL the replica has not replayed yet.", ["replica"]
    )
    streaming = 0
    # replay_lag is NULL once an idle replica has caught up: that is no lag.
    for name, state, lag_s, lag_b in _rows(
        conn,
        "SELECT application_name, state, coalesce(extract(epoch FROM replay_lag), 0),"
        " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)"
        " FROM pg_stat_replication",
    ):
        seconds.add_metric([str(name)], _num(lag_s))
        lag_bytes.add_metric([str(name)], _num(lag_b))
        streaming += state == "streaming"
    yield seconds
    yield lag_bytes
    yield _value(
        "hotel_pg_replicas_streaming", "Replicas streaming from the primary.", (streaming,)
    )


def activity(conn: Conn) -> Iterator[Metric]:
    (row,) = _rows(
        conn,
        "SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) FROM pg_stat_activity"
        " WHERE xact_start IS NOT NULL AND backend_type = 'client backend'"
        " AND pid <> pg_backend_pid()",
    )
    yield _value("hotel_pg_longest_transaction_seconds", "Age of the oldest open transaction.", row)
    dead = _gauge("hotel_pg_dead_tuples", "Dead tuples of the hot tables.", ["table"])
    names = ", ".join(f"'{t}'" for t in HOT_TABLES)
    for table, count in _rows(
        conn, f"SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE relname IN ({names})"
    ):
        dead.add_metric([str(table)], _num(count))
    yield dead


def _value(name: str, doc: str, row: tuple[Any, ...]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=_num(row[0]))


QUERIES: dict[str, Query] = {
    "bookings": bookings,
    "recent_bookings": recent_bookings,
    "money": money,
    "occupancy": occupancy,
    "audit": audit,
    "replication": replication,
    "activity": activity,
}


# Seconds a query's result is served again before it runs anew (sql_exporter's min_interval):
# these read whole tables, about 0.6 s of the primary's time on 1M bookings, and the local
# stack scrapes every 5 s. Business gauges a minute old are fresh enough.
MIN_INTERVAL = {"bookings": 60.0, "money": 60.0, "occupancy": 60.0}


class DatabaseCollector(Collector):
    """Runs the queries at scrape time (the whole-table ones at most every MIN_INTERVAL); a
    failing query is reported, the others still are."""

    def __init__(self, conninfo: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.conninfo = conninfo
        self.clock = clock
        self._cached: dict[str, tuple[float, list[Metric]]] = {}

    def _run(self, name: str, query: Query, conn: Conn) -> list[Metric]:
        interval = MIN_INTERVAL.get(name)
        if interval is None:
            return list(query(conn))
        now = self.clock()
        cached = self._cached.get(name)
        if cached is None or now - cached[0] >= interval:
            cached = self._cached[name] = (now, list(query(conn)))
        return cached[1]

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        up = 0.0
        failed = _gauge("hotel_db_query_failed", "1 if the query failed this scrape.", ["query"])
        try:
            with psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=3,
                target_session_attrs="read-write",
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                application_name="hotel-db-exporter",
            ) as conn:
                up = 1.0
                for name, query in QUERIES.items():
                    try:
                        yield from self._run(name, query, conn)
                        failed.add_metric([name], 0.0)
                    except psycopg.Error:
                        failed.add_metric([name], 1.0)
        except psycopg.OperationalError:
            pass
        yield failed
        yield GaugeMetricFamily("hotel_db_up", "1 if the primary answered this scrape.", value=up)
        yield GaugeMetricFamily(
            "hotel_db_scrape_duration_seconds",
            "Time the queries took.",
            value=time.monotonic() - started,
        )


def serve(url: str, host: str, port: int, nodes: dict[str, str] | None = None) -> None:
    """Serve /metrics until killed (the local stack's process, the compose service); with
    `nodes` (name -> conninfo of the monitoring role) also each node's statements."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(libpq_url(url)))
    if nodes:
        registry.register(NodeStatsCollector(nodes))
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        thread.join()
    finally:
        server.shutdown()
