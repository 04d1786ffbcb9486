"""The compose deployment for real, on a Docker engine: every service healthy, migrate once,
seeded, load running and scraped, every Prometheus target up, least-privilege logins, backups
restored to a point in time inside db_backup, and the failover drill of the local stack
(docker kill of the leader, then a switchover) under a writer with no acknowledged row lost.

Grafana is not a Prometheus target; where its upstream image cannot be pulled the stack comes
up without it (compose.sh says so in one line) and nothing here needs it.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from alembic.script import ScriptDirectory

from deploy.cluster import tls
from deploy.cluster.compose import ComposeCluster, docker
from deploy.cluster.drill import in_recovery, run_drill
from deploy.cluster.local import http
from deploy.migrate.runner import PROJECT_ROOT, alembic_config
from deploy.process import eventually
from loadtest.db import APPLICATION_NAME
from tests.compose.containers import containers, weaker_than_compose_says

pytestmark = pytest.mark.compose

LONG_RUNNING = {
    *(f"etcd{i}" for i in range(3)),
    *(f"pg{i}" for i in range(3)),
    "haproxy",
    "load",
    *(f"pg{i}-exporter" for i in range(3)),
    "db-exporter",
    "prometheus",
    "db_backup",
}
ONE_SHOTS = {"init", "migrate", "seed"}


def connect(stack: ComposeCluster, user: str, password: str) -> Any:
    """A login through the published primary port, TLS verified against the stack's CA."""
    url = stack.service_url(user, password, driver="postgresql")
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def one(stack: ComposeCluster, query: str) -> str:
    """One value, as the superuser (through the leader's socket: refused over TCP)."""
    return stack.sql(query)[0][0]


def prometheus(stack: ComposeCluster, path: str, **params: str) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    url = f"http://127.0.0.1:{stack.port('HOTEL_PROMETHEUS_PORT')}/api/v1/{path}{query}"
    status, body = http("GET", url, timeout=10)
    assert status == 200, body
    return body["data"]


