"""Monitoring of the local HA stack for real: a real Prometheus scraping postgres_exporter x3,
Patroni x3, HAProxy, etcd x3 and our db exporter; every alert expression and every dashboard
panel evaluated through Prometheus' HTTP API.

The load and backup targets are the real services: a short `hotel load` run (on a database
of its own, so the db exporter's exact figures below stay exact) and the backup.prom of a real
pgBackRest full backup; no stand-in serves anything here.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from deploy.backup.context import context_for_cluster
from deploy.backup.jobs import run_backup
from deploy.cluster.local import LocalCluster
from deploy.cluster.monitoring import LocalMonitor
from deploy.migrate.runner import migrate
from deploy.process import eventually
from hotel_models import operations as ops
from monitor.dashboards import DASHBOARDS, Dashboard, Panel
from monitor.role import MONITOR_ROLE, node_conninfo
from monitor.targets import rules_dir
from seeding.bulk import load as seed
from seeding.plan import SCALES
from tests.helpers import HOTEL
from tests.models.world import make_world

pytestmark = pytest.mark.cluster

EXPECTED_TARGETS = {
    "prometheus": 1,
    "postgres": 3,
    "patroni": 3,
    "haproxy": 1,
    "etcd": 3,
    "hotel_db": 1,
    "hotel_load": 1,
    "hotel_backup": 1,
}
LOAD_DATABASE = "hotel_load"


def live_data(cluster: LocalCluster) -> None:
    """One hotel, a paid stay from today: bookings, revenue and occupancy are then non-zero."""
    url = cluster.primary_url()
    migrate(url, "head")
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            world = make_world(session, "-monitor")
            booking = ops.create_booking(
                session,
                user_id=world.guest.id,
                room_id=world.room.id,
                check_in=date.today(),
                check_out=date.today() + timedelta(days=2),
                guests=1,
            )
            ops.pay(session, booking_id=booking.id, amount=Decimal(50), method_id=world.method.id)
    finally:
        engine.dispose()


def start_load(cluster: LocalCluster, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`hotel load` at a gentle rate on its own seeded database, serving metrics on `port`."""
    url = make_url(cluster.primary_url())
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{LOAD_DATABASE}"'))
    admin.dispose()
    load_url = url.set(database=LOAD_DATABASE).render_as_string(hide_password=False)
    migrate(load_url, "head")
    seed(load_url, SCALES["tiny"], locale="en_US")
    argv = [*HOTEL, "load"]
    # A service (no --duration): it runs until the fixture stops it, however long the tests take.
    argv += ["--rate", "5", "--metrics-port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env={**os.environ, "HOTEL_DATABASE_URL": load_url}, stdout=out, stderr=out
        )

    def serving() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    eventually(serving, 60, f"hotel load to serve metrics on {port} (log: {log})", interval=0.5)
    return process


@pytest.fixture(scope="module")
def feeds(ha_cluster: LocalCluster) -> Iterator[Path]:
    """The real load service running, and a real full backup's metrics in <state>/metrics."""
    state = Path(tempfile.mkdtemp(prefix="hotel-monitor-feeds-", dir="/var/tmp"))
    state.chmod(0o755)
    outcome = run_backup(context_for_cluster(ha_cluster, state, metrics_port=0), "full")
    assert outcome.ok, outcome.message
    port = LocalMonitor(ha_cluster).monitoring.load.port
    load = start_load(ha_cluster, port, state / "load.log")
    try:
        yield state / "metrics"
    finally:
        load.terminate()
        load.wait(timeout=60)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def monitor(ha_cluster: LocalCluster, feeds: Path) -> Iterator[LocalMonitor]:
    live_data(ha_cluster)
    monitor = LocalMonitor(ha_cluster, feeds)
    try:
        assert monitor.up() == [], "the real load and backup feeds must both be seen"
        yield monitor
    finally:
        monitor.down()


def _down(monitor: LocalMonitor) -> list[str]:
    return [
        f"{t['labels']['job']} {t['labels']['instance']}: {t['health']} {t['lastError']}"
        for t in monitor.targets()
        if t["health"] != "up"
    ]


