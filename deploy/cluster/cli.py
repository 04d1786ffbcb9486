"""`hotel cluster ...`: run, inspect and exercise the HA stack.

`node` is the entrypoint of every Patroni node, in the compose containers and in the local
stack alike; the other commands drive the local stack under the state directory.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from deploy.backup.settings import get_backup_settings
from deploy.cluster import tls
from deploy.cluster.compose import ComposeCluster
from deploy.cluster.drill import run_drill
from deploy.cluster.etcd_auth import enable_auth
from deploy.cluster.faults import FAULTS, run_fault
from deploy.cluster.local import LocalCluster, exec_patroni, render_node_config
from deploy.cluster.monitoring import LocalMonitor, compose_prometheus_yml
from deploy.cluster.topology import Credentials, compose_topology, haproxy_config
from deploy.embedded import create_database_if_missing
from deploy.process import eventually
from hotel_models.errors import HotelError
from hotel_models.settings import get_settings
from monitor.dashboards import write_dashboards
from monitor.targets import compose_prometheus_path

cluster_app = typer.Typer(
    help="The HA stack (etcd x3, Patroni x3, HAProxy) as local processes; `node` runs one node.",
    no_args_is_help=True,
)
monitor_app = typer.Typer(
    help="Prometheus and the exporters of the local HA stack.", no_args_is_help=True
)
cluster_app.add_typer(monitor_app, name="monitor")
console = Console()
COMPOSE_DIR = Path(__file__).resolve().parent.parent / "compose"
SECRET_VARS = {
    "superuser_password": "HOTEL_CLUSTER_SUPERUSER_PASSWORD",
    "replication_password": "HOTEL_CLUSTER_REPLICATION_PASSWORD",
    "rest_password": "HOTEL_CLUSTER_REST_PASSWORD",
    "rewind_password": "HOTEL_CLUSTER_REWIND_PASSWORD",
    "etcd_password": "HOTEL_CLUSTER_ETCD_PASSWORD",
}


# `hotel down` and `hotel cluster down` share these options.
Purge = Annotated[bool, typer.Option(help="Also delete data, logs, secrets (backups are kept).")]
PurgeBackups = Annotated[
    bool, typer.Option(help="With --purge: delete the backup repository too (asks).")
]
Yes = Annotated[bool, typer.Option("--yes", help="Do not ask (--purge-backups).")]
EnvFile = Annotated[Path, typer.Option(help="The compose stack's env file (--compose).")]
Project = Annotated[
    str, typer.Option(envvar="COMPOSE_PROJECT_NAME", help="Compose project (--compose).")
]


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def local_cluster() -> LocalCluster:
    return LocalCluster.for_state_dir(get_settings().state_dir)


def cluster_up(offset: int) -> LocalCluster:
    cluster = local_cluster()
    repo = get_backup_settings().repo_path
    with console.status("starting the HA stack") as spinner:
        cluster.up(
            offset,
            progress=lambda what: spinner.update(what),
            backup_repo=str(repo.resolve()) if repo else None,
        )
    return cluster


@cluster_app.command()
def up(
    port_offset: Annotated[
        int,
        typer.Option(envvar="HOTEL_CLUSTER_PORT_OFFSET", help="Added to every port (first up)."),
    ] = 0,
) -> None:
    """Start etcd x3, Patroni x3 and HAProxy on 127.0.0.1 (idempotent)."""
    cluster = cluster_up(port_offset)
    topo = cluster.topology
    console.print(
        f"[green]cluster up[/]: primary 127.0.0.1:{topo.primary_port}, replicas "
        f"127.0.0.1:{topo.replica_port}, stats http://127.0.0.1:{topo.stats_port}/ (user stats, "
        f"password in {cluster.stats_password_file}) "
        f"(state {cluster.root}, {cluster.up_seconds:.1f} s)"
    )
    console.print(
        f"TLS: clients verify the servers with sslmode=verify-full sslrootcert={cluster.ca_file}; "
        f"the superuser connects through the nodes' sockets only: {masked(cluster.primary_url())}"
    )
    _status_table(cluster)


@cluster_app.command()
def down(purge: Purge = False, purge_backups: PurgeBackups = False, yes: Yes = False) -> None:
    """Stop every process of the local stack, postmasters included."""
    stopped = stop_local_stack(purge, purge_backups, yes)
    console.print(
        f"[green]cluster down[/]: stopped {', '.join(stopped) or 'nothing (not running)'}"
    )


def stop_local_stack(purge: bool, purge_backups: bool, yes: bool) -> list[str]:
    """Stop the stack with its monitoring; with `purge` delete it, keeping its backups unless
    `purge_backups` is confirmed (by `yes` or at the terminal)."""
    if purge_backups and not purge:
        raise HotelError("--purge-backups goes with --purge")
    cluster = local_cluster()
    if purge_backups and cluster.exists() and not yes:
        repo = cluster.topology.backup_repo
        if not sys.stdin.isatty():
            raise HotelError(f"--purge-backups deletes {repo}: confirm with --yes")
        typer.confirm(f"delete every backup in {repo}?", abort=True)
    url_file = get_settings().local_url_file
    published = url_file.read_text().strip() if url_file.is_file() else None
    ours = purge and published is not None and published == cluster.primary_url()
    stopped = [*LocalMonitor(cluster).down(), *cluster.down()]
    if purge:
        if kept := cluster.purge(keep_backups=not purge_backups):
            console.print(f"backups kept in {kept} (--purge-backups deletes them)")
        (get_settings().state_dir / "cluster.location").unlink(missing_ok=True)
        if ours:  # `hotel up --ha` published it; it points at nothing now
            url_file.unlink()
    return stopped


@cluster_app.command()
def status() -> None:
    """Members, roles, state, lag, timeline and the sync standby (Patroni REST /cluster)."""
    _status_table(local_cluster())


def _status_table(cluster: LocalCluster) -> None:
    members = cluster.members()
    if not members:
        raise HotelError("no Patroni member answers: start the stack with `hotel cluster up`")
    table = Table(title="hotel cluster")
    for column in ("member", "host", "role", "state", "timeline", "lag (MB)"):
        table.add_column(column)
    for member in sorted(members, key=lambda m: m["name"]):
        lag = member.get("lag", "")
        table.add_row(
            member["name"],
            f"{member.get('host')}:{member.get('port')}",
            member["role"],
            member["state"],
            str(member.get("timeline", "")),
            f"{lag / 1048576:.1f}" if isinstance(lag, int) else str(lag),
        )
    console.print(table)
    console.print(f"sync standby: {cluster.sync_standby() or 'none'}")
    try:
        drift = cluster.dcs_drift()
    except HotelError as exc:  # the table above stands; say what could not be compared
        console.print(f"[yellow]dynamic settings not compared[/]: {exc}")
        return
    for path, (running, wanted) in drift.items():
        console.print(f"[yellow]{path}[/] is {running!r}, the topology says {wanted!r}")
    if drift:
        console.print("`hotel cluster configure` applies the topology's values online")


@cluster_app.command()
def configure(
    compose: Annotated[bool, typer.Option(help="Configure the compose stack.")] = False,
    env_file: EnvFile = COMPOSE_DIR / ".env",
    project: Project = "hotel",
) -> None:
    """Apply the topology's dynamic settings (timings, synchronous mode, parameters) to a
    running cluster: Patroni reads them only when it creates one, so an existing cluster
    keeps those it was made with."""
    cluster = ComposeCluster.open(env_file, project) if compose else local_cluster()
    changed = cluster.configure()
    for path, (running, wanted) in changed.items():
        console.print(f"{path}: {running!r} -> {wanted!r}")
    console.print(f"[green]configured[/]: {len(changed) or 'nothing'} changed")


@cluster_app.command()
def switchover(
    candidate: Annotated[
        str | None, typer.Option(help="New leader (default: the sync standby).")
    ] = None,
) -> None:
    """Planned leader change to the sync standby; waits until it is the leader."""
    _change("switchover", candidate)


@cluster_app.command()
def failover(
    candidate: Annotated[
        str | None, typer.Option(help="New leader (default: the sync standby).")
    ] = None,
) -> None:
    """Manual failover (for when the leader is unhealthy); waits until the candidate leads."""
    _change("failover", candidate)


def _change(kind: str, candidate: str | None) -> None:
    cluster = local_cluster()
    change = cluster.switchover if kind == "switchover" else cluster.failover
    old, new = change(candidate)
    eventually(lambda: cluster.leader() == new, 30, f"{new} to lead")
    console.print(f"[green]{kind}[/]: {old or 'no leader'} -> {new}")
    _status_table(cluster)


@cluster_app.command()
def node(
    name: Annotated[str, typer.Argument(help="pg0, pg1 or pg2.")],
    root: Annotated[
        Path | None,
        typer.Option(help="Local stack directory; without it, the compose topology is used."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Where to write patroni.yml (default: the node's home).")
    ] = None,
) -> None:
    """Render this node's Patroni config from the topology and exec Patroni."""
    if root is not None:
        cluster = LocalCluster(root)
        topo, creds = cluster.topology, cluster.credentials()
    else:
        topo = compose_topology()
        creds = compose_credentials()
    target = config or Path(topo.node(name).home) / "patroni.yml"
    # The encrypted repo2, when configured where the node starts (the local stack's env).
    render_node_config(topo, name, creds, target, get_backup_settings().repo2_options())
    sys.stdout.flush()
    exec_patroni(target)


