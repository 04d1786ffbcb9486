"""The HA stack's hardening, attacked on a running local stack: HAProxy's stats without the
password, reads sent to a replica that has fallen behind, a login nobody logged, the db
exporter's business queries as the superuser, and backups readable in a second repository."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deploy.backup import physical
from deploy.backup.context import context_for_cluster
from deploy.backup.settings import get_backup_settings
from deploy.cluster.local import LocalCluster, http
from deploy.cluster.monitoring import LocalMonitor
from deploy.migrate.runner import migrate
from deploy.process import eventually
from monitor.role import MONITOR_ROLE

pytestmark = pytest.mark.cluster
MARKER = f"plaintext-{uuid.uuid4().hex}"  # a value that must not be readable in repo2


@pytest.fixture(scope="module", autouse=True)
def repo2() -> Iterator[Path]:
    """An encrypted repo2 configured before the stack starts (its nodes archive to it)."""
    where = Path(tempfile.mkdtemp(prefix="hotel-repo2-test-", dir="/var/tmp"))
    where.chmod(0o755)  # the server user reaches repo2 inside it
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOTEL_BACKUP_REPO2_PATH", str(where / "repo2"))
        env.setenv("HOTEL_BACKUP_REPO2_CIPHER_PASS", uuid.uuid4().hex + uuid.uuid4().hex)
        get_backup_settings.cache_clear()
        try:
            yield where / "repo2"
        finally:
            get_backup_settings.cache_clear()
            shutil.rmtree(where, ignore_errors=True)


def primary(cluster: LocalCluster) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(cluster.primary_url("hotel", driver="postgresql"), autocommit=True)


# -- HAProxy's stats ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/;csv", "/metrics"])
def test_stats_refuse_a_client_without_the_password(ha_cluster: LocalCluster, path: str) -> None:
    url = f"http://127.0.0.1:{ha_cluster.topology.stats_port}{path}"
    assert http("GET", url)[0] == 401
    assert http("GET", url, auth=("stats", "guess"))[0] == 401
    assert http("GET", url, auth=("admin", ha_cluster.stats_auth()[1]))[0] == 401
    assert http("GET", url, auth=ha_cluster.stats_auth())[0] == 200


# -- lagging replicas --------------------------------------------------------------------------


READER = "lag_probe_reader"


@pytest.fixture(scope="module")
def reader(ha_cluster: LocalCluster) -> str:
    """A plain login's password: reads through HAProxy's replica port come over TCP, where
    the superuser is refused."""
    password = uuid.uuid4().hex
    with primary(ha_cluster) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {READER}")
        conn.execute(f"CREATE ROLE {READER} LOGIN PASSWORD '{password}'")
    return password


def read_ports(cluster: LocalCluster, password: str, reads: int = 6) -> set[int]:
    """The node ports that served `reads` fresh connections to HAProxy's replica port."""
    url = cluster.service_url(READER, password, "postgres", replica=True, driver="postgresql")
    ports = set()
    for _ in range(reads):
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT inet_server_port()").fetchone()
            ports.add(int(row[0]) if row else 0)
    return ports


def replica_state(cluster: LocalCluster, name: str) -> str | None:
    rows = cluster.haproxy_stats()
    return next(
        (r["status"] for r in rows if r["pxname"] == "replicas" and r["svname"] == name), None
    )


def test_a_replica_over_the_lag_limit_gets_no_reads_until_it_catches_up(
    ha_cluster: LocalCluster, reader: str
) -> None:
    """Its recovery process stopped (Patroni resumes a pg_wal_replay_pause() within a loop), a
    replica keeps receiving WAL but replays none: over 16MB behind, it must get no reads."""
    eventually(ha_cluster.haproxy_ready, 30, "HAProxy routing to every replica")
    name = next(m["name"] for m in ha_cluster.members() if m["role"] == "replica")  # async
    node = ha_cluster.topology.node(name)
    with psycopg.connect(ha_cluster.node_url(node), autocommit=True) as conn:
        row = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'")
        (startup,) = row.fetchone() or (0,)
    assert startup
    os.kill(startup, signal.SIGSTOP)
    try:
        with primary(ha_cluster) as conn:  # over 16MB of WAL the replica cannot replay
            conn.execute("CREATE TABLE lag_probe (id int, pad text)")
            conn.execute(
                "INSERT INTO lag_probe SELECT g, repeat('x', 1000) FROM generate_series(1, 40000) g"
            )
        eventually(lambda: replica_state(ha_cluster, name) == "DOWN", 60, f"{name} out")
        assert node.pg_port not in read_ports(ha_cluster, reader)
    finally:
        os.kill(startup, signal.SIGCONT)
    eventually(lambda: replica_state(ha_cluster, name) == "UP", 60, f"{name} back in the pool")
    eventually(lambda: node.pg_port in read_ports(ha_cluster, reader), 30, f"reads reaching {name}")
    with primary(ha_cluster) as conn:
        conn.execute("DROP TABLE lag_probe")


