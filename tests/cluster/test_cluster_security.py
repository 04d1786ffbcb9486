"""Attacks on the local HA stack's network surface: a client that refuses TLS, a server it cannot
verify, the superuser over TCP, an anonymous etcd client. Each is tried for real and must fail;
the legitimate path beside it must work (so a test cannot pass because nothing works)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from deploy.cluster import tls
from deploy.cluster.etcd_auth import PREFIX, call, login
from deploy.cluster.local import LocalCluster
from deploy.cluster.topology import ETCD_ROOT, ETCD_USER, REWIND_USER, SUPERUSER, tls_url
from deploy.process import eventually, wait_until

pytestmark = pytest.mark.cluster
LOGIN, SECRET = "tls_probe", "tls-probe-secret"


@pytest.fixture(scope="module")
def probe_login(ha_cluster: LocalCluster) -> str:
    """A plain login (no privileges) created through the superuser's socket."""
    with psycopg.connect(ha_cluster.primary_url("postgres", "postgresql"), autocommit=True) as c:
        c.execute(f"DROP ROLE IF EXISTS {LOGIN}")
        c.execute(f"CREATE ROLE {LOGIN} LOGIN PASSWORD '{SECRET}'")
    return LOGIN


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, connect_timeout=5, autocommit=True)


def answers(url: str) -> bool:
    try:
        with connect(url):
            return True
    except psycopg.OperationalError:
        return False


def dsn(
    cluster: LocalCluster, port: int, user: str = LOGIN, password: str = SECRET, **kw: str
) -> str:
    params = {"sslmode": "verify-full", "sslrootcert": str(cluster.ca_file), **kw}
    options = " ".join(f"{k}={v}" for k, v in params.items())
    return f"host=127.0.0.1 port={port} user={user} password={password} dbname=postgres {options}"


def test_clients_verify_every_name_they_dial(ha_cluster: LocalCluster, probe_login: str) -> None:
    """verify-full succeeds on HAProxy's ports and each node's own, by address and by name,
    and the session is encrypted."""
    topo = ha_cluster.topology
    # Earlier modules fail the stack over: every replica back behind HAProxy first.
    eventually(ha_cluster.haproxy_ready, 120, "HAProxy routing to the leader and every replica")
    # Each node's own port first: the wait there is for the login to replicate, and HAProxy's
    # read port may then hand it to either replica (the asynchronous one may lag).
    ports = [*(n.pg_port for n in topo.nodes), topo.primary_port, topo.replica_port]
    for port in ports:
        for host in ("127.0.0.1", "localhost"):
            url = tls_url(host, port, probe_login, SECRET, "postgres", str(ha_cluster.ca_file))
            url = url.replace("+psycopg", "")
            wait_until(lambda url=url: answers(url), 30)
            with connect(url) as conn:
                row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                assert row.fetchone() == (True,), (host, port)


def test_a_client_that_refuses_tls_is_refused(ha_cluster: LocalCluster, probe_login: str) -> None:
    topo = ha_cluster.topology
    for port in (topo.primary_port, topo.replica_port, topo.nodes[0].pg_port):
        with pytest.raises(psycopg.OperationalError, match="no encryption"):
            connect(dsn(ha_cluster, port, sslmode="disable"))


def test_a_server_signed_by_another_ca_is_not_trusted(
    ha_cluster: LocalCluster, probe_login: str, tmp_path: Path
) -> None:
    """A client holding another CA (a man in the middle's view, turned around) refuses the
    stack's servers under verify-full."""
    other = tls.ensure_ca(tmp_path / "other-ca", "other")
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(dsn(ha_cluster, ha_cluster.topology.primary_port, sslrootcert=str(other)))


def test_the_superuser_is_refused_over_tcp_even_with_its_password(
    ha_cluster: LocalCluster,
) -> None:
    password = ha_cluster.credentials().superuser_password
    topo = ha_cluster.topology
    for port in (topo.primary_port, topo.replica_port, *(n.pg_port for n in topo.nodes)):
        with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
            connect(dsn(ha_cluster, port, SUPERUSER, password))
    # ...and works through the nodes' sockets, where the stack's own tooling connects.
    with connect(ha_cluster.primary_url("postgres", "postgresql")) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    with connect(ha_cluster.replica_url("postgres", "postgresql")) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)


def test_replication_is_encrypted_and_rewind_has_its_own_login(ha_cluster: LocalCluster) -> None:
    with connect(ha_cluster.primary_url("postgres", "postgresql")) as conn:
        rows = conn.execute(
            "SELECT r.application_name, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s "
            "USING (pid) ORDER BY 1"
        ).fetchall()
        assert [ssl for _, ssl in rows] == [True, True], rows
        rewinder = conn.execute(
            "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", [REWIND_USER]
        ).fetchone()
    assert rewinder == (True, False)


def test_the_ca_key_and_server_keys_are_private(ha_cluster: LocalCluster) -> None:
    ca_dir = ha_cluster.ca_file.parent
    assert ca_dir.stat().st_mode & 0o777 == 0o700
    assert (ca_dir / tls.CA_KEY).stat().st_mode & 0o777 == 0o600
    for node in ha_cluster.topology.nodes:
        key = Path(node.home) / "tls" / "server.key"
        assert key.stat().st_mode & 0o777 == 0o600, key


def etcdctl(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("etcdctl")
    assert binary, "etcdctl missing: apt-get install etcd-client"
    endpoint = f"127.0.0.1:{cluster.topology.etcd[0].client_port}"
    return subprocess.run(
        [binary, f"--endpoints={endpoint}", "--dial-timeout=3s", "--command-timeout=5s", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={**os.environ, "ETCDCTL_API": "3"},
    )


def test_etcd_refuses_anonymous_and_wrong_credentials(ha_cluster: LocalCluster) -> None:
    """Without credentials nobody can plant a leader key (or read the cluster's state)."""
    leader_key = f"{PREFIX}hotel/leader"
    anonymous = etcdctl(ha_cluster, "put", leader_key, "intruder")
    assert anonymous.returncode != 0
    assert "user name is empty" in anonymous.stderr
    reading = etcdctl(ha_cluster, "get", "--prefix", PREFIX)
    assert reading.returncode != 0
    assert not reading.stdout
    guessed = etcdctl(ha_cluster, "--user", f"{ETCD_ROOT}:root", "put", leader_key, "intruder")
    assert guessed.returncode != 0
    assert "authentication failed" in guessed.stderr
    # Patroni's own user reads its keys, and may not write outside them.
    endpoint = f"http://127.0.0.1:{ha_cluster.topology.etcd[0].client_port}"
    token = login(endpoint, ETCD_USER, ha_cluster.credentials().etcd_password)
    assert token
    status, _ = call(endpoint, "kv/put", {"key": "L290aGVy", "value": "eA=="}, token)  # /other
    assert status != 200
    assert ha_cluster.leader() in {n.name for n in ha_cluster.topology.nodes}