COMPOSE_CA_DIR = Path("/var/lib/hotel-ca")  # volume `tls-ca`: only the `init` one-shot mounts it


@cluster_app.command()
def init() -> None:
    """Compose's one-shot before the nodes start: the stack's CA and each node's certificate
    (first start; written into the nodes' volumes), the CA certificate for clients (volume
    `tls`), and etcd's authentication (root and Patroni's user)."""
    topo = compose_topology()
    creds = compose_credentials()
    root_password = os.environ.get("HOTEL_CLUSTER_ETCD_ROOT_PASSWORD")
    if not root_password:
        raise HotelError("set HOTEL_CLUSTER_ETCD_ROOT_PASSWORD (compose reads it from .env)")
    ca = tls.provision(topo, COMPOSE_CA_DIR)
    public = Path(topo.ca_file)
    public.write_bytes(ca.read_bytes())
    public.chmod(0o644)
    console.print(f"[green]TLS[/]: CA certificate {public} (volume tls)")
    enabled = enable_auth(topo, replace(creds, etcd_root_password=root_password))
    console.print(f"[green]etcd[/]: auth {'enabled' if enabled else 'was already on'}")


def compose_credentials() -> Credentials:
    missing = [var for var in SECRET_VARS.values() if not os.environ.get(var)]
    if missing:
        raise HotelError(f"set {', '.join(missing)} (compose reads them from .env)")
    return Credentials(**{f: os.environ[v] for f, v in SECRET_VARS.items()})


