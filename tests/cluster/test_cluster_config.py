"""The HA configuration without running it (fast, unmarked): one topology renders both
targets, the compose file validates offline, and user errors are one line."""

from __future__ import annotations

import copy
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.cluster.cli import COMPOSE_DIR, compose_haproxy_cfg
from deploy.cluster.local import cluster_root
from deploy.cluster.topology import (
    DCS,
    DEMOTION_MARGIN,
    Credentials,
    Topology,
    compose_topology,
    dcs_differences,
    etcd_environment,
    haproxy_config,
    local_topology,
    patroni_config,
)
from deploy.process import ephemeral_ports
from tests.helpers import assert_one_line_error, haproxy_check, run_hotel

CREDS = Credentials("su-secret", "repl-secret", "rest-secret", "rewind-secret", "etcd-secret")
SECRETS_ENV = {
    "HOTEL_CLUSTER_SUPERUSER_PASSWORD": "dummy-su",
    "HOTEL_CLUSTER_REPLICATION_PASSWORD": "dummy-repl",
    "HOTEL_CLUSTER_REST_PASSWORD": "dummy-rest",
    "HOTEL_CLUSTER_REWIND_PASSWORD": "dummy-rewind",
    "HOTEL_CLUSTER_ETCD_PASSWORD": "dummy-etcd",
    "HOTEL_CLUSTER_ETCD_ROOT_PASSWORD": "dummy-etcd-root",
    "HOTEL_GRAFANA_ADMIN_PASSWORD": "dummy-grafana",
    "HOTEL_APP_PASSWORD": "dummy-app",
    "HOTEL_MONITOR_PASSWORD": "dummy-monitor",
    "HOTEL_HAPROXY_STATS_PASSWORD": "dummy-stats",
}


def without_addresses(config: dict[str, Any]) -> dict[str, Any]:
    """A Patroni config with every address and path removed: what must not differ."""
    config = copy.deepcopy(config)
    for key in ("listen", "connect_address"):
        config["restapi"].pop(key)
        config["postgresql"].pop(key)
    config.pop("etcd3")
    for key in ("data_dir", "pgpass"):
        config["postgresql"].pop(key)
    for key in ("unix_socket_directories", "log_directory", "archive_command"):
        config["postgresql"]["parameters"].pop(key)
    for key in ("ssl_cert_file", "ssl_key_file"):  # in the node's home
        config["postgresql"]["parameters"].pop(key)
    for user in ("replication", "rewind"):
        config["postgresql"]["authentication"][user].pop("sslrootcert")
    config["postgresql"]["pg_hba"] = [
        re.sub(r"\S+/\d+", "CIDR", line) for line in config["postgresql"]["pg_hba"]
    ]
    return config


def without_binds(text: str) -> str:
    """haproxy.cfg without addresses, and without compose's DNS resolution of node names."""
    text = re.sub(r"resolvers docker\n(    .*\n)*\n", "", text)
    text = text.replace(" resolvers docker init-addr last,libc,none", "")
    return re.sub(r"port \d+", "port N", re.sub(r"\S+:\d+", "ADDR", text))


@pytest.fixture
def topologies(tmp_path: Path) -> tuple[Topology, Topology]:
    return local_topology(tmp_path), compose_topology()


def test_patroni_settings_identical_for_both_targets(
    topologies: tuple[Topology, Topology],
) -> None:
    local, compose = topologies
    for name in ("pg0", "pg1", "pg2"):
        rendered_local = patroni_config(local, local.node(name), CREDS)
        rendered_compose = patroni_config(compose, compose.node(name), CREDS)
        assert rendered_local != rendered_compose  # addresses do differ ...
        assert without_addresses(rendered_local) == without_addresses(rendered_compose)


def test_haproxy_and_etcd_identical_for_both_targets(
    topologies: tuple[Topology, Topology],
) -> None:
    local, compose = topologies
    assert without_binds(haproxy_config(local)) == without_binds(haproxy_config(compose))
    for member_local, member_compose in zip(local.etcd, compose.etcd, strict=True):
        env_local = etcd_environment(local, member_local)
        env_compose = etcd_environment(compose, member_compose)
        assert env_local.keys() == env_compose.keys()
        same = {k for k in env_local if env_local[k] == env_compose[k]}
        assert {"ETCD_NAME", "ETCD_HEARTBEAT_INTERVAL", "ETCD_ELECTION_TIMEOUT"} <= same


