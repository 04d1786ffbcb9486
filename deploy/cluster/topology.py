"""The one source of truth of the HA stack: who runs where, and every setting they run with.

Both targets -- docker compose (`compose_topology`) and local processes on 127.0.0.1
(`local_topology`) -- are a `Topology`; the render functions below turn one into the Patroni,
etcd and HAProxy configurations. Only addresses, ports and paths differ between the targets;
the policy (DCS timings, PostgreSQL parameters, health-check timings) is in the module
constants, so the two stacks cannot drift. docs/operations.md ("High availability") explains
each value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from hotel_models.errors import HotelError
from monitor.role import MONITOR_CONNECTION_LIMIT

SCOPE = "hotel"
SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
REST_USER = "patroni"
REWIND_USER = "rewinder"  # pg_rewind's login: the superuser never crosses the network
ETCD_USER = "patroni"  # Patroni's etcd user: read-write on /service/ only
ETCD_ROOT = "root"  # etcd's administrator: needed to turn auth on and to manage users
PG15_BIN_DIR = "/usr/lib/postgresql/15/bin"
STANZA = SCOPE  # the pgBackRest stanza: one per Patroni cluster
STATS_USER = "stats"  # HAProxy's stats page and /metrics (password: STATS_PASSWORD_VAR)
# Read by HAProxy from its environment (quoted "${...}" in haproxy.cfg), so the rendered file
# holds no secret and is the same for both stacks: the local stack passes them when it
# starts HAProxy, compose from .env.
STATS_PASSWORD_VAR = "HOTEL_HAPROXY_STATS_PASSWORD"  # noqa: S105 - its name
REPLICA_MAX_LAG_VAR = "HOTEL_REPLICA_MAX_LAG"

# Connections: HAProxy may open at most HAPROXY_SERVER_MAXCONN to a node (the excess waits in
# HAProxy's queue instead of failing with "too many clients"), which leaves each node the
# slots reserved for superusers (Patroni, pgBackRest, an operator) and for the exporters'
# login. A node is UP in one backend at a time (primary or replicas), so that is its total.
# WAL senders have their own slots (max_wal_senders) since PostgreSQL 12.
MAX_CONNECTIONS = 100
SUPERUSER_RESERVED_CONNECTIONS = 3
HAPROXY_SERVER_MAXCONN = MAX_CONNECTIONS - SUPERUSER_RESERVED_CONNECTIONS - MONITOR_CONNECTION_LIMIT
COMPOSE_TLS_DIR = "/etc/hotel-tls"  # the CA certificate in compose (volume `tls`, read-only)

# Patroni raises ttl below 20 to 20; it also requires loop_wait + 2 * retry_timeout <= ttl.
# A short loop_wait lets replicas react quickly once the leader key expires; retry_timeout
# stays long enough to ride out an etcd leader election without demoting the primary.
# A leader cut off from etcd starts demoting up to loop_wait + 2 * retry_timeout after its
# last renewal (Patroni's refresh of the etcd member list overruns the retry deadline); the
# margin left before the key expires is for PostgreSQL's shutdown. Without one, a partition
# drill saw two primaries.
DEMOTION_MARGIN = 6
DCS: dict[str, Any] = {
    "ttl": 20,
    "loop_wait": 2,
    "retry_timeout": 6,
    "maximum_lag_on_failover": 1048576,
    "synchronous_mode": True,
    "synchronous_mode_strict": False,
    "synchronous_node_count": 1,
    # etcd quorum lost: the primary demotes (writes stop until quorum returns) rather than
    # staying writable while it reaches every member: with failsafe_mode a partitioned leader
    # first calls each member's REST API and was measured still primary 10 s after another
    # node was promoted. docs/operations.md "Failure modes" has the figures.
    "failsafe_mode": False,
    "postgresql": {
        "use_pg_rewind": True,
        "use_slots": True,
        "parameters": {
            "wal_level": "replica",
            "hot_standby": "on",
            "max_connections": MAX_CONNECTIONS,
            "superuser_reserved_connections": SUPERUSER_RESERVED_CONNECTIONS,
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "wal_keep_size": "256MB",
            "wal_log_hints": "on",
            "synchronous_commit": "on",
        },
    },
}


def dcs_differences(running: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Each setting of `wanted` that `running` lacks or holds another value for, by dotted
    path: `{"retry_timeout": (9, 6)}`. Settings only `running` has are not differences."""
    found: dict[str, tuple[Any, Any]] = {}
    for key, value in wanted.items():
        have = running.get(key)
        if isinstance(value, dict):
            inner = dcs_differences(have if isinstance(have, dict) else {}, value)
            found.update({f"{key}.{path}": pair for path, pair in inner.items()})
        elif have != value:
            found[key] = (have, value)
    return found