@cluster_app.command("wait-primary")
def wait_primary(
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 120,
) -> None:
    """Wait until HOTEL_DATABASE_URL reaches a primary; create its database if missing."""
    url = make_url(get_settings().require_database_url())
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)

    def primary() -> bool:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is None or row[0]:
                    return False
                create_database_if_missing(conn, str(url.database))
                return True
        except psycopg.OperationalError:
            return False

    started = time.monotonic()
    where = f"{url.host}:{url.port}" if url.host else "the nodes' sockets"
    eventually(primary, timeout, f"a primary at {where}", interval=1)
    console.print(f"[green]primary ready[/] after {time.monotonic() - started:.1f} s")


@cluster_app.command()
def drill(
    rounds: Annotated[int, typer.Option(help="How many node-loss + switchover rounds.")] = 1,
    compose: Annotated[
        bool,
        typer.Option(help="Drill the compose stack (docker kill of the leader's container)."),
    ] = False,
    env_file: EnvFile = COMPOSE_DIR / ".env",
    project: Project = "hotel",
    fault: Annotated[
        str | None,
        typer.Option(help=f"With --compose: {'|'.join(FAULTS)}|all instead of the kill drill."),
    ] = None,
) -> None:
    """Node loss (kill -9 of the leader) and a switchover under a writer: RTO, gaps, losses;
    with --compose --fault, the fault drills of docs/operations.md "Failure modes"."""
    if fault is not None and not compose:
        raise HotelError("--fault drills the compose stack: add --compose")
    if fault is not None and fault != "all" and fault not in FAULTS:
        raise HotelError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)} or all")
    cluster = ComposeCluster.open(env_file, project) if compose else local_cluster()
    if not cluster.members():
        start = "make compose-up" if compose else "hotel cluster up"
        raise HotelError(f"the drill needs the stack: run `{start}` first")
    if fault is not None and isinstance(cluster, ComposeCluster):
        fault_drills(cluster, FAULTS if fault == "all" else (fault,))
        return
    table = Table(title="failover drill")
    for column in ("scenario", "RTO (s)", "longest gap (s)", "acked", "lost", "dup", "rejoin (s)"):
        table.add_column(column)
    failed = False
    for _ in range(rounds):
        for scenario in ("node-loss", "switchover"):
            with console.status(f"drill: {scenario}"):
                result = run_drill(cluster, scenario)
            failed |= not result.ok
            table.add_row(
                scenario,
                f"{result.rto:.1f}",
                f"{result.longest_gap:.1f}",
                str(result.acked),
                str(result.lost),
                str(result.duplicated),
                f"{result.rejoin:.1f}",
            )
    console.print(table)
    if failed:
        raise HotelError("acknowledged rows were lost or duplicated: see the table above")