def test_dcs_differences_name_each_setting_the_running_config_lacks_or_changed() -> None:
    wanted = {"ttl": 20, "postgresql": {"use_slots": True, "parameters": {"a": "1", "b": 2}}}
    running = {"ttl": 30, "extra": 1, "postgresql": {"use_slots": True, "parameters": {"a": "1"}}}
    assert dcs_differences(running, wanted) == {
        "ttl": (30, 20),
        "postgresql.parameters.b": (None, 2),
    }
    assert dcs_differences(wanted, wanted) == {}
    assert dcs_differences({"postgresql": "?"}, wanted)["postgresql.use_slots"] == (None, True)


def test_zero_data_loss_and_fast_recovery_settings() -> None:
    assert DCS["ttl"] >= 20  # Patroni's floor: lower values are silently raised
    assert DCS["loop_wait"] + 2 * DCS["retry_timeout"] + DEMOTION_MARGIN <= DCS["ttl"]
    assert DCS["synchronous_mode"] is True
    assert DCS["postgresql"]["use_pg_rewind"] is True
    assert DCS["postgresql"]["use_slots"] is True
    config = patroni_config(compose_topology(), compose_topology().nodes[0], CREDS)
    assert "data-checksums" in config["bootstrap"]["initdb"]
    cfg = haproxy_config(compose_topology())
    assert cfg.count("on-marked-down shutdown-sessions") == 2
    assert "http-check send meth GET uri /primary" in cfg
    assert 'http-check send meth GET uri "/replica?lag=' in cfg
    assert "use-service prometheus-exporter if { path /metrics }" in cfg


@pytest.mark.parametrize("target", ["local", "compose"])
def test_every_node_preloads_pg_stat_statements(target: str, tmp_path: Path) -> None:
    topo = local_topology(tmp_path) if target == "local" else compose_topology()
    for node in topo.nodes:
        config = yaml.safe_load(yaml.safe_dump(patroni_config(topo, node, CREDS)))
        params = config["postgresql"]["parameters"]
        assert params["shared_preload_libraries"] == "pg_stat_statements"
        # The node's own config, applied at every start: bootstrap.dcs reaches new clusters only.
        dcs_params = config["bootstrap"]["dcs"]["postgresql"]["parameters"]
        assert "shared_preload_libraries" not in dcs_params


def test_compose_files_render_from_the_topology() -> None:
    assert (COMPOSE_DIR / "haproxy.cfg").read_text() == compose_haproxy_cfg(), (
        "deploy/compose/haproxy.cfg is stale: run `hotel cluster render-compose`"
    )
    compose = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
    topo = compose_topology()
    for member in topo.etcd:
        assert compose["services"][member.name]["environment"] == etcd_environment(topo, member)
    for node in topo.nodes:
        service = compose["services"][node.name]
        assert service["command"] == ["hotel", "cluster", "node", node.name]
        assert service["volumes"] == [f"{node.name}:{node.home}", f"backup-repo:{topo.backup_repo}"]


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed")
def test_local_haproxy_config_is_valid(tmp_path: Path) -> None:
    result = haproxy_check(tmp_path, {"HOTEL_HAPROXY_STATS_PASSWORD": "x"})
    assert result.returncode == 0, result.stderr


