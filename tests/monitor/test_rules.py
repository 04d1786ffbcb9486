"""Alert rules and Prometheus configs, checked by the real promtool (fast, no cluster)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.cluster.monitoring import cluster_targets, compose_prometheus_yml
from deploy.cluster.topology import DCS, compose_topology, local_topology
from monitor.targets import (
    compose_monitoring,
    compose_prometheus_path,
    local_monitoring,
    prometheus_config,
    render_yaml,
    rules_dir,
)

RULES = rules_dir()


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool missing: apt-get install --no-install-recommends prometheus")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


def alerts() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[rule["alert"]] = rule
    return found


def test_rule_files_are_valid() -> None:
    result = promtool("check", "rules", *map(str, sorted(RULES.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", *map(str, sorted((RULES / "tests").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in (RULES / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = set(alerts())
    assert names - firing == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown silent"


def test_every_alert_has_severity_and_summary() -> None:
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name  # type: ignore[index]
        assert rule["annotations"]["summary"], name  # type: ignore[index]


def test_lag_alert_threshold_is_patronis_failover_limit() -> None:
    """Over maximum_lag_on_failover a replica is no failover candidate: that is the alert."""
    expr = str(alerts()["PostgresReplicationLagBytes"]["expr"])
    assert expr.endswith(f"> {DCS['maximum_lag_on_failover']}")


@pytest.mark.parametrize("target", ["local", "compose"])
def test_rendered_prometheus_config_passes_promtool(target: str, tmp_path: Path) -> None:
    password = tmp_path / "stats.password"  # HAProxy's stats need a password
    password.write_text("secret")
    if target == "local":
        cluster = cluster_targets(local_topology(tmp_path, 10000), str(password))
        config = prometheus_config(cluster, local_monitoring(10000), "")
    else:
        cluster = cluster_targets(compose_topology(), str(password))
        config = prometheus_config(cluster, compose_monitoring(), "")
    config["rule_files"] = [str(RULES / "*.yml")]  # promtool also loads the rules
    path = tmp_path / "prometheus.yml"
    path.write_text(render_yaml(config, "test"))
    result = promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {
        "prometheus",
        "postgres",
        "patroni",
        "haproxy",
        "etcd",
        "hotel_db",
        "hotel_load",
        "hotel_backup",
    }


def test_local_ports_follow_the_cluster_offset_and_do_not_collide() -> None:
    for offset in (0, 10000):
        ports = [
            *local_topology(Path("/x"), offset).ports().values(),
            *local_monitoring(offset).ports().values(),
        ]
        assert len(ports) == len(set(ports))
        assert local_monitoring(offset).prometheus.port == 9090 + offset


def test_committed_compose_prometheus_yml_is_current() -> None:
    assert compose_prometheus_path().read_text() == compose_prometheus_yml(), (
        "run `hotel cluster render-compose`"
    )


def test_every_compose_scrape_target_is_a_compose_service() -> None:
    compose_file = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "docker-compose.yml"
    services = yaml.safe_load(compose_file.read_text())["services"]
    config = yaml.safe_load(compose_prometheus_path().read_text())
    hosts = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert hosts - set(services) == set()
    for name in ("pg0-exporter", "pg1-exporter", "pg2-exporter", "db-exporter", "grafana"):
        assert services[name]["profiles"] == ["monitor"]