def test_every_target_is_scraped_and_up(monitor: LocalMonitor) -> None:
    targets = monitor.targets()
    jobs: dict[str, int] = {}
    for target in targets:
        jobs[target["labels"]["job"]] = jobs.get(target["labels"]["job"], 0) + 1
    assert jobs == EXPECTED_TARGETS
    try:
        eventually(lambda: not _down(monitor), 30, "every target up", interval=1)
    except Exception:
        pytest.fail(f"targets not up: {_down(monitor)}")
    up = monitor.query("min(up)")
    assert float(up[0]["value"][1]) == 1


def test_db_exporter_reads_the_live_data(monitor: LocalMonitor) -> None:
    def value(expr: str) -> float | None:
        result = monitor.query(expr)
        return float(result[0]["value"][1]) if result else None

    eventually(lambda: value("hotel_db_up") == 1, 30, "hotel_db_up 1 in Prometheus", interval=1)
    assert value("sum(hotel_bookings)") == 1
    assert value("hotel_revenue") == 50
    assert value("hotel_rooms_bookable") == 1  # the other room is under maintenance
    assert value("hotel_rooms_occupied_today") == 1
    assert value("hotel_occupancy_today_ratio") == 1
    assert value("hotel_pg_replicas_streaming") == 2
    assert value("max(hotel_db_query_failed)") == 0