def compose(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    profiles = [a for p in ("seed", "monitor", "load", "db_backup") for a in ("--profile", p)]
    return subprocess.run(
        ["docker-compose", "--env-file", str(empty), *profiles, *args],
        cwd=COMPOSE_DIR,
        env={"PATH": "/usr/bin:/bin", "HOTEL_COMPOSE_ENV_FILE": str(empty), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_validates_offline(tmp_path: Path) -> None:
    result = compose(tmp_path, SECRETS_ENV, "config", "-q")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(compose(tmp_path, SECRETS_ENV, "config").stdout)
    services = resolved["services"]
    for name in ("seed", "load", "db_backup"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "hotel migrate head" in " ".join(services["migrate"]["command"])
    long_running = set(services) - {"init", "migrate", "seed", "load", "db_backup"}
    assert all("healthcheck" in services[name] for name in long_running)


def test_compose_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    result = compose(tmp_path, {}, "config", "-q")
    assert result.returncode != 0
    assert "in .env" in result.stderr


def test_port_in_use_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offset = 21000
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 2379 + offset))
        blocker.listen()
        env = {"PATH": "/usr/bin:/bin:/usr/sbin", "HOTEL_STATE_DIR": str(tmp_path)}
        result = run_hotel("cluster", "up", "--port-offset", str(offset), env=env)
    assert_one_line_error(result, f"port {2379 + offset} (etcd0 client) is in use by", "(pid")


@pytest.mark.parametrize("given", ["option", "environment"])
def test_ports_in_the_ephemeral_range_are_refused_before_anything_starts(
    tmp_path: Path, given: str
) -> None:
    # pg0's port lands on the first port the kernel may give any outgoing connection.
    offset = ephemeral_ports().start - 5432
    env = {"PATH": "/usr/bin:/bin:/usr/sbin", "HOTEL_STATE_DIR": str(tmp_path / "state")}
    if given == "option":
        result = run_hotel("cluster", "up", "--port-offset", str(offset), env=env)
    else:
        env["HOTEL_CLUSTER_PORT_OFFSET"] = str(offset)
        result = run_hotel("up", "--ha", env=env)
    assert_one_line_error(
        result,
        f"port {ephemeral_ports().start} (pg0 postgres) is in the range the kernel gives",
        "lower HOTEL_CLUSTER_PORT_OFFSET",
    )
    assert not cluster_root(tmp_path / "state").exists()  # nothing prepared


@pytest.mark.parametrize("offset", ["abc", "-1"])
def test_a_port_offset_that_is_no_offset_is_one_line(tmp_path: Path, offset: str) -> None:
    env = {"HOTEL_STATE_DIR": str(tmp_path), "HOTEL_CLUSTER_PORT_OFFSET": offset}
    assert_one_line_error(run_hotel("up", "--ha", env=env), "HOTEL_CLUSTER_PORT_OFFSET")


def test_missing_binaries_say_how_to_install(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOTEL_STATE_DIR": str(tmp_path)}
    result = run_hotel("cluster", "up", env=env)
    assert_one_line_error(result, "apt-get install --no-install-recommends etcd-server")


def test_node_without_secrets_and_unknown_node(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOTEL_STATE_DIR": str(tmp_path)}
    assert_one_line_error(run_hotel("cluster", "node", "pg0", env=env), "HOTEL_CLUSTER_")
    env.update(SECRETS_ENV)
    assert_one_line_error(run_hotel("cluster", "node", "pg9", env=env), "unknown node 'pg9'")


def test_status_without_a_cluster(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOTEL_STATE_DIR": str(tmp_path)}
    assert_one_line_error(run_hotel("cluster", "status", env=env), "hotel cluster up")


def _stopped_stack(state: Path) -> Path:
    """What a stopped local stack leaves: its config, a node's data, backups in its repo."""
    root = state / "cluster"
    (root / "pg0" / "data").mkdir(parents=True)
    (root / "pg0" / "data" / "PG_VERSION").write_text("15\n")
    (root / "backup-repo" / "archive").mkdir(parents=True)
    (root / "backup-repo" / "archive" / "000000010000000000000001").write_text("wal")
    (root / "cluster.json").write_text('{"port_offset": 0}')
    return root


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state directory the server user can walk (as root the stack runs as `postgres`)."""
    state = Path(tempfile.mkdtemp(prefix="hotel-purge-test-", dir="/var/tmp"))
    state.chmod(0o755)
    yield state
    shutil.rmtree(state, ignore_errors=True)


def test_purge_keeps_the_backups(state_dir: Path) -> None:
    """`--purge` deletes the data and never the backups made to restore it: the repository is
    moved beside the stack and the command says where."""
    root = _stopped_stack(state_dir)
    result = run_hotel("cluster", "down", "--purge", env={"HOTEL_STATE_DIR": str(state_dir)})
    assert result.returncode == 0, result.stderr
    assert not root.exists()
    kept = [p for p in state_dir.iterdir() if p.name.startswith("cluster-backups-")]
    assert [p.name for p in (kept[0] / "archive").iterdir()] == ["000000010000000000000001"]
    assert str(kept[0]) in result.stdout.replace("\n", "")


def test_purging_backups_needs_a_confirmation(state_dir: Path) -> None:
    root = _stopped_stack(state_dir)
    env = {"HOTEL_STATE_DIR": str(state_dir)}
    refused = run_hotel("cluster", "down", "--purge", "--purge-backups", env=env)
    assert_one_line_error(refused, "confirm with --yes")
    assert (root / "backup-repo" / "archive").is_dir()
    assert (root / "pg0").is_dir()
    assert_one_line_error(run_hotel("down", "--purge-backups", env=env), "goes with --purge")
    done = run_hotel("down", "--purge", "--purge-backups", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert list(state_dir.iterdir()) == []
