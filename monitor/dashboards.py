"""Grafana dashboards from a compact description: the JSON under monitor/grafana/dashboards
is generated (`hotel cluster render-compose`), committed, and checked current by a test.

Every panel names the service that feeds it (`source`: the database exporters, `hotel load`,
the backup tool). tests/cluster/test_monitoring.py runs every panel's queries against a live
Prometheus fed by the real services.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
Source = Literal["cluster", "load", "backup"]
Kind = Literal["timeseries", "stat", "table"]


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[tuple[str, str], ...]  # (PromQL, legend; a table's column name)
    unit: str = "short"
    kind: Kind = "timeseries"
    source: Source = "cluster"
    columns: tuple[str, ...] = ()  # a table's unit of each target's column, in order
    show_name: bool = False  # a stat showing its legend (a version) rather than the value
    repeat: str | None = None  # one panel per selected value of this variable


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    variables: dict[str, str] = field(default_factory=dict)  # name -> label_values(...) query

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"


def p(
    title: str,
    *targets: tuple[str, str],
    unit: str = "short",
    kind: Kind = "timeseries",
    source: Source = "cluster",
    show_name: bool = False,
    repeat: str | None = None,
) -> Panel:
    return Panel(title, targets, unit, kind, source, show_name=show_name, repeat=repeat)


def table(title: str, *columns: tuple[str, str, str], source: Source = "cluster") -> Panel:
    """Instant queries merged into one row per label set: (PromQL, column name, unit)."""
    return Panel(
        title,
        tuple((expr, name) for expr, name, _ in columns),
        kind="table",
        source=source,
        columns=tuple(unit for _, _, unit in columns),
    )


N = '{node=~"$node"}'
RATE = "$__rate_interval"
EXPORTER = '{job="postgres", node=~"$node"}'  # the postgres_exporter process of each node


def rate_by_node(metric: str, scale: str = "") -> str:
    return f"sum by (node) (rate({metric}{N}[{RATE}])){scale}"


# The settings an operator checks first, one row per node: (setting, unit).
SETTINGS = (
    ("max_connections", "short"),
    ("shared_buffers_bytes", "bytes"),
    ("effective_cache_size_bytes", "bytes"),
    ("work_mem_bytes", "bytes"),
    ("maintenance_work_mem_bytes", "bytes"),
    ("max_wal_size_bytes", "bytes"),
    ("random_page_cost", "none"),
    ("seq_page_cost", "none"),
    ("max_worker_processes", "short"),
    ("max_parallel_workers", "short"),
)
# Every node's transactions: the earlier system's "queries per second".
CLUSTER_QPS = (
    f"sum(rate(pg_stat_database_xact_commit[{RATE}]))"
    f" + sum(rate(pg_stat_database_xact_rollback[{RATE}]))"
)
# pg_stat_bgwriter counts buffers: in bytes with the server's block size.
BLOCK = f" * on (node) max by (node) (pg_settings_block_size{N})"

POSTGRES = Dashboard(
    "hotel-postgres",
    "PostgreSQL (per node)",
    (
        p("Up", (f"pg_up{N}", "{{node}}"), kind="stat"),
        p("Version", (f"pg_static{N}", "{{node}}: {{short_version}}"), kind="stat", show_name=True),
        p(
            "Uptime",
            (f"time() - hotel_pg_postmaster_start_time_seconds{N}", "{{node}}"),
            unit="s",
            kind="stat",
        ),
        p(
            "Queries/s, whole cluster (commits + rollbacks)",
            (
                CLUSTER_QPS,
                "transactions/s",
            ),
            unit="ops",
            kind="stat",
        ),
        table(
            "Settings an operator checks first",
            *(
                (f"max by (node) (pg_settings_{name}{N})", name.removesuffix("_bytes"), unit)
                for name, unit in SETTINGS
            ),
        ),
        p(
            "Connections used",
            (
                f"sum by (node) (pg_stat_activity_count{N})"
                f" / max by (node) (pg_settings_max_connections{N})",
                "{{node}}",
            ),
            unit="percentunit",
        ),
        p(
            "Connections by state",
            (f"sum by (node, state) (pg_stat_activity_count{N})", "{{node}} {{state}}"),
        ),
        p(
            "Transactions/s",
            (f"sum by (node) (rate(pg_stat_database_xact_commit{N}[{RATE}]))", "{{node}} commit"),
            (
                f"sum by (node) (rate(pg_stat_database_xact_rollback{N}[{RATE}]))",
                "{{node}} rollback",
            ),
            unit="ops",
        ),
        p(
            "Cache hit ratio",
            (
                f"sum by (node) (rate(pg_stat_database_blks_hit{N}[{RATE}]))"
                f" / clamp_min(sum by (node) (rate(pg_stat_database_blks_hit{N}[{RATE}]))"
                f" + sum by (node) (rate(pg_stat_database_blks_read{N}[{RATE}])), 1e-9)",
                "{{node}}",
            ),
            unit="percentunit",
        ),
        p(
            "Longest transaction by state",
            (f"max by (node, state) (pg_stat_activity_max_tx_duration{N})", "{{node}} {{state}}"),
            unit="s",
        ),
        p("Locks by mode", (f"sum by (node, mode) (pg_locks_count{N})", "{{node}} {{mode}}")),
        p(
            "Deadlocks and conflicts",
            (
                f"sum by (node) (increase(pg_stat_database_deadlocks{N}[{RATE}]))",
                "{{node}} deadlocks",
            ),
            (
                f"sum by (node) (increase(pg_stat_database_conflicts{N}[{RATE}]))",
                "{{node}} conflicts",
            ),
        ),
        p(
            "Database size",
            ('pg_database_size_bytes{node=~"$node", datname="hotel"}', "{{node}}"),
            unit="bytes",
        ),
        p("Dead tuples, hot tables (primary)", ("hotel_pg_dead_tuples", "{{table}}")),
        p(
            "Queries/s, whole cluster",
            (
                CLUSTER_QPS,
                "commits + rollbacks",
            ),
            unit="ops",
        ),
        p(
            "Idle sessions",
            (
                'sum by (node, state) (pg_stat_activity_count{node=~"$node",'
                ' state=~"idle|idle in transaction.*"})',
                "{{node}} {{state}}",
            ),
        ),
        p(
            "Rows read/s",
            (rate_by_node("pg_stat_database_tup_fetched"), "{{node}} fetched"),
            (rate_by_node("pg_stat_database_tup_returned"), "{{node}} returned"),
            unit="rowsps",
        ),
        p(
            "Rows written/s",
            (rate_by_node("pg_stat_database_tup_inserted"), "{{node}} inserted"),
            (rate_by_node("pg_stat_database_tup_updated"), "{{node}} updated"),
            (rate_by_node("pg_stat_database_tup_deleted"), "{{node}} deleted"),
            unit="rowsps",
        ),
        p(
            "Buffers written: backends vs bgwriter vs checkpointer",
            (rate_by_node("pg_stat_bgwriter_buffers_backend_total", BLOCK), "{{node}} backends"),
            (rate_by_node("pg_stat_bgwriter_buffers_clean_total", BLOCK), "{{node}} bgwriter"),
            (
                rate_by_node("pg_stat_bgwriter_buffers_checkpoint_total", BLOCK),
                "{{node}} checkpointer",
            ),
            unit="Bps",
        ),
        p(
            "Checkpoint write and sync time (ms per second)",
            (rate_by_node("pg_stat_bgwriter_checkpoint_write_time_total"), "{{node}} write"),
            (rate_by_node("pg_stat_bgwriter_checkpoint_sync_time_total"), "{{node}} sync"),
            unit="ms",
        ),
        p(
            "Checkpoints per hour: timed vs requested",
            (rate_by_node("pg_stat_bgwriter_checkpoints_timed_total", " * 3600"), "{{node}} timed"),
            (
                rate_by_node("pg_stat_bgwriter_checkpoints_req_total", " * 3600"),
                "{{node}} requested",
            ),
        ),
        p(
            "Temporary files written",
            (rate_by_node("pg_stat_database_temp_bytes"), "{{node}}"),
            unit="Bps",
        ),
        p(
            "Exporter process CPU (per node's postgres_exporter)",
            (f"rate(process_cpu_seconds_total{EXPORTER}[{RATE}])", "{{node}}"),
            unit="percentunit",
        ),
        p(
            "Exporter process resident memory",
            (f"process_resident_memory_bytes{EXPORTER}", "{{node}}"),
            unit="bytes",
        ),
        p(
            "Exporter process open file descriptors",
            (f"process_open_fds{EXPORTER}", "{{node}} open"),
            (f"process_max_fds{EXPORTER}", "{{node}} limit"),
        ),
    ),
    variables={"node": "label_values(pg_up, node)"},
)

S = '{node=~"$node"}'
STATEMENT = "node, datname, query"


def total(counter: str) -> str:
    """A statement counter with only the labels the table shows: the same on every query,
    so Grafana's merge puts a statement's columns on one row."""
    return f"sum by ({STATEMENT}, queryid) (hotel_pg_statement_{counter}_total{S})"


STATEMENTS = Dashboard(
    "hotel-statements",
    "Statements (pg_stat_statements, per node)",
    (
        table(
            "Heaviest statements since the last reset",
            (total("seconds"), "total time", "s"),
            (total("calls"), "calls", "short"),
            (f"{total('seconds')} / clamp_min({total('calls')}, 1)", "mean time", "s"),
            (total("rows"), "rows", "short"),
        ),
        p(
            "Average latency per statement",
            (
                f"topk(10, sum by ({STATEMENT}) (rate(hotel_pg_statement_seconds_total{S}[{RATE}]))"
                f" / sum by ({STATEMENT}) (rate(hotel_pg_statement_calls_total{S}[{RATE}])) >= 0)",
                "{{node}} {{query}}",
            ),
            unit="s",
        ),
        p(
            "Database time per statement (s per s)",
            (
                f"topk(10, sum by ({STATEMENT})"
                f" (rate(hotel_pg_statement_seconds_total{S}[{RATE}])))",
                "{{node}} {{query}}",
            ),
            unit="s",
        ),
        p(
            "Calls/s per statement",
            (
                f"topk(10, sum by ({STATEMENT}) (rate(hotel_pg_statement_calls_total{S}[{RATE}])))",
                "{{node}} {{query}}",
            ),
            unit="ops",
        ),
        p(
            "Rows/s per statement",
            (
                f"topk(10, sum by ({STATEMENT}) (rate(hotel_pg_statement_rows_total{S}[{RATE}])))",
                "{{node}} {{query}}",
            ),
            unit="rowsps",
        ),
    ),
    variables={"node": "label_values(hotel_pg_node_stats_up, node)"},
)

TIMELINE_CHANGES_1H = (
    "max(patroni_postgres_timeline) - min(min_over_time((patroni_postgres_timeline > 0)[1h:15s]))"
)
PATRONI = Dashboard(
    "hotel-patroni",
    "Patroni cluster",
    (
        p("Leader", ("patroni_primary == 1", "{{node}}"), kind="stat"),
        p("Timeline", ("max(patroni_postgres_timeline)", "timeline"), kind="stat"),
        p("Leader changes (1 h)", (TIMELINE_CHANGES_1H, "failovers"), kind="stat"),
        p("Streaming replicas", ("hotel_pg_replicas_streaming", "replicas"), kind="stat"),
        p("Roles (1 = primary)", ("patroni_primary", "{{node}}")),
        p("Sync standby (1 = sync)", ("patroni_sync_standby", "{{node}}")),
        p("Replication lag", ("hotel_pg_replication_lag_seconds", "{{replica}}"), unit="s"),
        p("Replication lag (WAL)", ("hotel_pg_replication_lag_bytes", "{{replica}}"), unit="bytes"),
        p(
            "HAProxy: servers UP behind each port",
            ('sum by (proxy) (haproxy_server_status{state="UP"})', "{{proxy}}"),
        ),
        p(
            "HAProxy sessions",
            ('haproxy_backend_current_sessions{proxy=~"primary|replicas"}', "{{proxy}}"),
        ),
        p("etcd has leader", ("etcd_server_has_leader", "{{member}}")),
        p(
            "etcd leader changes",
            ("max(etcd_server_leader_changes_seen_total)", "changes seen"),
        ),
    ),
)

BOOKING_OP = 'operation="create_booking"'
OPERATION = 'operation=~"$operation"'
WORKLOAD = Dashboard(
    "hotel-workload",
    "Booking workload",
    (
        p(
            "Operations/s",
            (f"sum by (operation) (rate(hotel_load_operations_total[{RATE}]))", "{{operation}}"),
            unit="ops",
            source="load",
        ),
        p(
            "Outcomes/s",
            (f"sum by (outcome) (rate(hotel_load_operations_total[{RATE}]))", "{{outcome}}"),
            unit="ops",
            source="load",
        ),
        p(
            "create_booking latency",
            *(
                (
                    f"histogram_quantile({q}, sum by (le) (rate("
                    f"hotel_load_operation_duration_seconds_bucket{{{BOOKING_OP}}}[{RATE}])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
            unit="s",
            source="load",
        ),
        p(
            "Latency of $operation",
            *(
                (
                    f"histogram_quantile({q}, sum by (le, operation) (rate("
                    f"hotel_load_operation_duration_seconds_bucket{{{OPERATION}}}[{RATE}])))",
                    f"{{{{operation}}}} p{round(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
            unit="s",
            source="load",
            repeat="operation",
        ),
        p(
            "Average latency per operation",
            (
                f"sum by (operation) (rate(hotel_load_operation_duration_seconds_sum{{{OPERATION}}}"
                f"[{RATE}])) / sum by (operation) (rate("
                f"hotel_load_operation_duration_seconds_count{{{OPERATION}}}[{RATE}])) >= 0",
                "{{operation}}",
            ),
            unit="s",
            source="load",
        ),
        p(
            "Errors/s by SQLSTATE class",
            (
                # A healthy run has no error series at all yet: show 0 then, not "no data".
                f"sum by (sqlstate_class) (rate(hotel_load_errors_total[{RATE}]))"
                " or on() vector(0)",
                "{{sqlstate_class}}",
            ),
            unit="ops",
            source="load",
        ),
        p(
            "Error ratio",
            (
                f'(sum(rate(hotel_load_operations_total{{outcome="error"}}[{RATE}]))'
                " or on() vector(0))"
                f" / clamp_min(sum(rate(hotel_load_operations_total[{RATE}])), 1e-9)",
                "errors",
            ),
            unit="percentunit",
            source="load",
        ),
        p(
            "In flight and schedule lag p99",
            ("hotel_load_in_flight", "in flight"),
            (
                f"histogram_quantile(0.99, sum by (le) "
                f"(rate(hotel_load_schedule_lag_seconds_bucket[{RATE}])))",
                "schedule lag p99 (s)",
            ),
            source="load",
        ),
        p(
            "Load: bookings, cancellations, points (per s)",
            (f"rate(hotel_load_bookings_total[{RATE}])", "bookings"),
            (f"rate(hotel_load_cancellations_total[{RATE}])", "cancellations"),
            (f"rate(hotel_load_points_earned_total[{RATE}])", "points earned"),
            (f"rate(hotel_load_points_spent_total[{RATE}])", "points spent"),
            source="load",
        ),
        p(
            "Load: revenue per minute",
            (f"rate(hotel_load_revenue_total[{RATE}]) * 60", "revenue/min"),
            source="load",
        ),
        p("Bookings by status", ("hotel_bookings", "{{status}}")),
        p("Bookings created per minute", ("hotel_bookings_created_last_minute", "per minute")),
        p("Revenue (completed - refunded)", ("hotel_revenue", "revenue"), kind="stat"),
        p("Occupancy today", ("hotel_occupancy_today_ratio", "occupancy"), unit="percentunit"),
        p("Bonus points outstanding", ("hotel_bonus_points_outstanding", "points"), kind="stat"),
        p(
            "Audit log growth",
            ("delta(hotel_audit_log_last_id[5m]) / 5", "rows/min"),
            ("hotel_audit_log_bytes", "bytes"),
        ),
    ),
    variables={"operation": "label_values(hotel_load_operation_duration_seconds_count, operation)"},
)

BACKUPS = Dashboard(
    "hotel-backups",
    "Backups",
    (
        p(
            "Age of the last successful backup",
            ("time() - hotel_backup_last_success_timestamp_seconds", "{{type}}"),
            unit="s",
            kind="stat",
            source="backup",
        ),
        p(
            "Last result (1 = success)",
            ("hotel_backup_last_result", "{{type}}"),
            kind="stat",
            source="backup",
        ),
        p(
            "Last duration",
            ("hotel_backup_last_duration_seconds", "{{type}}"),
            unit="s",
            source="backup",
        ),
        p(
            "Last size",
            ("hotel_backup_last_size_bytes", "{{type}}"),
            unit="bytes",
            source="backup",
        ),
        p(
            "Runs (24 h)",
            (
                "sum by (type, result) (increase(hotel_backup_runs_total[24h]))",
                "{{type}} {{result}}",
            ),
            source="backup",
        ),
        p(
            "Age of the last verified restore",
            ("time() - hotel_backup_last_verified_timestamp_seconds", "verified"),
            unit="s",
            kind="stat",
            source="backup",
        ),
    ),
)

DASHBOARDS = (POSTGRES, STATEMENTS, PATRONI, WORKLOAD, BACKUPS)


WIDTH = {"stat": 6, "timeseries": 12, "table": 24}
# Label columns a table does not need: which exporter answered, and the sample's time.
HIDDEN_COLUMNS = ("Time", "__name__", "instance", "job", "server")


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom"}}
    if panel.kind == "stat":
        name = {"textMode": "name"} if panel.show_name else {}
        return {"reduceOptions": {"calcs": ["lastNotNull"]}, **name}
    return {"showHeader": True, "sortBy": [{"displayName": panel.targets[0][1], "desc": True}]}


def _table_parts(panel: Panel) -> dict[str, Any]:
    """Each query's value column renamed to its name and given its unit; the rows merged on
    their labels (one row per node, or per statement)."""
    names = [legend for _, legend in panel.targets]
    return {
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": dict.fromkeys(HIDDEN_COLUMNS, True),
                    "renameByName": {
                        f"Value #{chr(ord('A') + i)}": name for i, name in enumerate(names)
                    },
                },
            },
        ],
        "overrides": [
            {
                "matcher": {"id": "byName", "options": name},
                "properties": [{"id": "unit", "value": unit}],
            }
            for name, unit in zip(names, panel.columns, strict=True)
        ],
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    tabular = _table_parts(panel) if panel.kind == "table" else {}
    model: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": f"fed by: {panel.source}",
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": WIDTH[panel.kind], "h": 8},
        "fieldConfig": {
            "defaults": {"unit": panel.unit},
            "overrides": tabular.get("overrides", []),
        },
        "options": _options(panel),
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                **({"instant": True, "range": False, "format": "table"} if tabular else {}),
            }
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    if tabular:
        model["transformations"] = tabular["transformations"]
    if panel.repeat:
        model.update(repeat=panel.repeat, repeatDirection="h", maxPerRow=2)
    return model


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's dashboard model; panels flow left to right in rows of 24 columns."""
    panels, x, y = [], 0, 0
    for i, panel in enumerate(dashboard.panels, start=1):
        width = WIDTH[panel.kind]
        if x + width > 24:
            x, y = 0, y + 8
        panels.append(_panel_json(panel, i, x, y))
        x += width
    variables = [
        {
            "name": name,
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": query, "refId": "var"},
            "definition": query,
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
        }
        for name, query in dashboard.variables.items()
    ]
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["hotel"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables},
        "panels": panels,
    }


def dashboards_dir() -> Path:
    return Path(__file__).resolve().parent / "grafana" / "dashboards"


def rendered() -> dict[str, str]:
    """File name -> committed JSON text of every dashboard."""
    return {d.filename: json.dumps(dashboard_json(d), indent=2) + "\n" for d in DASHBOARDS}


def write_dashboards() -> list[Path]:
    directory = dashboards_dir()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