# -- connection logging ------------------------------------------------------------------------


def server_log(cluster: LocalCluster, name: str) -> str:
    logs = Path(cluster.topology.node(name).home) / "log"
    return "".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log")))


def test_a_login_and_its_end_are_in_the_server_log(ha_cluster: LocalCluster) -> None:
    leader = ha_cluster.leader()
    assert leader is not None
    application = f"login-probe-{uuid.uuid4().hex[:8]}"
    url = ha_cluster.primary_url("postgres", driver="postgresql")
    with psycopg.connect(url, application_name=application) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        pid = row[0] if row else 0
    login = f"connection authorized: user=postgres database=postgres application_name={application}"
    eventually(lambda: login in server_log(ha_cluster, leader), 30, "the login in the log")
    logout = f"[{pid}] postgres@postgres LOG:  disconnection: session time:"
    eventually(lambda: logout in server_log(ha_cluster, leader), 30, "the logout in the log")


# -- the db exporter's login -------------------------------------------------------------------


def test_the_db_exporter_reads_the_business_as_the_monitoring_role(
    ha_cluster: LocalCluster,
) -> None:
    """Its per-scrape session is caught waiting behind a lock on bookings: whose is it?"""
    migrate(ha_cluster.primary_url(), "head")
    monitor = LocalMonitor(ha_cluster)
    try:
        monitor.up()
        metrics = f"http://{monitor.monitoring.db_exporter.address}/metrics"
        with primary(ha_cluster) as holder, primary(ha_cluster) as watcher:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE")

            def exporter_sessions() -> list[tuple[object, ...]]:
                threading.Thread(target=http, args=("GET", metrics), daemon=True).start()
                return watcher.execute(
                    "SELECT usename FROM pg_stat_activity "
                    "WHERE application_name = 'hotel-db-exporter'"
                ).fetchall()

            found = eventually(exporter_sessions, 60, "the db exporter's session", interval=1)
            holder.execute("ROLLBACK")
        assert {user for (user,) in found} == {MONITOR_ROLE}
    finally:
        monitor.down()


# -- the encrypted second repository -----------------------------------------------------------


def test_repo2_holds_only_ciphertext_and_restores(ha_cluster: LocalCluster, repo2: Path) -> None:
    with primary(ha_cluster) as conn:
        conn.execute("CREATE TABLE repo2_probe (note text)")
        conn.execute("INSERT INTO repo2_probe SELECT %s FROM generate_series(1, 1000)", [MARKER])
    state = Path(tempfile.mkdtemp(prefix="hotel-repo2-state-", dir="/var/tmp"))
    state.chmod(0o755)
    try:
        ctx = context_for_cluster(ha_cluster, state, metrics_port=0)
        result = physical.create(ctx, "full", repo=2)
        files = [p for p in repo2.rglob("*") if p.is_file()]
        backup_files = [p for p in files if result.label in p.parts]
        assert backup_files
        assert (repo2 / "backup" / "hotel" / "backup.info") in files
        for path in files:
            data = path.read_bytes()
            assert data.startswith(b"Salted__"), f"{path} is not encrypted"
            assert MARKER.encode() not in data
            assert b"PG_VERSION" not in data
            assert b"[backup:current]" not in data
        target = state / "restored"
        instance = physical.pitr(ctx, target, None, start=True, repo=2)
        try:
            with psycopg.connect(instance.url()) as conn:
                row = conn.execute("SELECT count(*) FROM repo2_probe WHERE note = %s", [MARKER])
                assert row.fetchone() == (1000,)
        finally:
            instance.remove()
    finally:
        shutil.rmtree(state, ignore_errors=True)
        with primary(ha_cluster) as conn:
            conn.execute("DROP TABLE IF EXISTS repo2_probe")


def test_repo2_without_a_passphrase_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTEL_BACKUP_REPO2_CIPHER_PASS")
    get_backup_settings.cache_clear()
    try:
        with pytest.raises(Exception, match="HOTEL_BACKUP_REPO2_CIPHER_PASS is not"):
            get_backup_settings().repo2_options()
    finally:
        get_backup_settings.cache_clear()