def test_every_service_healthy_and_the_one_shots_exited_0(stack: ComposeCluster) -> None:
    def settled() -> bool:
        found = containers(stack)
        expected = LONG_RUNNING | ({"grafana"} if "grafana" in found else set())
        return all(
            found[name]["State"].get("Health", {}).get("Status") == "healthy" for name in expected
        ) and all(found[name]["State"]["Status"] == "exited" for name in ONE_SHOTS)

    # On a busy machine the seed may still be loading when everything else is healthy.
    eventually(settled, 600, "every service healthy and every one-shot finished", interval=3)
    found = containers(stack)
    for name in ONE_SHOTS:
        state = found[name]["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0), name
        assert found[name]["RestartCount"] == 0, name


def test_no_container_holds_a_capability_or_may_gain_privileges(stack: ComposeCluster) -> None:
    assert weaker_than_compose_says(stack) == {}


def test_published_ports_listen_on_loopback_only(stack: ComposeCluster) -> None:
    bindings = [
        (name, binding["HostIp"])
        for name, container in containers(stack).items()
        for port in (container["NetworkSettings"]["Ports"] or {}).values()
        for binding in port or []
    ]
    assert {name for name, _ in bindings} >= {"haproxy", "prometheus", "db_backup"}
    assert {ip for _, ip in bindings} == {"127.0.0.1"}, bindings


def test_haproxy_stats_refuse_a_client_without_the_password(stack: ComposeCluster) -> None:
    for path in ("/", "/;csv", "/metrics"):
        url = f"http://127.0.0.1:{stack.port('HOTEL_STATS_PORT')}{path}"
        assert http("GET", url)[0] == 401
        assert http("GET", url, auth=("stats", "guess"))[0] == 401
        assert http("GET", url, auth=stack.stats_auth())[0] == 200


def test_a_login_is_in_the_leaders_server_log(stack: ComposeCluster) -> None:
    leader = next(m["name"] for m in stack.members() if m["role"] == "leader")
    application = f"login-probe-{datetime.now().strftime('%H%M%S%f')}"
    url = stack.primary_url("postgres", driver="postgresql")
    with psycopg.connect(url, application_name=application) as conn:
        user = conn.info.user  # the drill's login: the superuser is refused over TCP
    home = stack.topology.node(leader).home
    logged = f"user={user} database=postgres application_name={application}"

    def found() -> bool:
        done = stack.exec(leader, "sh", "-c", 'cat "$1"/log/*.log', "sh", home)
        return logged in done.stdout

    eventually(found, 30, f"the login in {leader}'s log")


def test_migrate_ran_once_to_head_and_only_upgrades(stack: ComposeCluster) -> None:
    migrate = containers(stack)["migrate"]
    logs = docker("logs", migrate["Id"])
    assert (logs.stdout + logs.stderr).count("migrated:") == 1
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert one(stack, "SELECT version_num FROM alembic_version") == head
    compose = PROJECT_ROOT / "deploy" / "compose" / "compose.sh"
    refused = subprocess.run(
        ["bash", str(compose), "run", "--rm", "-T", "migrate", "hotel", "migrate", "base",
         "--upgrade-only"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "this migrator only upgrades" in refused.stderr
    assert one(stack, "SELECT version_num FROM alembic_version") == head


def test_bookings_seeded(stack: ComposeCluster) -> None:
    assert int(one(stack, "SELECT count(*) FROM bookings")) >= 500


def test_services_and_analysts_log_in_as_their_own_roles(stack: ComposeCluster) -> None:
    with connect(stack, "hotel_monitor", stack.env["HOTEL_MONITOR_PASSWORD"]) as conn:
        roles = {
            row[0]: tuple(row[1:])
            for row in conn.execute(
                "SELECT rolname, rolsuper, rolinherit, rolcanlogin, "
                "pg_has_role(rolname, 'pg_monitor', 'MEMBER') FROM pg_roles "
                "WHERE rolname IN ('hotel_app', 'hotel_monitor', 'analyst')"
            )
        }
        assert roles["hotel_app"] == (False, True, True, False)
        assert roles["hotel_monitor"] == (False, True, True, True)
        assert roles["analyst"][:3] == (False, True, True)

        def load_sessions() -> set[str]:
            rows = conn.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = %s",
                [APPLICATION_NAME],
            ).fetchall()
            return {row[0] for row in rows}

        assert eventually(load_sessions, 120, "the load's sessions") == {"hotel_app"}
    # The service's login works and cannot become anyone else.
    with connect(stack, "hotel_app", stack.env["HOTEL_APP_PASSWORD"]) as conn:
        conn.execute("SELECT count(*) FROM bookings")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET ROLE analytic")
    # The analyst of .env reads and cannot write.
    with connect(stack, "analyst", stack.env["HOTEL_ANALYST_PASSWORD_ANALYST"]) as conn:
        conn.execute("SELECT count(*) FROM bookings")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM bookings")


def test_every_prometheus_target_up_and_the_load_scraped(stack: ComposeCluster) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        targets = prometheus(stack, "targets")["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = eventually(all_up, 180, "every Prometheus target up", interval=3)
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == {"prometheus", "postgres", "patroni", "haproxy", "etcd", "hotel_db",
                    "hotel_load", "hotel_backup"}  # fmt: skip

    def bookings_scraped() -> bool:
        result = prometheus(stack, "query", query="sum(hotel_load_bookings_total)")["result"]
        return bool(result) and float(result[0]["value"][1]) > 0

    eventually(bookings_scraped, 180, "the load's bookings in Prometheus", interval=3)


def _pitr_marker(stack: ComposeCluster) -> tuple[datetime, str]:
    """Rows 1-50 committed before the returned time, 51-100 after, the WAL archived."""
    stack.sql(
        "DROP TABLE IF EXISTS compose_pitr_marker;"
        "CREATE TABLE compose_pitr_marker (id int PRIMARY KEY);"
        "INSERT INTO compose_pitr_marker SELECT generate_series(1, 50);"
    )
    target = datetime.fromisoformat(one(stack, "SELECT to_json(clock_timestamp()) #>> '{}'"))
    stack.sql("SELECT pg_sleep(1); INSERT INTO compose_pitr_marker SELECT generate_series(51, 100)")
    wal = one(stack, "SELECT pg_walfile_name(pg_switch_wal())")

    def archived() -> bool:
        last = one(stack, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        return last[8:] >= wal[8:]

    eventually(archived, 120, f"WAL {wal} archived", interval=1)
    return target, wal


def test_backup_create_verify_and_point_in_time_restore_inside_db_backup(
    stack: ComposeCluster,
) -> None:
    def backup(*args: str) -> subprocess.CompletedProcess[str]:
        done = stack.exec("db_backup", "hotel", "backup", *args, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    backup("create", "--type", "full")
    backup("verify")
    target, _ = _pitr_marker(stack)
    restored = backup("restore", "--to", "/var/lib/hotel-backup/pitr-test", "--target-time",
                      target.isoformat()).stdout  # fmt: skip
    found = re.search(r"into (\S+), running on 127\.0\.0\.1:(\d+)", " ".join(restored.split()))
    assert found, restored
    data_dir, port = found.groups()
    try:
        rows = stack.exec(
            "db_backup", "sh", "-c",
            'PGPASSWORD="$HOTEL_CLUSTER_SUPERUSER_PASSWORD" psql -XAtq -h 127.0.0.1 -p "$1" '
            '-U postgres -d hotel -c "SELECT count(*), max(id) FROM compose_pitr_marker"',
            "sh", port,
        )  # fmt: skip
        assert rows.stdout.strip() == "50|50", rows.stdout + rows.stderr
    finally:
        stack.exec("db_backup", "pg_ctl", "-D", data_dir, "-m", "immediate", "stop")
        stack.exec("db_backup", "rm", "-rf", str(Path(data_dir)))


def test_drill_leader_killed_then_switchover_under_a_writer(stack: ComposeCluster) -> None:
    for scenario in ("node-loss", "switchover"):
        result = run_drill(stack, scenario)
        assert result.acked > 20, result
        assert (result.lost, result.duplicated) == (0, 0), result
        assert result.new_leader != result.old_leader
        assert in_recovery(stack, result.old_leader) is True
        print(
            f"compose drill {scenario}: RTO {result.rto:.1f} s, longest gap "
            f"{result.longest_gap:.1f} s, {result.acked} acked, 0 lost, "
            f"rejoin {result.rejoin:.1f} s"
        )


def test_tcp_takes_only_tls_and_never_the_superuser(stack: ComposeCluster) -> None:
    """Attacks through the published port: a client refusing TLS, a client verifying with
    another CA, the superuser with its right password. The service's login over verify-full
    is the control."""
    app = stack.env["HOTEL_APP_PASSWORD"]
    with connect(stack, "hotel_app", app) as conn:
        assert conn.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone() == (True,)
    port = stack.port("HOTEL_PRIMARY_PORT")
    login = f"host=127.0.0.1 port={port} dbname=hotel user=hotel_app password={app}"
    plain = f"{login} sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(plain, connect_timeout=5)
    other_ca = stack.env_file.parent / "other-ca"
    other = tls.ensure_ca(other_ca, "other")
    wrong = f"{login} sslmode=verify-full sslrootcert={other}"
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(wrong, connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
        connect(stack, "postgres", stack.credentials().superuser_password)


def test_etcd_refuses_an_anonymous_client(stack: ComposeCluster) -> None:
    done = stack.exec("etcd0", "etcdctl", "put", "/service/hotel/leader", "intruder")
    assert done.returncode != 0
    assert "user name is empty" in done.stderr
    assert stack.leader() in {"pg0", "pg1", "pg2"}