INITDB: list[Any] = [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"]
PG_PARAMETERS: dict[str, Any] = {
    "shared_buffers": "64MB",
    "logging_collector": "on",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "log_min_messages": "warning",
    # Every node archives when it is the leader (archive_mode=on is ignored in recovery), so
    # WAL archiving follows the leader across failovers; archive_timeout bounds the PITR
    # data loss of a quiet database to a minute.
    "archive_mode": "on",
    "archive_timeout": "60s",
    # Logical snapshots are taken from a replica: keep the primary's vacuum from cancelling
    # a long pg_dump there.
    "hot_standby_feedback": "on",
    # SSD or page cache: a random read costs about a sequential one (the embedded server
    # sets the same; the default 4 is for spinning disks).
    "random_page_cost": "1.1",
    # A postmaster parameter, in the local configuration rather than the DCS: Patroni applies
    # it on every node at each start (`hotel cluster node` renders patroni.yml then), so an
    # existing cluster gets it at its next restart, whereas bootstrap.dcs is read only once,
    # when the cluster is created. pg_stat_statements: `hotel explain --top` (revision 0015).
    "shared_preload_libraries": "pg_stat_statements",
    # Who logged in (user, database, application, address) and for how long: the trail of
    # a login that should not have happened.
    "log_connections": "on",
    "log_disconnections": "on",
}
# HAProxy health checks: a dead primary is marked DOWN after fall x inter (~1 s) and the new
# one UP after a single good check; on-marked-down closes the sessions still pinned to it.
CHECK = (
    "inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions"
    f" maxconn {HAPROXY_SERVER_MAXCONN}"
)
ETCD_TIMING = {"ETCD_HEARTBEAT_INTERVAL": "100", "ETCD_ELECTION_TIMEOUT": "1000"}


@dataclass(frozen=True)
class EtcdMember:
    name: str
    host: str
    client_port: int
    peer_port: int
    data_dir: str


@dataclass(frozen=True)
class Node:
    """A Patroni-managed PostgreSQL node; `home` holds its data directory and sockets."""

    name: str
    host: str
    pg_port: int
    rest_port: int
    home: str

    @property
    def data_dir(self) -> str:
        return f"{self.home}/data"


@dataclass(frozen=True)
class Topology:
    target: Literal["local", "compose"]
    listen_host: str
    client_cidr: str
    bin_dir: str
    etcd: tuple[EtcdMember, ...]
    nodes: tuple[Node, ...]
    haproxy_host: str
    primary_port: int
    replica_port: int
    stats_port: int
    # pgBackRest: the repository (a volume in compose, shared by the nodes and the backup
    # host), the backup host's home (config, logs, locks, spool, scratch restores) and each
    # node's home as the backup host sees it (local: the same paths; compose: mounted volumes).
    backup_repo: str = ""
    backup_home: str = ""
    backup_node_homes: tuple[str, ...] = ()
    # TLS: names every node's certificate carries besides the node's own host (what clients
    # dial: HAProxy's name, loopback), and where clients of the stack find the CA certificate.
    server_names: tuple[str, ...] = ()
    ca_file: str = ""

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise HotelError(f"unknown node {name!r}: the nodes are {known}")

    def ports(self) -> dict[str, int]:
        """Every port the stack listens on, by what listens there (local target)."""
        found: dict[str, int] = {}
        for member in self.etcd:
            found[f"{member.name} client"] = member.client_port
            found[f"{member.name} peer"] = member.peer_port
        for node in self.nodes:
            found[f"{node.name} postgres"] = node.pg_port
            found[f"{node.name} patroni REST"] = node.rest_port
        found["haproxy primary"] = self.primary_port
        found["haproxy replicas"] = self.replica_port
        found["haproxy stats"] = self.stats_port
        return found


@dataclass(frozen=True)
class Credentials:
    superuser_password: str
    replication_password: str
    rest_password: str
    rewind_password: str
    etcd_password: str
    # Only where etcd's auth is set up (the local stack's `up`, compose's `init` one-shot).
    etcd_root_password: str = ""


def local_topology(
    root: Path, offset: int = 0, bin_dir: str = PG15_BIN_DIR, backup_repo: str | None = None
) -> Topology:
    """Three of everything on 127.0.0.1; `offset` shifts every port (two stacks, tests)."""
    host = "127.0.0.1"
    return Topology(
        target="local",
        listen_host=host,
        client_cidr="127.0.0.1/32",
        bin_dir=bin_dir,
        etcd=tuple(
            EtcdMember(
                f"etcd{i}",
                host,
                2379 + offset + 2 * i,
                2380 + offset + 2 * i,
                str(root / f"etcd{i}"),
            )
            for i in range(3)
        ),
        nodes=tuple(
            Node(f"pg{i}", host, 5432 + offset + i, 8008 + offset + i, str(root / f"pg{i}"))
            for i in range(3)
        ),
        haproxy_host=host,
        primary_port=5000 + offset,
        replica_port=5001 + offset,
        stats_port=7000 + offset,
        backup_repo=backup_repo or str(root / "backup-repo"),
        backup_home=str(root / "backup"),
        backup_node_homes=tuple(str(root / f"pg{i}") for i in range(3)),
        server_names=("localhost",),
        ca_file=str(root / "tls" / "ca.crt"),
    )


def compose_topology() -> Topology:
    """One container per member; service names are the host names (deploy/compose). Each node
    has its own home path, so the backup host can mount all three at the nodes' own paths."""
    return Topology(
        target="compose",
        listen_host="0.0.0.0",  # noqa: S104 - inside the compose network only
        client_cidr="0.0.0.0/0",
        bin_dir=PG15_BIN_DIR,
        etcd=tuple(
            EtcdMember(f"etcd{i}", f"etcd{i}", 2379, 2380, "/var/lib/etcd/data") for i in range(3)
        ),
        nodes=tuple(
            Node(f"pg{i}", f"pg{i}", 5432, 8008, f"/var/lib/postgresql/pg{i}") for i in range(3)
        ),
        haproxy_host="haproxy",
        primary_port=5000,
        replica_port=5001,
        stats_port=7000,
        backup_repo="/var/lib/pgbackrest",
        backup_home="/var/lib/hotel-backup",
        # pgBackRest insists the data directory it reads is the path the server reports, so
        # db_backup mounts each node's volume where that node has it.
        backup_node_homes=tuple(f"/var/lib/postgresql/pg{i}" for i in range(3)),
        # In the network clients dial `haproxy` or a node; from the host, 127.0.0.1.
        server_names=("haproxy", "localhost", "127.0.0.1"),
        ca_file=f"{COMPOSE_TLS_DIR}/ca.crt",
    )


# -- renderers -----------------------------------------------------------------------------


def etcd_environment(topo: Topology, member: EtcdMember) -> dict[str, str]:
    """etcd's configuration as ETCD_* variables: the process environment or compose's."""
    cluster = ",".join(f"{m.name}=http://{m.host}:{m.peer_port}" for m in topo.etcd)
    return {
        "ETCD_NAME": member.name,
        "ETCD_DATA_DIR": member.data_dir,
        "ETCD_LISTEN_CLIENT_URLS": f"http://{topo.listen_host}:{member.client_port}",
        "ETCD_ADVERTISE_CLIENT_URLS": f"http://{member.host}:{member.client_port}",
        "ETCD_LISTEN_PEER_URLS": f"http://{topo.listen_host}:{member.peer_port}",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"http://{member.host}:{member.peer_port}",
        "ETCD_INITIAL_CLUSTER": cluster,
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_INITIAL_CLUSTER_TOKEN": SCOPE,
        **ETCD_TIMING,
    }


def node_tls_dir(node: Node) -> str:
    """Where a node keeps its certificate, key and the CA certificate (its own volume)."""
    return f"{node.home}/tls"


def node_server_names(topo: Topology, node: Node) -> tuple[str, ...]:
    """Every name a client may dial to reach this node: its certificate's subjectAltNames."""
    return (node.host, *topo.server_names)


def patroni_config(topo: Topology, node: Node, creds: Credentials) -> dict[str, Any]:
    """A node's patroni.yml as a dict (the caller dumps it as YAML, mode 0600).

    TCP connections must use TLS (`hostssl`), and the superuser never comes in over TCP: it
    is refused there first, so Patroni, migrations, seeding and backups reach it through the
    nodes' unix sockets (`use_unix_socket`). Replication and pg_rewind connect to the leader
    with their own users and verify its certificate against the stack's CA.
    """
    hba_auth = "scram-sha-256"
    tls = node_tls_dir(node)
    verify = {"sslmode": "verify-full", "sslrootcert": f"{tls}/ca.crt"}
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"{topo.listen_host}:{node.rest_port}",
            "connect_address": f"{node.host}:{node.rest_port}",
            "authentication": {"username": REST_USER, "password": creds.rest_password},
        },
        "etcd3": {
            "hosts": [f"{m.host}:{m.client_port}" for m in topo.etcd],
            "username": ETCD_USER,
            "password": creds.etcd_password,
        },
        "bootstrap": {"dcs": DCS, "initdb": INITDB},
        "postgresql": {
            "listen": f"{topo.listen_host}:{node.pg_port}",
            "connect_address": f"{node.host}:{node.pg_port}",
            "use_unix_socket": True,
            "data_dir": node.data_dir,
            "bin_dir": topo.bin_dir,
            # An old leader whose pg_rewind fails is cloned afresh from the leader (its
            # diverged WAL is discarded either way), so it rejoins without manual steps.
            "remove_data_directory_on_rewind_failure": True,
            "pgpass": f"{node.home}/.pgpass",
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": creds.superuser_password},
                "replication": {
                    "username": REPLICATION_USER,
                    "password": creds.replication_password,
                    **verify,
                },
                "rewind": {"username": REWIND_USER, "password": creds.rewind_password, **verify},
            },
            "parameters": {
                **PG_PARAMETERS,
                "archive_command": archive_command(node),
                "unix_socket_directories": node.home,
                "log_directory": f"{node.home}/log",
                "ssl": "on",
                "ssl_cert_file": f"{tls}/server.crt",
                "ssl_key_file": f"{tls}/server.key",
                "ssl_min_protocol_version": "TLSv1.2",
            },
            "pg_hba": [
                f"local all all {hba_auth}",
                f"hostssl replication {REPLICATION_USER} {topo.client_cidr} {hba_auth}",
                f"host all {SUPERUSER} all reject",
                f"hostssl all all {topo.client_cidr} {hba_auth}",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def superuser_url(
    topo: Topology,
    password: str,
    database: str,
    *,
    standby: bool = False,
    driver: str = "postgresql+psycopg",
    homes: tuple[str, ...] = (),
) -> str:
    """The superuser's DSN: the unix sockets of every node (it is refused over TCP), libpq
    trying them in turn for the primary (or, with `standby`, a replica if one answers).
    `homes`: the nodes' homes as the client sees them (the backup host's mounts)."""
    hosts = ",".join(homes or tuple(n.home for n in topo.nodes))
    ports = ",".join(str(n.pg_port) for n in topo.nodes)
    attrs = "prefer-standby" if standby else "read-write"
    secret = quote(password, safe="")
    return (
        f"{driver}://{SUPERUSER}:{secret}@/{database}"
        f"?host={hosts}&port={ports}&target_session_attrs={attrs}"
    )


def tls_url(
    host: str, port: int, user: str, password: str, database: str, ca_file: str,
    driver: str = "postgresql+psycopg",
) -> str:  # fmt: skip
    """A DSN over TCP that verifies the server: TLS, the stack's CA, the name dialled."""
    secret = quote(password, safe="")
    return (
        f"{driver}://{user}:{secret}@{host}:{port}/{database}"
        f"?sslmode=verify-full&sslrootcert={quote(ca_file)}"
    )


def node_pgbackrest_conf_path(node: Node) -> str:
    return f"{node.home}/pgbackrest.conf"


def archive_command(node: Node) -> str:
    """archive-push with the node's own pgBackRest config (written beside patroni.yml)."""
    return (
        f"pgbackrest --config={node_pgbackrest_conf_path(node)} --stanza={STANZA} archive-push %p"
    )


def _conf(sections: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, options in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key}={value}" for key, value in options.items())
        lines.append("")
    return "\n".join(lines)


# What the repository stores and how; the same for the nodes (archive-push) and the backup
# host. lz4: the fastest of the built-in codecs on a 2-core machine.
REPO_OPTIONS: dict[str, Any] = {"compress-type": "lz4", "compress-level": 1}


def pgbackrest_node_config(
    topo: Topology, node: Node, more_repos: dict[str, Any] | None = None
) -> str:
    """A node's pgbackrest.conf: enough for archive-push/archive-get of its own WAL (to every
    repository: `more_repos` are repo2's options when there is one)."""
    return _conf(
        {
            "global": {
                "repo1-path": topo.backup_repo,
                **(more_repos or {}),
                **REPO_OPTIONS,
                "log-path": f"{node.home}/log",
                "lock-path": f"{node.home}/pgbackrest-lock",
                "spool-path": f"{node.home}/pgbackrest-spool",
                "log-level-console": "warn",
                "log-level-file": "info",
            },
            STANZA: {
                "pg1-path": node.data_dir,
                "pg1-port": node.pg_port,
                "pg1-socket-path": node.home,
                "pg1-user": SUPERUSER,
            },
        }
    )


def pgbackrest_config(
    topo: Topology,
    retention_full: int,
    retention_diff: int,
    more_repos: dict[str, Any] | None = None,
) -> str:
    """The backup host's pgbackrest.conf: every node as pg1..pg3 (local paths and sockets), so
    pgBackRest finds the primary itself and copies the files from a standby (backup-standby).

    expire-auto is off: `hotel backup` expires after each backup itself, widening retention
    when needed so the last verified backup is never removed.
    """
    stanza: dict[str, Any] = {}
    for i, (node, home) in enumerate(zip(topo.nodes, topo.backup_node_homes, strict=True), 1):
        stanza[f"pg{i}-path"] = f"{home}/data"
        stanza[f"pg{i}-port"] = node.pg_port
        stanza[f"pg{i}-socket-path"] = home
        stanza[f"pg{i}-user"] = SUPERUSER
    return _conf(
        {
            "global": {
                "repo1-path": topo.backup_repo,
                "repo1-retention-full": retention_full,
                "repo1-retention-diff": retention_diff,
                **(more_repos or {}),
                **REPO_OPTIONS,
                "log-path": f"{topo.backup_home}/log",
                "lock-path": f"{topo.backup_home}/lock",
                "spool-path": f"{topo.backup_home}/spool",
                "log-level-console": "warn",
                "log-level-file": "info",
                "start-fast": "y",
                "backup-standby": "y",
                "expire-auto": "n",
                "process-max": 2,
                "archive-timeout": 60,
            },
            STANZA: stanza,
        }
    )


def haproxy_config(topo: Topology) -> str:
    """haproxy.cfg: port `primary` follows Patroni's /primary, `replicas` its /replica.

    Logs go to stdout (the container's log, the local stack's log file): only failed or
    abnormal connections and server state changes. In compose the node names are resolved
    through Docker's DNS at run time, so a recreated container's new address is followed and
    a node that is down at HAProxy's start does not stop it from starting.
    """
    bind = topo.listen_host
    dns = topo.target == "compose"
    resolve = " resolvers docker init-addr last,libc,none" if dns else ""

    def servers() -> list[str]:
        return [
            f"    server {n.name} {n.host}:{n.pg_port} check port {n.rest_port}{resolve}"
            for n in topo.nodes
        ]

    # hold nx: a node that stops resolving (partitioned, being replaced) keeps its last
    # address and goes DOWN by failed checks; in maintenance instead it would come back UP
    # before its first check when it resolves again, and take writes unchecked.
    resolvers = [
        "resolvers docker",
        "    nameserver dns 127.0.0.11:53",
        "    hold valid 1s",
        "    hold nx 1h",
        "",
    ]
    password = f'"${{{STATS_PASSWORD_VAR}}}"'
    lines = [
        # HAProxy takes an empty password: refuse to start rather than open the stats.
        f'.if !defined({STATS_PASSWORD_VAR}) || streq({password},"")',
        f'.alert "{STATS_PASSWORD_VAR} is not set: no stats page without a password"',
        ".endif",
        "global",
        # Clients of both ports; each node gets at most HAPROXY_SERVER_MAXCONN of them.
        f"    maxconn {HAPROXY_SERVER_MAXCONN * len(topo.nodes) + 20}",
        "    log stdout format raw local0 info",
        "",
        *(resolvers if dns else []),
        "defaults",
        "    log global",
        "    option tcplog",
        "    option dontlog-normal",
        "    mode tcp",
        "    retries 2",
        "    timeout connect 2s",
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 1s",
        "",
        "userlist stats_users",
        f"    user {STATS_USER} insecure-password {password}",
        "",
        "listen stats",
        "    mode http",
        f"    bind {bind}:{topo.stats_port}",
        "    http-request auth realm haproxy unless { http_auth(stats_users) }",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 5s",
        "",
        "listen primary",
        f"    bind {bind}:{topo.primary_port}",
        "    option httpchk",
        "    http-check send meth GET uri /primary",
        "    http-check expect status 200",
        f"    default-server {CHECK}",
        *servers(),
        "",
        "listen replicas",
        f"    bind {bind}:{topo.replica_port}",
        "    balance roundrobin",
        "    option httpchk",
        # A replica more than HOTEL_REPLICA_MAX_LAG behind the leader answers 503: out of
        # the read pool until it catches up (Patroni compares its replayed LSN).
        f'    http-check send meth GET uri "/replica?lag=${{{REPLICA_MAX_LAG_VAR}}}"',
        "    http-check expect status 200",
        f"    default-server {CHECK}",
        *servers(),
        "",
    ]
    return "\n".join(lines)
