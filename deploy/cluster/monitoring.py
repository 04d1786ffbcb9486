"""Monitoring of the local HA stack as processes: postgres_exporter x3, our db exporter,
Prometheus, and the backup tool's backup.prom served when no scheduler serves it.

They live beside the cluster (`<cluster root>/monitor`, logs in its logs/, pids in its run/)
and are started the same way (own session, as `postgres` when root), on the cluster's port
offset. Prometheus reads the same rules as compose, copied so the server user can read them.
Processes are started and stopped with LocalCluster's own helpers, so `hotel cluster down`
and the test fixtures find them in the same run/ directory.
"""

from __future__ import annotations

import secrets
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg

from deploy.cluster.local import LocalCluster, http, server_python
from deploy.cluster.topology import STATS_USER, Topology, compose_topology
from deploy.process import (
    chown_to_server_user,
    eventually,
    find_binary,
    port_owner,
    read_secret,
    signal_group,
    write_secret,
)
from hotel_models.errors import HotelError
from hotel_models.settings import libpq_url
from monitor.role import MONITOR_ROLE, ensure_monitor_role, node_conninfo
from monitor.targets import (
    COMPOSE_HAPROXY_PASSWORD_FILE,
    COMPOSE_RULES_DIR,
    ClusterTargets,
    Monitoring,
    compose_monitoring,
    local_monitoring,
    prometheus_config,
    render_yaml,
    rules_dir,
)

APT_HINT = "apt-get install --no-install-recommends prometheus prometheus-postgres-exporter"
PG_EXPORTERS = ("pgexp0", "pgexp1", "pgexp2")
DB_EXPORTER = "db-exporter"
BACKUP_TEXTFILE = "backup-textfile"
PROMETHEUS = "prometheus"
ALL = (*PG_EXPORTERS, DB_EXPORTER, BACKUP_TEXTFILE, PROMETHEUS)


def cluster_targets(topo: Topology, stats_password_file: str) -> ClusterTargets:
    """What Prometheus scrapes of a stack itself, from its topology."""
    return ClusterTargets(
        stack=topo.target,
        patroni=tuple((n.name, f"{n.host}:{n.rest_port}") for n in topo.nodes),
        haproxy=f"{topo.haproxy_host}:{topo.stats_port}",
        etcd=tuple((m.name, f"{m.host}:{m.client_port}") for m in topo.etcd),
        haproxy_auth=(STATS_USER, stats_password_file),
    )


def compose_prometheus_yml() -> str:
    """monitor/prometheus/prometheus.yml of the compose stack (`hotel cluster render-compose`)."""
    config = prometheus_config(
        cluster_targets(compose_topology(), COMPOSE_HAPROXY_PASSWORD_FILE),
        compose_monitoring(),
        COMPOSE_RULES_DIR,
    )
    return render_yaml(config, "`hotel cluster render-compose`")


