"""The db exporter against a real database: every query answers, and the whole-table ones
run at most once per MIN_INTERVAL (pg_stat_statements counts what really ran)."""

from __future__ import annotations

import psycopg
from prometheus_client.core import Metric

from hotel_models.settings import libpq_url
from loadtest.statements import reset_at
from monitor.db_exporter import MIN_INTERVAL, DatabaseCollector


def executions(url: str, fragment: str) -> int:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s "
            "AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [f"%{fragment}%"],
        ).fetchone()
    return int(row[0]) if row else 0


def test_whole_table_queries_run_at_most_once_per_interval(head_url: str) -> None:
    assert MIN_INTERVAL["bookings"] == 60.0
    assert reset_at(head_url)
    now = [1000.0]
    collector = DatabaseCollector(libpq_url(head_url), clock=lambda: now[0])

    def scrape() -> dict[str, Metric]:
        return {metric.name: metric for metric in collector.collect()}

    first = scrape()
    assert first["hotel_db_up"].samples[0].value == 1
    assert [s.value for s in first["hotel_db_query_failed"].samples] == [0.0] * 7
    now[0] += 59
    second = scrape()
    assert second["hotel_bookings"].samples == first["hotel_bookings"].samples
    assert executions(head_url, "unnest(enum_range(") == 1  # served again
    assert executions(head_url, "created_at > now() - interval") == 2  # cheap: every scrape
    now[0] += 2
    scrape()
    assert executions(head_url, "unnest(enum_range(") == 2