def fault_drills(cluster: ComposeCluster, faults: tuple[str, ...]) -> None:
    table = Table(title="fault drills (compose)")
    for column in ("fault", "leader", "longest gap (s)", "acked", "lost", "dup",
                   "max primaries", "max routed", "healthy (s)"):  # fmt: skip
        table.add_column(column)
    results = []
    for name in faults:
        with console.status(f"drill: {name}"):
            result = run_fault(cluster, name)
        results.append(result)
        leader = f"{result.old_leader} -> {result.new_leader}"
        if result.skipped:
            table.add_row(name, leader, *["-"] * 7)
            continue
        table.add_row(
            name, leader, f"{result.longest_gap:.1f}", str(result.acked), str(result.lost),
            str(result.duplicated), str(result.most_primaries), str(result.most_routed),
            f"{result.recovered:.0f}",
        )  # fmt: skip
    console.print(table)
    for result in results:
        notes = [f"not run: {result.skipped}"] if result.skipped else result.notes
        console.print(f"[bold]{result.fault}[/]: " + "; ".join(notes))
        if result.most_primaries > 1 and result.two_primaries_expected:
            console.print(
                f"[yellow]{result.fault}[/]: the thawed old leader stayed a primary until its "
                "Patroni ran (no watchdog on this host); HAProxy did not route to it"
            )
    most = max((r.most_primaries for r in results), default=0)
    console.print(f"most primaries seen at once (every node checked each second): {most}")
    if not all(r.ok for r in results):
        raise HotelError(
            "acknowledged rows lost or duplicated, or two primaries: see the table above"
        )


@cluster_app.command("render-compose")
def render_compose() -> None:
    """Regenerate haproxy.cfg, prometheus.yml and the Grafana dashboards (tests check they
    are current)."""
    path = COMPOSE_DIR / "haproxy.cfg"
    path.write_text(compose_haproxy_cfg())
    console.print(f"[green]wrote[/] {path}")
    path = compose_prometheus_path()
    path.write_text(compose_prometheus_yml())
    console.print(f"[green]wrote[/] {path}")
    for path in write_dashboards():
        console.print(f"[green]wrote[/] {path}")


def compose_haproxy_cfg() -> str:
    header = "# Generated by `hotel cluster render-compose` from deploy/cluster/topology.py.\n"
    return header + haproxy_config(compose_topology())


# -- hotel cluster monitor: Prometheus and the exporters of the local stack ----------------------


def local_monitor() -> LocalMonitor:
    return LocalMonitor(local_cluster(), get_settings().state_dir / "metrics")


def monitor_up() -> LocalMonitor:
    """Start the local monitoring (used by `hotel up --ha --monitor` too)."""
    monitor = local_monitor()
    with console.status("starting monitoring") as spinner:
        absent = monitor.up(progress=lambda what: spinner.update(what))
    console.print(f"[green]monitoring up[/]: Prometheus {monitor.prometheus_url}/alerts")
    if absent:
        console.print(
            f"[yellow]not running yet[/]: {', '.join(absent)}; their targets show down and "
            "their panels stay empty until they run"
        )
    return monitor


@monitor_app.command("up")
def monitor_up_command() -> None:
    """Start postgres_exporter x3, the db exporter and Prometheus for the local stack."""
    monitor_up()


@monitor_app.command("down")
def monitor_down() -> None:
    """Stop the monitoring processes (the cluster keeps running)."""
    stopped = local_monitor().down()
    console.print(f"[green]monitoring down[/]: stopped {', '.join(stopped) or 'nothing'}")


@monitor_app.command()
def targets() -> None:
    """Every scrape target and its health, as Prometheus sees it."""
    monitor = local_monitor()
    if not monitor.ready():
        raise HotelError("Prometheus is not running: `hotel cluster monitor up`")
    table = Table(title="scrape targets")
    for column in ("job", "instance", "health", "last error"):
        table.add_column(column)
    for target in sorted(monitor.targets(), key=lambda t: (t["labels"]["job"], t["scrapeUrl"])):
        table.add_row(
            target["labels"]["job"],
            target["labels"]["instance"],
            target["health"],
            target.get("lastError", ""),
        )
    console.print(table)
