"""What Debian's postgres_exporter (0.11.1) does not read, read on every node as a role that
holds only `pg_monitor`: the heaviest statements (pg_stat_statements) and the postmaster's
start time. Served by the db exporter's process (`--node NAME=HOST:PORT`).

0.11.1 has no statements collector (only `database` and `bgwriter`), and its custom queries
(`--extend.query-path`) are deprecated upstream. Reading here also costs the nodes less:
the counters come from `pg_stat_statements(false)`, which only walks the shared hash table,
and the query texts -- kept in a file the server reads whole at every `showtext` call -- are
read once per new statement and kept (`texts_read` counts the reads).

Per node, not through HAProxy: each node counts its own statements (writes on the primary,
searches on the replicas), and a node stays a node across failovers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

TOP = 20  # statements per node: a table a person reads, and bounded series
QUERY_CHARS = 160  # of the normalised text, on one line, in the `query` label
STATEMENT_TIMEOUT_MS = 2000

Conn = psycopg.Connection[Any]
Key = tuple[int, int]  # (dbid, queryid): pg_stat_statements' own key, summed over roles

COUNTERS = """
SELECT s.dbid, s.queryid, d.datname, sum(s.calls)::bigint,
       sum(s.total_exec_time) / 1000.0, sum(s.rows)::bigint
FROM public.pg_stat_statements(false) s JOIN pg_database d ON d.oid = s.dbid
WHERE s.toplevel GROUP BY 1, 2, 3 ORDER BY 5 DESC LIMIT %s
"""
TEXTS = """
SELECT dbid, queryid, min(query) FROM public.pg_stat_statements(true)
WHERE (dbid, queryid) IN (SELECT * FROM unnest(%s::oid[], %s::bigint[])) GROUP BY 1, 2
"""


def one_line(query: str) -> str:
    text = " ".join(query.split())
    return text if len(text) <= QUERY_CHARS else text[: QUERY_CHARS - 1] + "…"


@dataclass
class _Node:
    name: str
    conninfo: str
    conn: Conn | None = None
    texts: dict[Key, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Row:
    key: Key
    datname: str
    calls: int
    seconds: float
    rows: int


class NodeStatsCollector(Collector):
    """One connection per node, kept open (a scrape is then two short reads, no login) and
    opened again after any error; a node that does not answer reports `up` 0."""

    def __init__(self, nodes: dict[str, str], top: int = TOP) -> None:
        self.nodes = [_Node(name, conninfo) for name, conninfo in nodes.items()]
        self.top = top
        self.texts_read = 0
        self._lock = threading.Lock()  # prometheus_client serves scrapes from threads

    def _connect(self, node: _Node) -> Conn:
        if node.conn is None or node.conn.closed:
            node.conn = psycopg.connect(
                node.conninfo,
                autocommit=True,
                connect_timeout=3,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                application_name="hotel-node-stats",
            )
        return node.conn

    def _read(self, node: _Node) -> tuple[float, list[_Row]]:
        conn = self._connect(node)
        row = conn.execute("SELECT extract(epoch FROM pg_postmaster_start_time())").fetchone()
        assert row is not None
        rows = [
            _Row((int(dbid), int(qid)), str(db), int(calls), float(secs), int(n))
            for dbid, qid, db, calls, secs, n in conn.execute(COUNTERS, [self.top]).fetchall()
        ]
        missing = [r.key for r in rows if r.key not in node.texts]
        if missing:
            self.texts_read += 1
            dbids, qids = [k[0] for k in missing], [k[1] for k in missing]
            for dbid, qid, query in conn.execute(TEXTS, [dbids, qids]).fetchall():
                node.texts[(int(dbid), int(qid))] = one_line(str(query))
        # Only the texts of the current top are kept: memory stays bounded by `top`.
        node.texts = {r.key: node.texts.get(r.key, "") for r in rows}
        return float(row[0]), rows

    def collect(self) -> Iterator[Metric]:
        labels = ["node", "datname", "queryid", "query"]
        calls = CounterMetricFamily(
            "hotel_pg_statement_calls", "Calls of a top statement since reset.", labels=labels
        )
        seconds = CounterMetricFamily(
            "hotel_pg_statement_seconds",
            "Execution time of a top statement since reset.",
            labels=labels,
        )
        rows = CounterMetricFamily(
            "hotel_pg_statement_rows", "Rows returned or affected since reset.", labels=labels
        )
        started = GaugeMetricFamily(
            "hotel_pg_postmaster_start_time_seconds", "When the server started.", labels=["node"]
        )
        up = GaugeMetricFamily(
            "hotel_pg_node_stats_up", "1 if the node answered this scrape.", labels=["node"]
        )
        with self._lock:
            for node in self.nodes:
                try:
                    start, top = self._read(node)
                except psycopg.Error:
                    if node.conn is not None:
                        node.conn.close()
                    node.conn = None
                    up.add_metric([node.name], 0.0)
                    continue
                up.add_metric([node.name], 1.0)
                started.add_metric([node.name], start)
                for r in top:
                    values = [node.name, r.datname, str(r.key[1]), node.texts[r.key]]
                    calls.add_metric(values, r.calls)
                    seconds.add_metric(values, r.seconds)
                    rows.add_metric(values, r.rows)
        yield from (calls, seconds, rows, started, up)

    def close(self) -> None:
        for node in self.nodes:
            if node.conn is not None:
                node.conn.close()
