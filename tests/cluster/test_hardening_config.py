"""The HA stack's configuration against its own limits (fast, unmarked): HAProxy cannot open
more connections to a node than PostgreSQL keeps for it, its stats ask for a password,
lagging replicas leave the read port, and every node logs its logins; in the generated
configs of both stacks and in the committed compose files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from deploy.cluster.cli import COMPOSE_DIR
from deploy.cluster.topology import (
    REPLICA_MAX_LAG_VAR,
    STATS_PASSWORD_VAR,
    Credentials,
    Topology,
    compose_topology,
    haproxy_config,
    local_topology,
    patroni_config,
)
from monitor.role import MONITOR_CONNECTION_LIMIT
from monitor.targets import compose_prometheus_path
from tests.helpers import haproxy_check

CREDS = Credentials("su-secret", "repl-secret", "rest-secret", "rewind-secret", "etcd-secret")


def topology(target: str, tmp_path: Path) -> Topology:
    return local_topology(tmp_path) if target == "local" else compose_topology()


def haproxy_configs(tmp_path: Path) -> dict[str, str]:
    return {
        "local": haproxy_config(local_topology(tmp_path)),
        "compose (committed)": (COMPOSE_DIR / "haproxy.cfg").read_text(),
    }


def sections(cfg: str) -> dict[str, list[str]]:
    """haproxy.cfg as section header -> its lines."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in cfg.splitlines():
        if line and not line.startswith((" ", "#")):
            current = line.strip()
            found[current] = []
        elif line.strip() and current:
            found[current].append(line.strip())
    return found


def server_maxconns(cfg: str) -> dict[tuple[str, str], int]:
    """(listen section, server) -> the maxconn HAProxy allows that server (its own or the
    section's default-server); a server without one is unlimited (a failure below)."""
    limits = {}
    for name, lines in sections(cfg).items():
        default = None
        for line in lines:
            if line.startswith("default-server") and (m := re.search(r"maxconn (\d+)", line)):
                default = int(m.group(1))
            if line.startswith("server "):
                own = re.search(r"maxconn (\d+)", line)
                limit = int(own.group(1)) if own else default
                assert limit is not None, f"{name}: {line} has no maxconn"
                limits[(name, line.split()[1])] = limit
    return limits


@pytest.mark.parametrize("target", ["local", "compose"])
def test_haproxy_never_opens_more_connections_to_a_node_than_it_has(
    target: str, tmp_path: Path
) -> None:
    """A node is UP in one backend at a time (primary or replicas): what HAProxy may open to
    it, plus the superusers' reserved slots and the exporters' login limit, fits in its
    max_connections, read from the Patroni config that node runs with."""
    topo = topology(target, tmp_path)
    cfg = haproxy_config(topo) if target == "local" else (COMPOSE_DIR / "haproxy.cfg").read_text()
    limits = server_maxconns(cfg)
    for node in topo.nodes:
        config = patroni_config(topo, node, CREDS)
        params = {
            **config["bootstrap"]["dcs"]["postgresql"]["parameters"],
            **config["postgresql"]["parameters"],
        }
        reserved = int(params["superuser_reserved_connections"])
        per_backend = [limit for (_, server), limit in limits.items() if server == node.name]
        assert len(per_backend) == 2, "the node is a server of both the primary and replicas"
        assert max(per_backend) + reserved + MONITOR_CONNECTION_LIMIT <= params["max_connections"]
    total = int(re.search(r"^\s*maxconn (\d+)", cfg, re.M).group(1))  # type: ignore[union-attr]
    assert total >= sum(limits.values()) // 2, "the global limit lets every node be used"


@pytest.mark.parametrize("target", ["local", "compose"])
def test_every_node_logs_connections_and_disconnections(target: str, tmp_path: Path) -> None:
    topo = topology(target, tmp_path)
    for node in topo.nodes:
        params = patroni_config(topo, node, CREDS)["postgresql"]["parameters"]
        assert params["log_connections"] == "on"
        assert params["log_disconnections"] == "on"


def test_stats_ask_for_a_password_and_lagging_replicas_leave_the_read_port(
    tmp_path: Path,
) -> None:
    for name, cfg in haproxy_configs(tmp_path).items():
        stats = sections(cfg)["listen stats"]
        # The auth rule comes first: it guards the stats page and /metrics alike.
        assert stats[2] == "http-request auth realm haproxy unless { http_auth(stats_users) }"
        assert stats[3].startswith("http-request use-service prometheus-exporter"), name
        users = sections(cfg)["userlist stats_users"]
        assert users == [f'user stats insecure-password "${{{STATS_PASSWORD_VAR}}}"'], name
        replicas = sections(cfg)["listen replicas"]
        check = f'http-check send meth GET uri "/replica?lag=${{{REPLICA_MAX_LAG_VAR}}}"'
        assert check in replicas, name


def test_compose_gives_haproxy_and_prometheus_the_stats_password() -> None:
    compose = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())["services"]
    env = compose["haproxy"]["environment"]
    assert env[STATS_PASSWORD_VAR].startswith("${HOTEL_HAPROXY_STATS_PASSWORD:?")
    assert env[REPLICA_MAX_LAG_VAR] == "${HOTEL_REPLICA_MAX_LAG:-16MB}"
    assert "$$HOTEL_HAPROXY_STATS_PASSWORD" in " ".join(compose["haproxy"]["healthcheck"]["test"])
    prometheus = yaml.safe_load(compose_prometheus_path().read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "haproxy")
    password_file = job["basic_auth"]["password_file"]
    assert password_file in " ".join(compose["prometheus"]["entrypoint"])
    assert compose["load"]["environment"]["HOTEL_LOAD_METRICS_ADDRESS"] == "0.0.0.0"  # noqa: S104


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed")
@pytest.mark.parametrize("env", [{STATS_PASSWORD_VAR: "x", REPLICA_MAX_LAG_VAR: "16MB"}, {}])
def test_haproxy_accepts_the_config_only_with_a_stats_password(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Without the password HAProxy refuses to start: the stats are never open by mistake."""
    result = haproxy_check(tmp_path, env)
    assert (result.returncode == 0) == bool(env), result.stdout + result.stderr