def test_exporters_read_as_the_monitoring_role_which_cannot_touch_the_business(
    ha_cluster: LocalCluster, monitor: LocalMonitor
) -> None:
    """postgres_exporter x3 and the statements reader log in as hotel_monitor (pg_monitor,
    analytic); on every live node that role sees the load's statements, reads no secret and
    cannot reset the statistics."""
    eventually(
        lambda: monitor.query("sum(hotel_pg_node_stats_up) == 3"), 30, "3 nodes read", interval=1
    )
    eventually(
        lambda: monitor.query(f'hotel_pg_statement_calls_total{{datname="{LOAD_DATABASE}"}}'),
        40,
        "the load's statements in Prometheus",
        interval=2,
    )
    password = (ha_cluster.root / "monitor-secret").read_text().strip()
    for node in ha_cluster.topology.nodes:
        with psycopg.connect(
            node_conninfo(node.host, node.pg_port, password, LOAD_DATABASE), autocommit=True
        ) as conn:

            def sessions(conn: psycopg.Connection = conn) -> set[str]:
                rows = conn.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE usename = %s "
                    "AND pid <> pg_backend_pid()",
                    [MONITOR_ROLE],
                )
                return {str(app) for (app,) in rows}

            # postgres_exporter connects at its first scrape: both readers, eventually.
            both = eventually(
                lambda: len(found := sessions()) > 1 and "hotel-node-stats" in found and found,
                30,
                f"{node.name}: the statements reader and postgres_exporter as {MONITOR_ROLE}",
                interval=1,
            )
            assert both
            for attack in ("SELECT * FROM users LIMIT 1", "SELECT pg_stat_statements_reset()"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(attack)


def alert_rules() -> list[dict[str, str]]:
    rules = []
    for path in sorted(rules_dir().glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def test_every_alert_expression_evaluates(monitor: LocalMonitor) -> None:
    for rule in alert_rules():
        monitor.query(rule["expr"])  # HotelError names Prometheus' parse/eval error

    def rules() -> list[dict[str, str]]:
        return [r for group in monitor.api("rules")["groups"] for r in group["rules"]]

    assert {rule["name"] for rule in rules()} == {rule["alert"] for rule in alert_rules()}
    # Prometheus' own evaluation: lastEvaluation stays at year 1 until the first one.
    eventually(
        lambda: all(not r["lastEvaluation"].startswith("0001") for r in rules()),
        30,
        "every rule to be evaluated",
        interval=1,
    )
    unhealthy = {r["name"]: r.get("lastError") for r in rules() if r["health"] != "ok"}
    assert unhealthy == {}


def test_a_healthy_stack_fires_no_alert(monitor: LocalMonitor) -> None:
    assert monitor.query('ALERTS{alertstate="firing"}') == []


def panels() -> list[tuple[Dashboard, Panel]]:
    return [(d, p) for d in DASHBOARDS for p in d.panels]


def substitute(monitor: LocalMonitor, dashboard: Dashboard, expr: str) -> str | None:
    """Grafana's part: template variables get a real value (the first: one panel of a
    repeated row), $__rate_interval a range. None while a variable has no value yet."""
    for name, query in dashboard.variables.items():
        if f"${name}" not in expr:
            continue
        found = re.fullmatch(r"label_values\((\w+), (\w+)\)", query)
        assert found, f"unsupported variable query {query}"
        values = monitor.api(f"label/{found.group(2)}/values", **{"match[]": found.group(1)})
        if not values:
            return None
        expr = expr.replace(f"${name}", values[0])
    return expr.replace("$__rate_interval", "1m")


@pytest.mark.parametrize(
    ("dashboard", "panel"),
    panels(),
    ids=[f"{d.uid}/{p.title}[{p.source}]" for d, p in panels()],
)
def test_dashboard_panel_returns_data(
    monitor: LocalMonitor, feeds: Path, dashboard: Dashboard, panel: Panel
) -> None:
    """A panel's every query returns series (rates need two scrapes, variables a first
    sample: retried for a while)."""
    for expr, legend in panel.targets:

        def data(expr: str = expr) -> bool:
            query = substitute(monitor, dashboard, expr)
            return query is not None and bool(monitor.query(query))

        try:
            eventually(data, 40, "data", interval=2)
        except Exception:
            log = feeds.parent / "load.log"
            tail = log.read_text()[-2000:] if panel.source == "load" and log.exists() else ""
            pytest.fail(
                f"panel {panel.title!r} of {dashboard.title!r} ({legend}): no data for "
                f"{substitute(monitor, dashboard, expr) or expr}\n{tail}"
            )


def test_up_again_keeps_every_process_and_reloads_prometheus(monitor: LocalMonitor) -> None:
    before = monitor.running()
    assert monitor.up() == []
    assert monitor.running() == before
    reloads = monitor.query('prometheus_config_last_reload_successful{job="prometheus"}')
    assert float(reloads[0]["value"][1]) == 1


def test_db_exporter_follows_the_primary_and_the_failover_alert_fires(
    ha_cluster: LocalCluster, monitor: LocalMonitor
) -> None:
    old, new = ha_cluster.switchover()
    eventually(lambda: ha_cluster.leader() == new, 30, f"{new} to lead")

    others = {node.name for node in ha_cluster.topology.nodes} - {new}

    def settled() -> bool:
        """Patroni says `new` leads and the db exporter reads it: its replicas are the two
        others, the old leader rejoined among them (a stale sample cannot show that)."""
        leader = [s["metric"]["node"] for s in monitor.query("patroni_primary == 1")]
        replicas = {s["metric"]["replica"] for s in monitor.query("hotel_pg_replication_lag_bytes")}
        return leader == [new] and replicas == others

    eventually(settled, 60, f"Prometheus to see {new} lead, {old} among its replicas", interval=1)
    assert monitor.query("hotel_db_up")[0]["value"][1] == "1"
    eventually(
        lambda: monitor.query('ALERTS{alertname="PatroniFailover", alertstate="firing"}'),
        45,
        "PatroniFailover to fire",
        interval=1,
    )


def test_monitor_down_leaves_no_process(ha_cluster: LocalCluster, monitor: LocalMonitor) -> None:
    stopped = monitor.down()
    assert "prometheus" in stopped
    assert monitor.running() == {}
    assert not Path(ha_cluster.root, "run", "prometheus.pid").exists()


def test_backup_prom_is_served_instead_of_the_stand_in(
    ha_cluster: LocalCluster, feeds: Path
) -> None:
    """A one-off backup leaves <state>/metrics/backup.prom: that file is served."""
    metrics = Path(tempfile.mkdtemp(prefix="hotel-metrics-", dir="/var/tmp"))
    metrics.chmod(0o755)
    (metrics / "backup.prom").write_text(
        "# TYPE hotel_backup_last_success_timestamp_seconds gauge\n"
        f'hotel_backup_last_success_timestamp_seconds{{type="full"}} {time.time() - 60}\n'
    )
    (metrics / "backup.prom").chmod(0o644)
    monitor = LocalMonitor(ha_cluster, metrics)
    try:
        assert monitor.up() == []

        def served() -> bool:
            found = monitor.query('hotel_textfile_error{job="hotel_backup", file="backup.prom"}')
            return bool(found) and float(found[0]["value"][1]) == 0

        eventually(served, 30, "Prometheus to scrape backup.prom", interval=1)
        age = monitor.query("time() - hotel_backup_last_success_timestamp_seconds")
        assert 0 < float(age[0]["value"][1]) < 600
    finally:
        monitor.down()
        shutil.rmtree(metrics, ignore_errors=True)