@dataclass
class LocalMonitor:
    cluster: LocalCluster
    # <state_dir>/metrics, where the backup tool writes backup.prom (None: not looked at)
    metrics_dir: Path | None = None

    @property
    def monitoring(self) -> Monitoring:
        return local_monitoring(self.cluster.offset)

    @property
    def home(self) -> Path:
        return self.cluster.root / "monitor"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.monitoring.prometheus.address}"

    def running(self) -> dict[str, int]:
        return {name: pid for name in ALL if (pid := self.cluster.pid(name))}

    def up(self, progress: Callable[[str], None] = lambda _: None) -> list[str]:
        """Start what is not running (a running Prometheus reloads the rewritten config);
        returns the feeds not running (none when the real load and backup services run)."""
        if not self.cluster.members():
            raise HotelError("the cluster is not running: start it with `hotel cluster up`")
        prometheus = find_binary("prometheus", hint=APT_HINT)
        pg_exporter = find_binary(
            "prometheus-postgres-exporter", "postgres_exporter", hint=APT_HINT
        )
        mon, topo = self.monitoring, self.cluster.topology
        running = self.running()
        for name, port in zip(
            (PROMETHEUS, *PG_EXPORTERS, DB_EXPORTER),
            (mon.prometheus.port, *(e.port for e in mon.pg_exporters), mon.db_exporter.port),
            strict=True,
        ):
            holder = None if name in running else port_owner(port)
            if holder:
                raise HotelError(f"port {port} ({name}) is in use by {holder}")
        self._prepare()
        password = self._monitor_role()
        progress("starting postgres_exporter x3 and the db exporter")
        for name, node, exporter in zip(PG_EXPORTERS, topo.nodes, mon.pg_exporters, strict=True):
            if name not in running:
                dsn = node_conninfo(node.host, node.pg_port, password, "postgres")
                argv = [pg_exporter, f"--web.listen-address={exporter.address}", "--log.level=warn"]
                tls = f" sslmode=verify-full sslrootcert={self.cluster.ca_file}"
                self.cluster.spawn(name, argv, {"DATA_SOURCE_NAME": dsn + tls})
        python, env = server_python()
        module = [python, "-m", "deploy", "monitor"]
        if DB_EXPORTER not in running:
            argv = [*module, "db-exporter", "--host", mon.db_exporter.host]
            argv += ["--port", str(mon.db_exporter.port)]
            for node in topo.nodes:
                argv += ["--node", f"{node.name}={node.host}:{node.pg_port}"]
            # As hotel_monitor through HAProxy; libpq verifies every node (PGSSLMODE) too.
            env = {
                **env,
                "HOTEL_DATABASE_URL": self.cluster.service_url(MONITOR_ROLE, password),
                "HOTEL_MONITOR_PASSWORD": password,
                "PGSSLMODE": "verify-full",
                "PGSSLROOTCERT": str(self.cluster.ca_file),
            }
            self.cluster.spawn(DB_EXPORTER, argv, env)
        absent = self._start_feeds(module, env, running)
        progress("starting Prometheus")
        if PROMETHEUS in running:
            signal_group(running[PROMETHEUS], signal.SIGHUP)
        else:
            self.cluster.spawn(
                PROMETHEUS,
                [
                    prometheus,
                    f"--config.file={self.home / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.home / 'data'}",
                    "--storage.tsdb.retention.time=2d",
                    f"--web.listen-address={mon.prometheus.address}",
                    "--log.level=warn",
                ],
            )
        # Ready comes before the first target sync: wait for the targets as well.
        eventually(lambda: self.ready() and self.targets(), 30, "Prometheus and its targets")
        return absent

    def _start_feeds(
        self, module: list[str], env: dict[str, str], running: dict[str, int]
    ) -> list[str]:
        """The load and backup targets are the real services. Backups: when nothing serves the
        port but the tool wrote <state>/metrics/backup.prom, serve that file (Prometheus reads
        no files). Returns the feeds absent: their targets stay down and their panels empty
        (never synthetic figures) until `hotel load` / `hotel backup` run."""
        mon = self.monitoring
        textfile = self.metrics_dir is not None and (self.metrics_dir / "backup.prom").is_file()
        if textfile and BACKUP_TEXTFILE not in running and port_owner(mon.backup.port) is None:
            argv = [*module, "textfile-exporter", "--directory", str(self.metrics_dir)]
            argv += ["--port", str(mon.backup.port), "--host", mon.backup.host]
            self.cluster.spawn(BACKUP_TEXTFILE, argv, env)
            running[BACKUP_TEXTFILE] = 0
        absent = []
        if port_owner(mon.load.port) is None:
            absent.append("load (`hotel load`)")
        if BACKUP_TEXTFILE not in running and port_owner(mon.backup.port) is None:
            absent.append("backup (`hotel backup create` or `schedule`)")
        return absent

    def _url(self) -> str:
        return self.cluster.primary_url()

    def _monitor_role(self) -> str:
        """The exporters' own login (pg_monitor only), its password generated at the first
        `up` beside the cluster's secrets and set again at every `up`."""
        secret = self.cluster.root / "monitor-secret"
        if not secret.is_file():
            write_secret(secret, secrets.token_urlsafe(24))
        password = read_secret(secret).strip()
        try:
            with psycopg.connect(
                libpq_url(self._url()), autocommit=True, connect_timeout=10
            ) as conn:
                ensure_monitor_role(conn, password)
        except psycopg.Error as exc:
            raise HotelError(f"could not set up {MONITOR_ROLE}: {str(exc).strip()}") from None
        return password

    def _prepare(self) -> None:
        """prometheus.yml and a copy of the rules, owned by the server user when root."""
        self.home.mkdir(exist_ok=True)
        rules = self.home / "rules"
        shutil.rmtree(rules, ignore_errors=True)
        shutil.copytree(rules_dir(), rules, ignore=shutil.ignore_patterns("tests"))
        targets = cluster_targets(self.cluster.topology, str(self.cluster.stats_password_file))
        config = prometheus_config(targets, self.monitoring, str(rules))
        (self.home / "prometheus.yml").write_text(render_yaml(config, "`hotel cluster monitor up`"))
        (self.home / "data").mkdir(exist_ok=True)
        chown_to_server_user(self.home, *self.home.rglob("*"))

    def ready(self) -> bool:
        return http("GET", f"{self.prometheus_url}/-/ready")[0] == 200

    def down(self) -> list[str]:
        """Stop every monitoring process (not the cluster)."""
        return self.cluster.stop(ALL, timeout=15)

    # -- Prometheus HTTP API --------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a success, HotelError with Prometheus' error."""
        query = f"?{urlencode(params)}" if params else ""
        status, body = http("GET", f"{self.prometheus_url}/api/v1/{path}{query}", timeout=10)
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else body
            raise HotelError(f"Prometheus {path} failed ({status}): {error}")
        return body["data"]

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", state="active")["activeTargets"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result = data["result"]
        return list(result) if data["resultType"] == "vector" else [{"value": result}]
