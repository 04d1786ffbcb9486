"""The compose stack seen from the host, through the interface of the local one, so the same
drill code (deploy/cluster/drill.py) and checks run against both.

It reaches the stack only through the ports published on 127.0.0.1 (HAProxy's primary and
stats ports, read from the stack's env file) and `docker exec` into its containers (Patroni's
REST API, pg_is_in_recovery() on a node); never at a container's own address.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from deploy.cluster.local import LocalCluster
from deploy.cluster.topology import (
    COMPOSE_TLS_DIR,
    REST_USER,
    STATS_PASSWORD_VAR,
    STATS_USER,
    SUPERUSER,
    Credentials,
    Topology,
    compose_topology,
)
from deploy.process import eventually
from hotel_models.errors import HotelError

COMPOSE_DIR = Path(__file__).resolve().parent
DATABASE = "hotel"
DRILL_LOGIN = "hotel_drill"
# Host ports when the env file leaves them out (docker-compose.yml's defaults).
DEFAULT_PORTS = {
    "HOTEL_PRIMARY_PORT": 5000,
    "HOTEL_REPLICA_PORT": 5001,
    "HOTEL_STATS_PORT": 7000,
    "HOTEL_PROMETHEUS_PORT": 9090,
    "HOTEL_BACKUP_METRICS_PORT": 9191,
}


Done = subprocess.CompletedProcess[str]


def docker(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None, stdin: str | None = None
) -> Done:
    binary = shutil.which("docker")
    if binary is None:
        raise HotelError("docker not found: apt-get install docker.io")
    try:
        return subprocess.run(
            [binary, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env=env,
            input=stdin,
        )
    except subprocess.TimeoutExpired:
        raise HotelError(f"docker {args[0]} did not answer within {timeout:.0f} s") from None


@dataclass
class ComposeCluster(LocalCluster):
    """A running compose project (`project`) configured by `env_file`."""

    env_file: Path = COMPOSE_DIR / ".env"
    project: str = "hotel"  # deploy/compose/compose.sh's default
    _containers: dict[str, str] = field(default_factory=dict)
    _drill_ready: bool = False

    @classmethod
    def open(cls, env_file: Path, project: str) -> ComposeCluster:
        if not env_file.is_file():
            raise HotelError(
                f"no env file {env_file}: copy deploy/compose/.env.example and fill it"
            )
        return cls(root=COMPOSE_DIR, env_file=env_file, project=project)

    @cached_property
    def env(self) -> dict[str, str]:
        return {k: v for k, v in dotenv_values(self.env_file).items() if v is not None}

    def port(self, variable: str) -> int:
        """A published port: like compose, the environment first, then the env file."""
        return int(os.environ.get(variable) or self.env.get(variable) or DEFAULT_PORTS[variable])

    @property
    def topology(self) -> Topology:
        return compose_topology()

    def credentials(self) -> Credentials:
        try:
            return Credentials(
                self.env["HOTEL_CLUSTER_SUPERUSER_PASSWORD"],
                self.env["HOTEL_CLUSTER_REPLICATION_PASSWORD"],
                self.env["HOTEL_CLUSTER_REST_PASSWORD"],
                self.env["HOTEL_CLUSTER_REWIND_PASSWORD"],
                self.env["HOTEL_CLUSTER_ETCD_PASSWORD"],
                self.env.get("HOTEL_CLUSTER_ETCD_ROOT_PASSWORD", ""),
            )
        except KeyError as exc:
            raise HotelError(f"{self.env_file} does not set {exc.args[0]}") from None

    def stats_auth(self) -> tuple[str, str]:
        if not self.env.get(STATS_PASSWORD_VAR):
            raise HotelError(f"{self.env_file} does not set {STATS_PASSWORD_VAR}")
        return STATS_USER, self.env[STATS_PASSWORD_VAR]

    @property
    def ca_file(self) -> Path:
        """The stack's CA certificate beside the env file (compose.sh up copies it there from
        the `tls` volume; copied now when missing)."""
        target = self.env_file.parent / "ca.crt"
        if not target.is_file():
            done = docker("cp", f"{self.container('init')}:{COMPOSE_TLS_DIR}/ca.crt", str(target))
            if done.returncode != 0:
                raise HotelError(
                    f"could not copy the stack's CA certificate: {done.stderr.strip()}"
                )
        return target

    def published_port(self, replica: bool = False) -> int:
        return self.port("HOTEL_REPLICA_PORT" if replica else "HOTEL_PRIMARY_PORT")

    def published_stats_port(self) -> int:
        return self.port("HOTEL_STATS_PORT")

    def primary_url(self, database: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        """What the drill writes with from the host: the superuser is refused over TCP, so a
        login of the drill's own (CREATE in the public schema of `postgres`, nothing else),
        through HAProxy like any client."""
        return self.service_url(DRILL_LOGIN, self._drill_login(), database, driver=driver)

    def replica_url(self, database: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        return self.service_url(DRILL_LOGIN, self._drill_login(), database, True, driver)

    @cached_property
    def _drill_password(self) -> str:
        return secrets.token_urlsafe(24)

    def _drill_login(self) -> str:
        password = self._drill_password
        if not self._drill_ready:
            self.sql(  # the password must not reach pg_stat_statements
                "SET pg_stat_statements.track_utility = off;\n"
                f"DO $$ BEGIN IF to_regrole('{DRILL_LOGIN}') IS NULL THEN "
                f"CREATE ROLE {DRILL_LOGIN} LOGIN; END IF; END $$;\n"
                f"ALTER ROLE {DRILL_LOGIN} PASSWORD '{password}';\n"
                f"GRANT CREATE ON SCHEMA public TO {DRILL_LOGIN};",
                database="postgres",
            )
            self._drill_ready = True
        return password

    def sql(self, query: str, database: str = DATABASE, on: str | None = None) -> list[list[str]]:
        """Run SQL as the superuser on node `on` (default: the leader), through its socket
        (`docker exec`; the SQL on stdin, so no secret shows in a process list); rows of text
        fields."""
        name = on or self.leader()
        if name is None:
            raise HotelError("no leader: is the stack up?")
        node = self.topology.node(name)
        done = docker(
            "exec", "-i", self.container(node.name),
            "sh", "-c",
            'PGPASSWORD="$HOTEL_CLUSTER_SUPERUSER_PASSWORD" psql -XAtq -v ON_ERROR_STOP=1 '
            '-h "$1" -p "$2" -U "$3" -d "$4"',
            "sh", node.home, str(node.pg_port), SUPERUSER, database,
            stdin=query, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise HotelError(f"psql on {name} failed: {done.stderr.strip()}")
        return [line.split("|") for line in done.stdout.splitlines() if line]

    # -- containers -------------------------------------------------------------------------

    def container(self, service: str) -> str:
        """The id of a service's container (running or not); ids survive kill and start."""
        if service not in self._containers:
            found = docker(
                "ps", "-aq",
                "--filter", f"label=com.docker.compose.project={self.project}",
                "--filter", f"label=com.docker.compose.service={service}",
            ).stdout.split()  # fmt: skip
            if len(found) != 1:
                raise HotelError(
                    f"compose project {self.project!r} has {len(found)} containers for "
                    f"{service!r}: is the stack up (make compose-up)?"
                )
            self._containers[service] = found[0]
        return self._containers[service]

    def exec(
        self, service: str, *argv: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.container(service), *argv, timeout=timeout)

    def running(self, service: str) -> bool:
        out = docker("inspect", "-f", "{{.State.Running}}", self.container(service)).stdout
        return out.strip() == "true"

    # -- what the drill uses ----------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        for node in self.topology.nodes:
            if not self.running(node.name):
                continue
            url = f"http://127.0.0.1:{node.rest_port}/cluster"
            done = self.exec(node.name, "curl", "-fsS", "--max-time", "3", url)
            if done.returncode == 0:
                try:
                    return list(json.loads(done.stdout).get("members", []))
                except ValueError:
                    continue
        return []

    def kill_node(self, name: str) -> None:
        """Node loss: SIGKILL to the whole container (Patroni, the postmaster, its backends)."""
        docker("kill", self.container(self.topology.node(name).name))
        eventually(lambda: not self.running(name), 10, f"{name} to die")

    def start_node(self, name: str) -> None:
        """Start a stopped node container (Docker does not restart a container it was told to
        kill, whatever its restart policy)."""
        if not self.running(name):
            done = docker("start", self.container(self.topology.node(name).name))
            if done.returncode != 0:
                raise HotelError(f"docker start {name}: {done.stderr.strip()}")

    def _rest(
        self, name: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        rest = self.topology.node(name).rest_port
        # The password is the container's own variable: it never shows in the host's ps.
        done = self.exec(
            name,
            "sh", "-c",
            'curl -sS --max-time 60 -o /dev/stderr -w "%{http_code}" -X "$3" '
            f'-u "{REST_USER}:$HOTEL_CLUSTER_REST_PASSWORD" '
            '-H "Content-Type: application/json" ${1:+-d "$1"} "$2"',
            "sh", "" if body is None else json.dumps(body), f"http://127.0.0.1:{rest}/{path}",
            method,
            timeout=70,
        )  # fmt: skip
        answer = done.stderr.strip()
        try:
            status = int(done.stdout.strip() or 0)
        except ValueError:
            return 0, answer
        try:
            return status, json.loads(answer)
        except ValueError:
            return status, answer

    def in_recovery(self, name: str) -> bool | None:
        node = self.topology.node(name)
        if not self.running(name):
            return None
        done = self.exec(
            name,
            "sh", "-c",
            'PGPASSWORD="$HOTEL_CLUSTER_SUPERUSER_PASSWORD" psql -XAtq -h "$1" -p "$2" -U "$3" '
            '-d postgres -c "SELECT pg_is_in_recovery()"',
            "sh", node.home, str(node.pg_port), SUPERUSER,
        )  # fmt: skip
        answer = done.stdout.strip()
        return {"t": True, "f": False}.get(answer) if done.returncode == 0 else None
