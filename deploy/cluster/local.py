"""The HA stack as local processes on 127.0.0.1: etcd x3, Patroni x3, HAProxy (no Docker).

State lives under `<state_dir>/cluster` (or a /var/tmp fallback the `postgres` user can reach,
recorded in `<state_dir>/cluster.location`): one directory per member, logs/, run/*.pid,
cluster.json (port offset) and secrets.json (0600, generated at the first `up`). Every process
runs in its own session so `down` can signal whole process groups; Patroni detaches its
postmaster, so that one is found through postmaster.pid.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import os
import pwd
import secrets
import shutil
import signal
import site
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import yaml

from deploy.cluster import tls
from deploy.cluster.etcd_auth import enable_auth
from deploy.cluster.topology import (
    DCS,
    REPLICA_MAX_LAG_VAR,
    REST_USER,
    STATS_PASSWORD_VAR,
    STATS_USER,
    SUPERUSER,
    Credentials,
    Node,
    Topology,
    dcs_differences,
    etcd_environment,
    haproxy_config,
    local_topology,
    patroni_config,
    pgbackrest_node_config,
    superuser_url,
    tls_url,
)
from deploy.embedded import create_database_if_missing, find_bin_dir
from deploy.process import (
    PidFile,
    alive,
    check_fixed_ports,
    chown_to_server_user,
    eventually,
    find_binary,
    port_owner,
    reachable_by_server_user,
    read_secret,
    runs_as_server_user,
    safe_dir,
    server_user,
    signal_group,
    spawn,
    terminate,
    wait_until,
    write_secret,
)
from hotel_models.errors import HotelError
from hotel_models.settings import get_settings
from monitor.targets import local_monitoring

APT_HINT = "apt-get install --no-install-recommends etcd-server etcd-client haproxy"
PORT_OFFSET_SETTING = "HOTEL_CLUSTER_PORT_OFFSET (--port-offset)"
PIP_HINT = "pip install 'patroni[etcd3]'"
DATABASE = "hotel"


def cluster_root(state_dir: Path) -> Path:
    """state_dir/cluster, or /var/tmp/hotel-cluster-<hash> when root runs it from a path the
    postgres user cannot walk (a clone under /root)."""
    pointer = state_dir / "cluster.location"
    if pointer.is_file():
        return Path(pointer.read_text().strip())
    root = state_dir.resolve() / "cluster"
    if runs_as_server_user():
        state_dir.mkdir(parents=True, exist_ok=True)
        if not reachable_by_server_user(state_dir.resolve()):
            digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
            root = Path(f"/var/tmp/hotel-cluster-{digest}")  # noqa: S108 - fixed, not shared
            pointer.write_text(str(root))
    return root


def http(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 3,
) -> tuple[int, Any]:
    """One small JSON request (Patroni REST, etcd health); (0, None) when unreachable."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our URLs
    request.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, TimeoutError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class LocalCluster:
    root: Path
    up_seconds: float = 0.0  # how long the last `up` took, for reports and the bootstrap test

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> LocalCluster:
        return cls(cluster_root(state_dir))

    # -- files ------------------------------------------------------------------------------

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def _meta(self) -> Path:
        return self.root / "cluster.json"

    @property
    def _secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def stats_password_file(self) -> Path:
        """HAProxy's stats password (0600, owned by the server user: Prometheus reads it)."""
        return self.root / "haproxy-stats.password"

    def stats_auth(self) -> tuple[str, str]:
        return STATS_USER, read_secret(self.stats_password_file).strip()

    def exists(self) -> bool:
        return self._meta.is_file()

    @property
    def offset(self) -> int:
        return int(json.loads(self._meta.read_text())["port_offset"]) if self.exists() else 0

    @property
    def backup_repo(self) -> str | None:
        """The pgBackRest repository chosen at the first `up` (None: under the root)."""
        if not self.exists():
            return None
        return json.loads(self._meta.read_text()).get("backup_repo")

    @property
    def topology(self) -> Topology:
        return local_topology(self.root, self.offset, str(find_bin_dir()), self.backup_repo)

    def credentials(self) -> Credentials:
        if not self._secrets.is_file():
            raise HotelError(f"no local cluster under {self.root}: run `hotel cluster up` first")
        return Credentials(**json.loads(read_secret(self._secrets)))

    @property
    def ca_file(self) -> Path:
        """The stack's CA certificate: what clients verify the servers with (verify-full)."""
        return Path(self.topology.ca_file)

    def primary_url(self, database: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        """The superuser's DSN (migrations, seeding, backups): the nodes' unix sockets, the
        primary found by libpq. The superuser is refused over TCP."""
        password = self.credentials().superuser_password
        return superuser_url(self.topology, password, database, driver=driver)

    def replica_url(self, database: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        password = self.credentials().superuser_password
        return superuser_url(self.topology, password, database, standby=True, driver=driver)

    def node_url(self, node: Node, database: str = "postgres") -> str:
        """The superuser on one node, through its socket (pg_is_in_recovery(), drills)."""
        password = quote(self.credentials().superuser_password, safe="")
        return (
            f"postgresql://{SUPERUSER}:{password}@/{database}?host={node.home}&port={node.pg_port}"
        )

    def service_url(
        self,
        user: str,
        password: str,
        database: str = DATABASE,
        replica: bool = False,
        driver: str = "postgresql+psycopg",
    ) -> str:
        """A login's DSN through HAProxy (primary or replica port), TLS verified against the
        stack's CA: what the service, the load generator and the exporters use."""
        port = self.published_port(replica)
        return tls_url("127.0.0.1", port, user, password, database, str(self.ca_file), driver)

    def published_port(self, replica: bool = False) -> int:
        """HAProxy's primary (or replica) port on 127.0.0.1."""
        return self.topology.replica_port if replica else self.topology.primary_port

    def published_stats_port(self) -> int:
        """HAProxy's stats page and /metrics on 127.0.0.1."""
        return self.topology.stats_port

    def _prepare(self, offset: int, backup_repo: str | None = None) -> None:
        """First `up`: directories owned by the server user, port offset, random secrets.

        The backup repository is pinned here (HOTEL_BACKUP_REPO_PATH at the first `up`) so the
        nodes' archive_command and `hotel backup` can never disagree about it.
        """
        safe_dir(self.root)
        for sub in ("logs", "run", "backup"):
            (self.root / sub).mkdir(exist_ok=True)
        if not self.exists():
            meta: dict[str, Any] = {"port_offset": offset}
            if backup_repo:
                meta["backup_repo"] = backup_repo
            self._meta.write_text(json.dumps(meta))
        repo = safe_dir(Path(self.topology.backup_repo))
        self._ensure_secrets()
        if not self.stats_password_file.is_file():
            write_secret(self.stats_password_file, secrets.token_urlsafe(24))
        tls.provision(self.topology, self.root / "tls")
        if runs_as_server_user():
            if not reachable_by_server_user(self.root):
                raise HotelError(
                    f"{self.root} is not reachable by the server user: "
                    "choose HOTEL_STATE_DIR under a world-traversable path"
                )
            chown_to_server_user(self.root, *self.root.iterdir(), repo)

    def _ensure_secrets(self) -> None:
        """Random secrets for every credential; a stack made before some existed gets the
        missing ones (the file is rewritten, never reused with other content)."""
        known: dict[str, str] = {}
        if self._secrets.is_file():
            known = json.loads(read_secret(self._secrets))
        fields = [f.name for f in dataclasses.fields(Credentials)]
        missing = [f for f in fields if not known.get(f)]
        if missing:
            known.update({f: secrets.token_urlsafe(24) for f in missing})
            self._secrets.unlink(missing_ok=True)
            write_secret(self._secrets, json.dumps(known))

    # -- processes ----------------------------------------------------------------------------

    def pid_file(self, name: str) -> PidFile:
        return PidFile(self.root / "run" / f"{name}.pid")

    def pid(self, name: str) -> int | None:
        return self.pid_file(name).pid()

    def postmaster_pid(self, node: Node) -> int | None:
        """The postmaster of a node, checked against /proc so a stale file kills nothing."""
        try:
            pid = int((Path(node.data_dir) / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            return None
        return pid if node.data_dir in cmdline and alive(pid) else None

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start member `name` as the server user; its log in logs/, its pid in run/."""
        process = spawn(argv, self.logs / f"{name}.log", env=env, cwd=self.root)
        self.pid_file(name).write(process.pid)

    def stop(self, names: list[str] | tuple[str, ...], timeout: float = 30) -> list[str]:
        """SIGTERM these members' process groups at once, SIGKILL what outlives `timeout`;
        returns the names that were running."""
        pids = {name: pid for name in names if (pid := self.pid(name))}
        for pid in pids.values():
            signal_group(pid, signal.SIGTERM)
        wait_until(lambda: not any(alive(p) for p in pids.values()), timeout)
        for pid in pids.values():
            if alive(pid):
                signal_group(pid, signal.SIGKILL)
        for name in names:
            self.pid_file(name).path.unlink(missing_ok=True)
        return list(pids)

    def start_etcd(self, name: str) -> None:
        topo = self.topology
        member = next(m for m in topo.etcd if m.name == name)
        if self.pid(name):
            return
        self.spawn(name, [_binary("etcd")], etcd_environment(topo, member))

    def start_node(self, name: str) -> None:
        """Start Patroni through the same entrypoint the container runs (`cluster node`)."""
        if self.pid(name):
            return
        python, env = server_python()
        argv = [python, "-m", "deploy", "cluster", "node", name, "--root", str(self.root)]
        self.spawn(name, argv, env)

    def start_haproxy(self) -> None:
        if self.pid("haproxy"):
            return
        config = self.root / "haproxy.cfg"
        config.write_text(haproxy_config(self.topology))
        env = {
            STATS_PASSWORD_VAR: self.stats_auth()[1],
            REPLICA_MAX_LAG_VAR: get_settings().replica_max_lag,
        }
        self.spawn("haproxy", [_binary("haproxy"), "-db", "-f", str(config)], env)

    def kill_node(self, name: str) -> None:
        """Node loss: SIGKILL Patroni and the postmaster with all its backends at once."""
        node = self.topology.node(name)
        postmaster = self.postmaster_pid(node)
        patroni = self.pid(name)
        if patroni:
            signal_group(patroni, signal.SIGKILL)
        if postmaster:
            signal_group(postmaster, signal.SIGKILL)
        eventually(
            lambda: not self.pid(name) and not self.postmaster_pid(node), 10, f"{name} to die"
        )

    def kill_etcd(self, name: str) -> None:
        pid = self.pid(name)
        if pid:
            signal_group(pid, signal.SIGKILL)
            eventually(lambda: not self.pid(name), 10, f"{name} to die")

    # -- life cycle ---------------------------------------------------------------------------

    def check_ports(self, topo: Topology) -> None:
        """Every port a not-yet-running member needs must be free: say which and who holds it."""
        names = [*(m.name for m in topo.etcd), *(n.name for n in topo.nodes), "haproxy"]
        running = {name for name in names if self.pid(name)}
        for what, port in topo.ports().items():
            owner_name = what.split()[0]
            if owner_name in running:
                continue
            if what.endswith("postgres") and self._pg_alive(owner_name):
                continue
            holder = port_owner(port)
            if holder:
                raise HotelError(
                    f"port {port} ({what}) is in use by {holder}: stop it or pick other ports "
                    f"with {PORT_OFFSET_SETTING}"
                )

    def _pg_alive(self, name: str) -> bool:
        return self.exists() and self.postmaster_pid(self.topology.node(name)) is not None

    def up(
        self,
        offset: int = 0,
        progress: Callable[[str], None] = lambda _: None,
        backup_repo: str | None = None,
    ) -> None:
        started = time.monotonic()
        for tool in ("etcd", "haproxy"):
            _binary(tool)
        _binary("patroni")
        bin_dir = str(find_bin_dir())
        if self.exists() and offset != self.offset:
            raise HotelError(
                f"the cluster under {self.root} uses port offset {self.offset}, not {offset}: "
                "run `hotel cluster down --purge` to start over with another offset"
            )
        topology = local_topology(self.root, offset, bin_dir)
        # The monitoring's ports follow the same offset, fixed here for the cluster's life.
        fixed = {**topology.ports(), **local_monitoring(offset).ports()}
        check_fixed_ports(fixed, PORT_OFFSET_SETTING)
        self.check_ports(topology)
        self._prepare(offset, backup_repo)
        topo = self.topology
        progress("starting etcd x3")
        for member in topo.etcd:
            self.start_etcd(member.name)
        eventually(self.etcd_healthy, 30, "etcd x3 to be healthy")
        enable_auth(topo, self.credentials())
        progress("starting Patroni x3")
        for node in topo.nodes:
            self.start_node(node.name)
        eventually(self.bootstrapped, 90, "a leader, two streaming replicas and a sync standby")
        progress("starting HAProxy")
        self.start_haproxy()
        eventually(self.haproxy_ready, 15, "HAProxy to route to the leader")
        self.ensure_database()
        self.up_seconds = time.monotonic() - started

    def etcd_healthy(self) -> bool:
        return all(
            http("GET", f"http://127.0.0.1:{m.client_port}/health")[1] == {"health": "true"}
            for m in self.topology.etcd
        )

    def members(self) -> list[dict[str, Any]]:
        """Patroni's view of the cluster (REST /cluster of the first node that answers)."""
        for node in self.topology.nodes:
            status, body = http("GET", f"http://127.0.0.1:{node.rest_port}/cluster")
            if status == 200 and isinstance(body, dict):
                return list(body.get("members", []))
        return []

    def leader(self) -> str | None:
        return next((m["name"] for m in self.members() if m["role"] == "leader"), None)

    def sync_standby(self) -> str | None:
        return next((m["name"] for m in self.members() if m["role"] == "sync_standby"), None)

    def bootstrapped(self) -> bool:
        """One running leader, two streaming replicas, one of them the sync standby."""
        members = self.members()
        leaders = [m for m in members if m["role"] == "leader" and m["state"] == "running"]
        streaming = [m for m in members if m["role"] != "leader" and m["state"] == "streaming"]
        sync = [m for m in members if m["role"] == "sync_standby"]
        return len(leaders) == 1 and len(streaming) == 2 and len(sync) == 1

    def haproxy_stats(self) -> list[dict[str, str]]:
        url = f"http://127.0.0.1:{self.published_stats_port()}/;csv"
        status, body = http("GET", url, auth=self.stats_auth())
        if status != 200 or not isinstance(body, str):
            return []
        return list(csv.DictReader(io.StringIO(body.lstrip("# "))))

    def haproxy_ready(self) -> bool:
        """Exactly the leader UP behind the primary port (HAProxy starts every server UP, so
        this waits for real checks) and every replica UP behind the replica port."""
        rows = [r for r in self.haproxy_stats() if r["svname"] not in ("FRONTEND", "BACKEND")]
        primary = {r["svname"] for r in rows if r["pxname"] == "primary" and r["status"] == "UP"}
        down = {r["svname"] for r in rows if r["pxname"] == "primary" and r["status"] == "DOWN"}
        replicas = {r["svname"] for r in rows if r["pxname"] == "replicas" and r["status"] == "UP"}
        leader = self.leader()
        others = {n.name for n in self.topology.nodes} - {leader}
        return primary == {leader} and down == others and replicas == others

    def ensure_database(self) -> None:
        url = self.primary_url("postgres", driver="postgresql")
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            create_database_if_missing(conn, DATABASE)

    def down(self) -> list[str]:
        """Stop everything (HAProxy, Patroni, leftover postmasters, etcd); returns what stopped."""
        stopped: list[str] = []
        if not self.root.is_dir():
            return stopped
        topo = self.topology
        groups = [["haproxy"], [n.name for n in topo.nodes], [m.name for m in topo.etcd]]
        for names in groups:
            stopped.extend(self.stop(names))
            if names[0].startswith("pg"):
                for node in topo.nodes:
                    postmaster = self.postmaster_pid(node)
                    if postmaster:
                        terminate(postmaster, timeout=1, sig=signal.SIGQUIT)
                        stopped.append(f"{node.name} postmaster")
        return stopped

    def purge(self, keep_backups: bool = True) -> Path | None:
        """Delete the stopped stack's data, logs and secrets. A backup repository inside it is
        kept unless told otherwise: moved beside the stack (returned), never deleted with the
        data it exists to restore."""
        if not self.root.is_dir():
            return None
        repo, kept = Path(self.topology.backup_repo), None
        if keep_backups and self.root in repo.parents and repo.is_dir() and any(repo.iterdir()):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = self.root.with_name(f"{self.root.name}-backups-{stamp}")
            shutil.move(repo, kept)
        elif not keep_backups and repo.is_dir():
            shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        return kept

    # -- operations ---------------------------------------------------------------------------

    def _rest_auth(self) -> tuple[str, str]:
        return REST_USER, self.credentials().rest_password

    def switchover(self, candidate: str | None = None) -> tuple[str | None, str]:
        """Planned leader change; in synchronous mode only the sync standby may take over."""
        return self._change("switchover", candidate)

    def failover(self, candidate: str | None = None) -> tuple[str | None, str]:
        return self._change("failover", candidate)

    def _change(self, kind: str, candidate: str | None) -> tuple[str | None, str]:
        """Ask Patroni for a leader change; only a failover may proceed without a leader."""
        if not self.members():
            raise HotelError("no Patroni member answers: is the cluster up? (`hotel cluster up`)")
        leader, sync = self.leader(), self.sync_standby()
        if leader is None and kind == "switchover":
            raise HotelError("no leader to switch over from: use `hotel cluster failover`")
        candidate = candidate or sync
        if candidate is None:
            raise HotelError("no synchronous standby to hand over to: check `hotel cluster status`")
        self.topology.node(candidate)
        if candidate == leader:
            raise HotelError(f"{candidate} is already the leader")
        if candidate != sync:
            raise HotelError(
                f"{candidate} is not the synchronous standby ({sync}): in synchronous mode only "
                "it can take over without losing acknowledged commits"
            )
        body: dict[str, Any] = {"candidate": candidate}
        if kind == "switchover":
            body["leader"] = leader
        status, answer = self._rest(leader or candidate, "POST", kind, body)
        if status != 200:
            raise HotelError(f"{kind} refused by Patroni ({status}): {answer}")
        return leader, candidate

    def _rest(
        self, name: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """An authenticated request to a node's Patroni REST API: (status, JSON or text)."""
        rest = self.topology.node(name).rest_port
        url = f"http://127.0.0.1:{rest}/{path}"
        return http(method, url, body=body, auth=self._rest_auth(), timeout=60)

    def dcs_drift(self, node: str | None = None) -> dict[str, tuple[Any, Any]]:
        """Where the running dynamic configuration (as `node`, or the leader, reads it)
        differs from the topology's DCS. Patroni reads `bootstrap.dcs` only when it creates
        the cluster, so a cluster made by an earlier version keeps that version's timings
        until `configure`."""
        status, running = self._rest(node or self._answering_node(), "GET", "config")
        if status != 200 or not isinstance(running, dict):
            raise HotelError(f"Patroni's /config did not answer ({status}): {running}")
        return dcs_differences(running, DCS)

    def configure(self) -> dict[str, tuple[Any, Any]]:
        """Apply the topology's DCS to the running cluster (PATCH /config: settings the
        topology does not name are kept); returns what differed."""
        node = self._answering_node()
        drift = self.dcs_drift(node)
        if drift:
            status, answer = self._rest(node, "PATCH", "config", DCS)
            if status != 200:
                raise HotelError(f"Patroni refused the configuration ({status}): {answer}")
        return drift

    def _answering_node(self) -> str:
        """The leader, or any member when there is none (the DCS holds one configuration)."""
        members = self.members()
        if not members:
            raise HotelError("no Patroni member answers: is the cluster up? (`hotel cluster up`)")
        leader = (m["name"] for m in members if m["role"] == "leader")
        return str(next(leader, members[0]["name"]))

    def in_recovery(self, name: str) -> bool | None:
        """The truth of a node's role: pg_is_in_recovery() on its own port (None: unreachable)."""
        import psycopg

        try:
            with psycopg.connect(self.node_url(self.topology.node(name)), connect_timeout=2) as c:
                row = c.execute("SELECT pg_is_in_recovery()").fetchone()
                return bool(row[0]) if row else None
        except psycopg.Error:
            return None

    def collect_logs(self, dest: Path) -> Path:
        """Copy every process log and PostgreSQL log to `dest` (kept after a failed test)."""
        dest.mkdir(parents=True, exist_ok=True)
        if self.logs.is_dir():
            shutil.copytree(self.logs, dest, dirs_exist_ok=True)
        for node in self.topology.nodes:
            pglog = Path(node.home) / "log"
            if pglog.is_dir():
                shutil.copytree(pglog, dest / f"{node.name}-postgres", dirs_exist_ok=True)
        return dest


def _binary(tool: str) -> str:
    """Path of etcd/haproxy/patroni, or one line saying how to install it."""
    if tool == "patroni":
        beside = Path(sys.executable).parent / "patroni"  # the venv's, before any on PATH
        return str(beside) if beside.is_file() else find_binary("patroni", hint=PIP_HINT)
    return find_binary(tool, hint=APT_HINT)


def server_python() -> tuple[str, dict[str, str]]:
    """An interpreter the server user can run, with our packages importable.

    A venv made from a pyenv Python under /root points at an interpreter `postgres` cannot
    read; then the system Python of the same version runs with the venv's site-packages (and
    the project, for an editable install) on PYTHONPATH.
    """
    if not runs_as_server_user():
        return sys.executable, {}
    interpreter = Path(sys.executable).resolve()
    if reachable_by_server_user(interpreter) and os.stat(interpreter).st_mode & 0o5:
        return sys.executable, {}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{version}")
    if not system.is_file():
        raise HotelError(
            f"{interpreter} is not readable by the server user and there is no "
            f"/usr/bin/python{version}: create the venv with /usr/bin/python3 -m venv"
        )
    paths = [*site.getsitepackages(), str(Path(__file__).resolve().parents[2])]
    return str(system), {"PYTHONPATH": os.pathsep.join(paths)}


def render_node_config(
    topo: Topology,
    name: str,
    creds: Credentials,
    path: Path,
    more_repos: dict[str, Any] | None = None,
) -> None:
    """Write a node's patroni.yml (0600): the secrets are in it; and the pgBackRest config its
    archive_command names (0600: repo2's passphrase), with the lock and spool directories
    archive-push needs."""
    node = topo.node(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(patroni_config(topo, node, creds), sort_keys=False))
    home = Path(node.home)
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "pgbackrest.conf"
    conf.touch(mode=0o600, exist_ok=True)
    conf.chmod(0o600)
    conf.write_text(pgbackrest_node_config(topo, node, more_repos))
    made = [home, conf]
    for sub in ("pgbackrest-lock", "pgbackrest-spool", "log"):
        (home / sub).mkdir(exist_ok=True)
        made.append(home / sub)
    chown_to_server_user(*made)


def exec_patroni(config: Path) -> None:
    """Replace this process by Patroni, dropping root to the server user first."""
    if runs_as_server_user():
        user = server_user()
        chown_to_server_user(config)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    # libpq looks for client certificates in ~/.postgresql: an inherited HOME (root's) is
    # unreadable to the server user, and libpq fails on that rather than going without.
    os.environ["HOME"] = pwd.getpwuid(os.getuid()).pw_dir
    # `python -m patroni` with this interpreter: the console script's shebang may name an
    # interpreter the server user cannot read (see server_python).
    os.execv(sys.executable, [sys.executable, "-m", "patroni", str(config)])  # noqa: S606
