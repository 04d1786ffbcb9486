"""`hotel cluster ...`: run, inspect and exercise the HA stack.

`node` is the entrypoint of every Patroni node, in the compose containers and in the local
stack alike; the other commands drive the local stack under the state directory.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deploy.cluster.local import LocalCluster, eventually, exec_patroni, render_node_config
from deploy.cluster.topology import Credentials, compose_topology, haproxy_config
from deploy.errors import HotelError
from deploy.monitor.cli import monitor_app

cluster_app = typer.Typer(
    help="The HA stack (etcd x3, Patroni x3, HAProxy) as local processes; `node` runs one node.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cluster_app.add_typer(monitor_app, name="monitor")
console = Console()
COMPOSE_DIR = Path(__file__).resolve().parent.parent / "compose"
SECRET_VARS = {
    "superuser_password": "HOTEL_CLUSTER_SUPERUSER_PASSWORD",
    "replication_password": "HOTEL_CLUSTER_REPLICATION_PASSWORD",
    "rest_password": "HOTEL_CLUSTER_REST_PASSWORD",
}


def local_cluster() -> LocalCluster:
    from hotel_models.settings import get_settings

    return LocalCluster.for_state_dir(get_settings().state_dir)


def cluster_up(offset: int) -> LocalCluster:
    from hotel_models.settings import get_settings

    cluster = local_cluster()
    repo = get_settings().backup_repo_path
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
        f"127.0.0.1:{topo.replica_port}, stats http://127.0.0.1:{topo.stats_port}/ "
        f"(state {cluster.root}, {cluster.up_seconds:.1f} s)"
    )
    _status_table(cluster)


@cluster_app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete data, logs and secrets.")] = False,
) -> None:
    """Stop every process of the local stack, postmasters included."""
    from hotel_models.settings import get_settings

    cluster = local_cluster()
    url_file = get_settings().local_url_file
    published = url_file.read_text().strip() if url_file.is_file() else None
    ours = purge and cluster.exists() and published == cluster.primary_url()
    from deploy.monitor.local import LocalMonitor

    stopped = [*LocalMonitor(cluster).down(), *cluster.down(purge=purge)]
    if purge:
        (get_settings().state_dir / "cluster.location").unlink(missing_ok=True)
        if ours:  # `hotel up --ha` published it; it points at nothing now
            url_file.unlink()
    console.print(
        f"[green]cluster down[/]: stopped {', '.join(stopped) or 'nothing (not running)'}"
    )


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
        missing = [var for var in SECRET_VARS.values() if not os.environ.get(var)]
        if missing:
            raise HotelError(f"set {', '.join(missing)} (compose reads them from .env)")
        creds = Credentials(**{f: os.environ[v] for f, v in SECRET_VARS.items()})
    target = config or Path(topo.node(name).home) / "patroni.yml"
    render_node_config(topo, name, creds, target)
    sys.stdout.flush()
    exec_patroni(target)


@cluster_app.command("wait-primary")
def wait_primary(
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 120,
) -> None:
    """Wait until HOTEL_DATABASE_URL reaches a primary; create its database if missing."""
    import psycopg
    from sqlalchemy.engine import make_url

    from deploy.migrations import require_url

    url = make_url(require_url())
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)

    def primary() -> bool:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is None or row[0]:
                    return False
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [url.database])
                if found.fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{url.database}"')
                return True
        except psycopg.OperationalError:
            return False

    started = time.monotonic()
    eventually(primary, timeout, f"a primary at {url.host}:{url.port}", interval=1)
    console.print(f"[green]primary ready[/] after {time.monotonic() - started:.1f} s")


@cluster_app.command()
def drill(
    rounds: Annotated[int, typer.Option(help="How many node-loss + switchover rounds.")] = 1,
    compose: Annotated[
        bool,
        typer.Option(help="Drill the compose stack (docker kill of the leader's container)."),
    ] = False,
    env_file: Annotated[
        Path, typer.Option(help="The compose stack's env file (--compose).")
    ] = COMPOSE_DIR / ".env",
    project: Annotated[
        str, typer.Option(envvar="COMPOSE_PROJECT_NAME", help="Compose project (--compose).")
    ] = "hotel",
) -> None:
    """Node loss (kill -9 of the leader) and a switchover under a writer: RTO, gaps, losses."""
    from deploy.cluster.drill import run_drill
    from deploy.compose.stack import ComposeCluster

    cluster = ComposeCluster.open(env_file, project) if compose else local_cluster()
    if not cluster.members():
        start = "make compose-up" if compose else "hotel cluster up"
        raise HotelError(f"the drill needs the stack: run `{start}` first")
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


@cluster_app.command("render-compose")
def render_compose() -> None:
    """Regenerate haproxy.cfg, prometheus.yml and the Grafana dashboards (tests check they
    are current)."""
    from deploy.monitor.dashboards import write_dashboards
    from deploy.monitor.targets import compose_prometheus_path, compose_prometheus_yml

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
