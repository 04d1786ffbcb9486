"""Who Prometheus scrapes, for both stacks: prometheus.yml from the stack's own endpoints
(`ClusterTargets`, which deploy/cluster derives from its topology) plus the monitoring ports
below, so the local stack and compose scrape the same jobs with the same labels (`node` =
pg0..pg2, `member` = etcd0..etcd2) and the rules and dashboards work on both. Local ports follow
the cluster's offset scheme: base port + offset (+ node index).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCRAPE_INTERVAL = "15s"
EVALUATION_INTERVAL = "15s"
# Base ports, shifted by the cluster's port offset on the local target.
PROMETHEUS_PORT = 9090
PG_EXPORTER_PORT = 9187  # one postgres_exporter per node: 9187, 9188, 9189
DB_EXPORTER_PORT = 9190  # ours: business + health metrics through HAProxy's primary port
BACKUP_METRICS_PORT = 9191  # the backup service's metrics (`hotel backup` scheduler)
LOAD_METRICS_PORT = 8000  # `hotel load --metrics-port`, its default


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Monitoring:
    """The monitoring side of a stack: where each exporter and Prometheus listen."""

    prometheus: Endpoint
    pg_exporters: tuple[Endpoint, ...]  # same order as Topology.nodes
    db_exporter: Endpoint
    load: Endpoint
    backup: Endpoint
    scrape_interval: str = SCRAPE_INTERVAL

    def ports(self) -> dict[str, int]:
        found = {"prometheus": self.prometheus.port}
        for i, exporter in enumerate(self.pg_exporters):
            found[f"postgres_exporter pg{i}"] = exporter.port
        found["db exporter"] = self.db_exporter.port
        found["load metrics"] = self.load.port
        found["backup metrics"] = self.backup.port
        return found


def local_monitoring(offset: int = 0, scrape_interval: str = "5s") -> Monitoring:
    """Everything on 127.0.0.1; a short interval so a fresh local stack has data quickly."""
    host = "127.0.0.1"
    return Monitoring(
        prometheus=Endpoint(host, PROMETHEUS_PORT + offset),
        pg_exporters=tuple(Endpoint(host, PG_EXPORTER_PORT + offset + i) for i in range(3)),
        db_exporter=Endpoint(host, DB_EXPORTER_PORT + offset),
        load=Endpoint(host, LOAD_METRICS_PORT + offset),
        backup=Endpoint(host, BACKUP_METRICS_PORT + offset),
        scrape_interval=scrape_interval,
    )


def compose_monitoring() -> Monitoring:
    """Service names of deploy/compose/docker-compose.yml (profile `monitor`)."""
    return Monitoring(
        prometheus=Endpoint("prometheus", PROMETHEUS_PORT),
        pg_exporters=tuple(Endpoint(f"pg{i}-exporter", PG_EXPORTER_PORT) for i in range(3)),
        db_exporter=Endpoint("db-exporter", DB_EXPORTER_PORT),
        load=Endpoint("load", LOAD_METRICS_PORT),
        backup=Endpoint("db_backup", BACKUP_METRICS_PORT),
    )


@dataclass(frozen=True)
class ClusterTargets:
    """The stack's own endpoints: Patroni's REST API per node, HAProxy's stats, etcd."""

    stack: str  # the `stack` external label: local or compose
    patroni: tuple[tuple[str, str], ...]  # (node, host:port), the order of the exporters
    haproxy: str  # host:port of the stats page
    etcd: tuple[tuple[str, str], ...]  # (member, host:port)
    # HAProxy's stats page and /metrics ask for a password: (user, file Prometheus reads)
    haproxy_auth: tuple[str, str] | None = None


def _job(
    name: str, targets: list[tuple[str, dict[str, str]]], auth: tuple[str, str] | None = None
) -> dict[str, Any]:
    job: dict[str, Any] = {"job_name": name}
    if auth:
        job["basic_auth"] = {"username": auth[0], "password_file": auth[1]}
    job["static_configs"] = [
        {"targets": [address], "labels": labels} if labels else {"targets": [address]}
        for address, labels in targets
    ]
    return job


def prometheus_config(cluster: ClusterTargets, mon: Monitoring, rules_dir: str) -> dict[str, Any]:
    """prometheus.yml as a dict; `rules_dir` is where monitor/rules is seen by Prometheus."""
    nodes = [node for node, _ in cluster.patroni]
    return {
        "global": {
            "scrape_interval": mon.scrape_interval,
            "evaluation_interval": mon.scrape_interval,
            "external_labels": {"stack": cluster.stack},
        },
        "rule_files": [f"{rules_dir}/*.yml"],
        "scrape_configs": [
            _job("prometheus", [(mon.prometheus.address, {})]),
            _job(
                "postgres",
                [(e.address, {"node": n}) for n, e in zip(nodes, mon.pg_exporters, strict=True)],
            ),
            _job("patroni", [(address, {"node": node}) for node, address in cluster.patroni]),
            _job("haproxy", [(cluster.haproxy, {})], cluster.haproxy_auth),
            _job("etcd", [(address, {"member": member}) for member, address in cluster.etcd]),
            _job("hotel_db", [(mon.db_exporter.address, {})]),
            _job("hotel_load", [(mon.load.address, {})]),
            _job("hotel_backup", [(mon.backup.address, {})]),
        ],
    }


def rules_dir() -> Path:
    """monitor/rules in the source tree (alert rules and their promtool tests)."""
    return Path(__file__).resolve().parent / "rules"


COMPOSE_RULES_DIR = "/etc/prometheus/rules"  # monitor/rules mounted read-only
# Written from .env at the container's start (docker-compose.yml, service prometheus).
COMPOSE_HAPROXY_PASSWORD_FILE = "/tmp/haproxy-stats.password"  # noqa: S105, S108 - a path


def render_yaml(config: dict[str, Any], source: str) -> str:
    header = f"# Generated by {source} from monitor/targets.py: do not edit.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def compose_prometheus_path() -> Path:
    """monitor/prometheus/prometheus.yml, which the compose `prometheus` service mounts."""
    return Path(__file__).resolve().parent / "prometheus" / "prometheus.yml"
