"""Fault drills on the compose stack, where each node is its own container and network
namespace, so the faults are real: a partitioned leader, a frozen leader, etcd without quorum,
an etcd member replaced, a replica's disk full, a slow network to the sync standby.

Every fault runs under the drill's writer (deploy/cluster/drill.py: one row per transaction
through HAProxy's primary port on 127.0.0.1, every acknowledged id kept) and a `RoleWatch`
that asks every node once a second, inside its container, whether it is a primary
(pg_is_in_recovery() is the truth of a node's role) and which servers HAProxy's primary port
has UP. A drill ends when the stack is healthy again (one leader, two streaming replicas, a
sync standby, HAProxy agreeing), so faults can follow one another on one stack.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from deploy.cluster.compose import ComposeCluster, docker
from deploy.cluster.drill import PROBE_TABLE, Writer, healthy, prepare_probe, verify
from deploy.cluster.local import http
from deploy.cluster.topology import ETCD_ROOT, node_tls_dir
from deploy.process import eventually, wait_until
from hotel_models.errors import HotelError

FAULTS = ("partition", "freeze", "etcd-quorum", "etcd-member", "disk-full", "slow")
PARTITION_SECONDS = 45
FREEZE_SECONDS = 40
QUORUM_SECONDS = 40
SLOW_SECONDS = 30
NETEM_DELAY = "100ms"
# The alert a replica that stopped streaming raises (monitor/rules/cluster.yml).
DISK_FULL_ALERT = "PatroniReplicaNotStreaming"


@dataclass
class Sample:
    at: float
    primaries: tuple[str, ...]  # nodes answering pg_is_in_recovery() = false
    unknown: tuple[str, ...]  # nodes that did not answer (stopped, paused)
    routed: tuple[str, ...]  # servers UP behind HAProxy's primary port


class RoleWatch(threading.Thread):
    """Once a second, every node at once: is it a primary? and whom does HAProxy route to?"""

    def __init__(self, cluster: ComposeCluster) -> None:
        super().__init__(daemon=True)
        # Its own view of the project: containers the drill replaces are looked up afresh.
        self.cluster = ComposeCluster(
            root=cluster.root, env_file=cluster.env_file, project=cluster.project
        )
        self.nodes = [n.name for n in cluster.topology.nodes]
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        with ThreadPoolExecutor(len(self.nodes) + 1) as pool:
            while not self._stop_event.is_set():
                started = time.monotonic()
                self.cluster._containers.clear()
                roles = dict(zip(self.nodes, pool.map(self.role, self.nodes), strict=True))
                routed = routed_primaries(self.cluster)
                self.samples.append(
                    Sample(
                        started,
                        tuple(n for n, r in roles.items() if r is False),
                        tuple(n for n, r in roles.items() if r is None),
                        routed,
                    )
                )
                self._stop_event.wait(max(0.0, 1 - (time.monotonic() - started)))

    def role(self, name: str) -> bool | None:
        try:
            return self.cluster.in_recovery(name)
        except (HotelError, subprocess.SubprocessError):  # removed, being replaced, hung
            return None

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)

    @property
    def most_primaries(self) -> int:
        return max((len(s.primaries) for s in self.samples), default=0)

    @property
    def most_routed(self) -> int:
        return max((len(s.routed) for s in self.samples), default=0)

    def primary_between(self, name: str, start: float, end: float) -> list[float]:
        return [s.at for s in self.samples if start <= s.at <= end and name in s.primaries]


def routed_primaries(cluster: ComposeCluster) -> tuple[str, ...]:
    rows = cluster.haproxy_stats()
    return tuple(
        sorted(
            r["svname"]
            for r in rows
            if r["pxname"] == "primary"
            and r["status"] == "UP"
            and r["svname"] not in ("FRONTEND", "BACKEND")
        )
    )


@dataclass
class FaultResult:
    fault: str
    old_leader: str
    new_leader: str = ""
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    longest_gap: float = 0.0  # seconds without an acknowledged write, from the fault on
    most_primaries: int = 0  # nodes that were primaries in the same one-second sample
    most_routed: int = 0  # servers HAProxy's primary port had UP at once
    recovered: float = 0.0  # seconds from the fault until the stack was healthy again
    notes: list[str] = field(default_factory=list)
    skipped: str = ""  # why the fault could not be applied on this host (nothing was faked)
    acked_by_old_leader: bool = False  # freeze: a direct write to the thawed leader succeeded
    watch: RoleWatch | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Nothing acknowledged was lost, HAProxy never routed to two primaries, and at most
        one node was a primary at a time -- except right after a freeze: without a watchdog
        nothing fences a thawed leader before its Patroni runs (`two_primaries_expected`)."""
        safe = self.lost == 0 and self.duplicated == 0 and self.most_routed <= 1
        return self.skipped != "" or (
            safe
            and not self.acked_by_old_leader
            and (self.most_primaries <= 1 or self.two_primaries_expected)
        )

    @property
    def two_primaries_expected(self) -> bool:
        return self.fault == "freeze"


# -- the frame every fault runs in ---------------------------------------------------------


Fault = Callable[[ComposeCluster, FaultResult, Writer], None]


def run_fault(cluster: ComposeCluster, fault: str) -> FaultResult:
    """Apply one fault under a writer and a role watch, heal it, wait for a healthy stack."""
    if fault not in FAULTS:
        raise HotelError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)} or all")
    eventually(lambda: healthy(cluster), 300, "a healthy stack before the drill", interval=1)
    url = str(eventually(lambda: probe(cluster), 60, "the probe table through the primary port"))
    leader = cluster.leader()
    if leader is None:
        raise HotelError("the drill needs a leader")
    result = FaultResult(fault, old_leader=leader)
    writer, watch = Writer(url), RoleWatch(cluster)
    writer.start()
    watch.start()
    try:
        eventually(lambda: len(writer.acked) > 20, 120, "the writer to commit")
        started = time.monotonic()
        DRILLS[fault](cluster, result, writer)
        eventually(lambda: healthy(cluster), 300, f"a healthy stack after {fault}", interval=1)
        result.recovered = time.monotonic() - started
        resumed = time.monotonic()
        eventually(lambda: writer.acks_after(resumed), 60, "writes after the drill")
    finally:
        writer.stop()
        watch.stop()
    result.new_leader = cluster.leader() or ""
    if result.new_leader not in ("", leader):
        result.notes.append(handover(watch, leader, result.new_leader, started))
    times = [started, *(t for t in writer.ack_times if t > started)]
    result.longest_gap = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    result.acked = len(writer.acked)
    result.lost, result.duplicated = verify(url, writer)
    result.most_primaries = watch.most_primaries
    result.most_routed = watch.most_routed
    result.watch = watch
    return result


def handover(watch: RoleWatch, old: str, new: str, start: float) -> str:
    """When, seen from inside the nodes, the old leader stopped and the new one started
    answering as a primary (to the second: the watch samples once a second)."""
    old_last = max((s.at for s in watch.samples if s.at >= start and old in s.primaries), default=0)
    new_first = min(
        (s.at for s in watch.samples if s.at >= start and new in s.primaries), default=0
    )
    last = f"+{old_last - start:.0f} s" if old_last else "never after the fault"
    first = f"+{new_first - start:.0f} s" if new_first else "never (not seen)"
    return f"{old} last seen primary {last}, {new} first seen primary {first}"


def probe(cluster: ComposeCluster) -> str | None:
    """The probe table's URL once it exists (HAProxy may be between checks on a busy host)."""
    try:
        return prepare_probe(cluster)
    except psycopg.OperationalError:
        return None


def members_seen_by(cluster: ComposeCluster, name: str) -> list[dict[str, Any]]:
    """Patroni's /cluster as one node reports it (not the faulted one's stale view)."""
    done = cluster.exec(name, "curl", "-fsS", "--max-time", "3", "http://127.0.0.1:8008/cluster")
    try:
        return list(json.loads(done.stdout).get("members", [])) if done.returncode == 0 else []
    except ValueError:
        return []


def leader_seen_by(cluster: ComposeCluster, name: str) -> str | None:
    members = members_seen_by(cluster, name)
    return next((m["name"] for m in members if m["role"] == "leader"), None)


def others(cluster: ComposeCluster, name: str) -> list[str]:
    return [n.name for n in cluster.topology.nodes if n.name != name]


def wait_new_leader(cluster: ComposeCluster, old: str, timeout: float = 90) -> str:
    witness = others(cluster, old)[0]

    def new() -> str | None:
        leader = leader_seen_by(cluster, witness)
        return leader if leader != old else None

    return str(eventually(new, timeout, f"a leader other than {old}", interval=0.5))


def check(done: Any, what: str) -> None:
    if done.returncode != 0:
        raise HotelError(f"{what}: {(done.stderr or done.stdout).strip()}")


# -- partition -----------------------------------------------------------------------------


def partition(cluster: ComposeCluster, result: FaultResult, writer: Writer) -> None:
    """The leader's container off the stack's network for 45 s, then back (same aliases)."""
    old = result.old_leader
    container = cluster.container(old)
    networks = inspect(container)["NetworkSettings"]["Networks"]
    for network in networks:
        check(docker("network", "disconnect", network, container), "network disconnect")
    cut = time.monotonic()
    try:
        new = wait_new_leader(cluster, old)
        promoted = time.monotonic()
        result.notes.append(f"{new} led {promoted - cut:.1f} s after the cut")
        # Patroni demotes a leader that cannot update its key well before the key expires.
        demoted = wait_until(lambda: cluster.in_recovery(old) is True, PARTITION_SECONDS)
        if demoted:
            result.notes.append(f"{old} demoted itself while cut off")
        time.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - cut)))
    finally:
        for network, settings in networks.items():
            aliases = [a for a in settings.get("Aliases") or [] if not container.startswith(a)]
            alias_args = [arg for a in aliases for arg in ("--alias", a)]
            check(docker("network", "connect", *alias_args, network, container), "reconnect")
    healed = time.monotonic()
    eventually(lambda: rejoined_as_replica(cluster, old), 180, f"{old} to rejoin", interval=1)
    result.notes.append(f"{old} streaming again {time.monotonic() - healed:.1f} s after heal")


def rejoined_as_replica(cluster: ComposeCluster, name: str) -> bool:
    members = members_seen_by(cluster, others(cluster, name)[0])
    member = next((m for m in members if m["name"] == name), None)
    return bool(member and member["state"] == "streaming" and cluster.in_recovery(name) is True)


# -- freeze --------------------------------------------------------------------------------


def freeze(cluster: ComposeCluster, result: FaultResult, writer: Writer) -> None:
    """`docker pause` of the leader for 40 s: every process of it stops at once (a VM stall),
    then thaws believing it still leads until its Patroni runs its loop again."""
    old = result.old_leader
    container = cluster.container(old)
    # The cgroup freezer gives up when a process will not stop in time (a busy host): retry.
    tries: list[Any] = []

    def pause() -> bool:
        tries.append(docker("pause", container))
        return tries[-1].returncode == 0

    if not wait_until(pause, 30, interval=1):
        check(tries[-1], "docker pause")
    paused = time.monotonic()
    try:
        new = wait_new_leader(cluster, old)
        result.notes.append(f"{new} led {time.monotonic() - paused:.1f} s after the freeze")
        time.sleep(max(0.0, FREEZE_SECONDS - (time.monotonic() - paused)))
    finally:
        check(docker("unpause", container), "docker unpause")
    thawed = time.monotonic()
    # A client connected straight to the old leader (not through HAProxy) writes at the thaw:
    # it must not be told its row committed.
    attempt = threading.Thread(target=direct_write, args=(cluster, old, result), daemon=True)
    attempt.start()
    # As often as docker exec allows: how long is the thawed old leader still a primary?
    last_primary = thawed
    while time.monotonic() - thawed < 60:
        role = cluster.in_recovery(old)
        if role is False:
            last_primary = time.monotonic()
        elif role is True:
            break
    result.notes.append(
        f"{old} still a primary {last_primary - thawed:.1f} s after the thaw"
        if last_primary > thawed
        else f"{old} never answered as a primary after the thaw"
    )
    attempt.join(timeout=60)
    eventually(lambda: rejoined_as_replica(cluster, old), 180, f"{old} to rejoin", interval=1)


def direct_write(cluster: ComposeCluster, name: str, result: FaultResult) -> None:
    node = cluster.topology.node(name)
    done = cluster.exec(
        name,
        "sh", "-c",
        'PGPASSWORD="$HOTEL_CLUSTER_SUPERUSER_PASSWORD" timeout 20 psql -XAtq -h "$1" -p "$2" '
        "-U postgres -d postgres -v ON_ERROR_STOP=1 -c "
        f"\"INSERT INTO {PROBE_TABLE} (run, client_id) VALUES ('thaw', -1)\"",
        "sh", node.home, str(node.pg_port),
        timeout=60,
    )  # fmt: skip
    if done.returncode == 0:
        result.acked_by_old_leader = True
        result.notes.append(f"a write straight to the thawed {name} was acknowledged")
    else:
        reason = (done.stderr.strip().splitlines() or ["no answer in 20 s"])[-1]
        result.notes.append(f"a write straight to the thawed {name} was not acknowledged: {reason}")


# -- etcd ----------------------------------------------------------------------------------


def etcdctl_run(
    cluster: ComposeCluster, member: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """etcdctl inside a member as etcd's root (auth is on): the credentials reach it through
    docker's environment (`-e NAME` copies the client's value), never an argument."""
    root = f"{ETCD_ROOT}:{cluster.credentials().etcd_root_password}"
    return docker(
        "exec", "-e", "ETCDCTL_USER", cluster.container(member),
        "etcdctl", "--endpoints=http://127.0.0.1:2379", "--command-timeout=5s", *args,
        env={**os.environ, "ETCDCTL_USER": root},
    )  # fmt: skip


def etcdctl(cluster: ComposeCluster, member: str, *args: str) -> Any:
    done = etcdctl_run(cluster, member, *args)
    check(done, f"etcdctl {' '.join(args)} on {member}")
    return json.loads(done.stdout) if "-w" in args else done.stdout


def etcd_leader(cluster: ComposeCluster) -> str:
    """The etcd member that leads the raft group (its name)."""
    for member in cluster.topology.etcd:
        if not cluster.running(member.name):
            continue
        statuses = etcdctl(cluster, member.name, "endpoint", "status", "--cluster", "-w", "json")
        leader_id = statuses[0]["Status"]["leader"]
        names = {m["ID"]: m["name"] for m in etcd_members(cluster, member.name)}
        return str(names[leader_id])
    raise HotelError("no etcd member runs")


def etcd_members(cluster: ComposeCluster, via: str) -> list[dict[str, Any]]:
    return list(etcdctl(cluster, via, "member", "list", "-w", "json")["members"])


def etcd_healthy(cluster: ComposeCluster) -> bool:
    """Every member answers and has started. A question, polled while quorum comes back:
    an etcd that cannot answer yet is a no, not an error."""
    via = next(m.name for m in cluster.topology.etcd if cluster.running(m.name))
    if etcdctl_run(cluster, via, "endpoint", "health", "--cluster").returncode != 0:
        return False
    try:
        members = etcd_members(cluster, via)
    except HotelError:  # "context deadline exceeded": the members are still electing
        return False
    started = [m for m in members if m.get("name")]
    return len(started) == len(cluster.topology.etcd)


def etcd_quorum(cluster: ComposeCluster, result: FaultResult, writer: Writer) -> None:
    """Two of three etcd members stopped for 40 s. failsafe_mode is off (topology.DCS): the
    primary cannot renew its key and demotes; writes stop cleanly until quorum returns."""
    stopped = [m.name for m in cluster.topology.etcd][:2]
    for name in stopped:
        check(docker("stop", "-t", "5", cluster.container(name)), f"docker stop {name}")
    lost = time.monotonic()
    try:
        time.sleep(QUORUM_SECONDS)
        result.notes.append(
            f"writes during the {QUORUM_SECONDS} s without quorum: "
            f"{sum(1 for t in writer.ack_times if t > lost)}"
        )
    finally:
        for name in stopped:
            check(docker("start", cluster.container(name)), f"docker start {name}")
    eventually(lambda: etcd_healthy(cluster), 60, "etcd healthy again", interval=1)


def etcd_member(cluster: ComposeCluster, result: FaultResult, writer: Writer) -> None:
    """The etcd leader lost for good (container and data volume removed), replaced by a new
    empty member that joins the running cluster (member remove, member add, state existing)."""
    victim = etcd_leader(cluster)
    survivor = next(m.name for m in cluster.topology.etcd if m.name != victim)
    container = cluster.container(victim)
    info = inspect(container)
    (mount,) = [m for m in info["Mounts"] if m["Type"] == "volume"]
    volume_labels = json.loads(docker("volume", "inspect", mount["Name"]).stdout)[0]["Labels"]
    peer_url = env_of(info)["ETCD_INITIAL_ADVERTISE_PEER_URLS"]
    check(docker("rm", "-f", container), "docker rm")
    check(docker("volume", "rm", mount["Name"]), "docker volume rm")
    lost = time.monotonic()
    eventually(
        lambda: etcdctl_run(cluster, survivor, "endpoint", "health").returncode == 0,
        60,
        "an etcd leader",
    )
    (old_member,) = [m for m in etcd_members(cluster, survivor) if m.get("name") == victim]
    etcdctl(cluster, survivor, "member", "remove", format(old_member["ID"], "x"))
    etcdctl(cluster, survivor, "member", "add", victim, f"--peer-urls={peer_url}")
    label_args = [arg for k, v in (volume_labels or {}).items() for arg in ("--label", f"{k}={v}")]
    check(docker("volume", "create", *label_args, mount["Name"]), "docker volume create")
    recreate(info, env={"ETCD_INITIAL_CLUSTER_STATE": "existing"})
    cluster._containers.pop(victim, None)
    eventually(lambda: etcd_healthy(cluster), 90, f"the new {victim} to join", interval=1)
    result.notes.append(f"new {victim} joined {time.monotonic() - lost:.1f} s after the loss")
    if cluster.leader() != result.old_leader:
        result.notes.append("the Patroni leader changed (it should not)")


# -- disk full -----------------------------------------------------------------------------


def disk_full(cluster: ComposeCluster, result: FaultResult, writer: Writer) -> None:
    """A replica re-cloned onto a small tmpfs volume and made the sync standby; its disk is
    then filled until it stops streaming. The primary must keep serving with the other
    replica as sync standby, Prometheus must fire DISK_FULL_ALERT for it, and it must catch
    up once the space is freed. Finally it is re-cloned onto its own volume."""
    leader = result.old_leader
    victim = next(n for n in others(cluster, leader) if n != cluster.sync_standby())
    healthy_replica = next(n for n in others(cluster, leader) if n != victim)
    node = cluster.topology.node(victim)
    home = node.home
    info = inspect(cluster.container(victim))
    (own,) = [m for m in info["Mounts"] if m["Destination"] == home]
    du = cluster.exec(victim, "du", "-sb", f"--exclude={home}/data/pg_wal", home).stdout.split()
    # A tmpfs holds its files only while a container has it mounted (Docker mounts a volume
    # with options at each start), so the node is cloned onto it by Patroni, not copied.
    size_mb = int(du[0]) // 1048576 + 160 if du else 512
    small, certificate = f"{own['Name']}-small", f"{own['Name']}-tls"
    check(
        docker("volume", "create", "--driver", "local", "--opt", "type=tmpfs",
               "--opt", "device=tmpfs", "--opt", f"o=size={size_mb}m", small),
        "docker volume create (tmpfs)",
    )  # fmt: skip
    keep_certificate(info, own["Name"], certificate, Path(node_tls_dir(node)).name)
    result.notes.append(f"{victim} re-cloned onto a {size_mb} MiB tmpfs volume")
    try:
        replace_volume(cluster, victim, info, small, certificate)
        eventually(lambda: cloned(cluster, victim), 600, f"{victim} cloned and streaming", 3)
        make_sync(cluster, leader, victim)
        filled = time.monotonic()
        cluster.exec(victim, "sh", "-c", f'dd if=/dev/zero of="{home}/ballast" bs=1M', timeout=120)

        # A standby needs room when it starts a new WAL segment: switch segments until it fails.
        def stopped_streaming() -> bool:
            leader_sql(  # a new segment, and 1 MiB of WAL in it
                cluster,
                "SELECT pg_switch_wal(); "
                "SELECT pg_logical_emit_message(false, 'drill', repeat('x', 1048576))",
            )
            return not rejoined_as_replica(cluster, victim)

        eventually(stopped_streaming, 180, f"{victim} to stop streaming", interval=2)
        eventually(
            lambda: cluster.sync_standby() == healthy_replica,
            120,
            f"the sync standby role to move to {healthy_replica}",
            interval=1,
        )
        result.notes.append(
            f"sync standby {victim} -> {healthy_replica} "
            f"{time.monotonic() - filled:.1f} s after the disk filled"
        )
        fired = prometheus_alert(cluster, DISK_FULL_ALERT, victim)
        result.notes.append(
            f"{DISK_FULL_ALERT} firing for {victim} {time.monotonic() - filled:.0f} s after"
            if fired
            else "Prometheus not reachable: alert not checked"
        )
        freed = time.monotonic()
        ((target,),) = leader_sql(cluster, "SELECT pg_current_wal_lsn()::text")
        cluster.exec(victim, "rm", "-f", f"{home}/ballast")
        eventually(lambda: replayed(cluster, victim, target), 300, f"{victim} to catch up")
        result.notes.append(f"{victim} caught up {time.monotonic() - freed:.1f} s after freeing")
    finally:
        replace_volume(cluster, victim, inspect(cluster.container(victim)), own["Name"])
        docker("volume", "rm", small, certificate)
    eventually(lambda: cloned(cluster, victim), 600, f"{victim} back on its volume", 3)


def cloned(cluster: ComposeCluster, name: str) -> bool:
    """Streaming again; meanwhile a CHECKPOINT on the primary hurries the one pg_basebackup
    waits for (Patroni's clone asks for a spread checkpoint: minutes on an idle database)."""
    if rejoined_as_replica(cluster, name):
        return True
    with contextlib.suppress(HotelError):
        leader_sql(cluster, "CHECKPOINT")
    return False


def keep_certificate(info: dict[str, Any], volume: str, copy: str, tls_dir: str) -> None:
    """Copy a node's certificate directory (`tls_dir`, written by `init` into its own volume)
    into a regular volume `copy`, to be mounted over it while the node lives on a tmpfs volume:
    a tmpfs volume loses its files whenever no container mounts it, so it cannot be filled
    beforehand."""
    check(docker("volume", "create", copy), f"docker volume create {copy}")
    done = docker(
        "run", "--rm", "--user", "root", "--network", "none",
        "-v", f"{volume}:/old:ro", "-v", f"{copy}:/new", info["Config"]["Image"],
        "sh", "-c", 'cp -a "/old/$1/." /new/ && chown --reference="/old/$1" /new '
        '&& chmod --reference="/old/$1" /new', "sh", tls_dir,
        timeout=120,
    )  # fmt: skip
    check(done, f"copy {volume}/{tls_dir} into {copy}")


def replace_volume(
    cluster: ComposeCluster,
    name: str,
    info: dict[str, Any],
    volume: str,
    certificate: str | None = None,
) -> None:
    """Restart a replica on `volume` (emptied first) for its home: Patroni clones it afresh
    from the leader (its old data would need WAL the leader may have recycled meanwhile).
    The node's certificate stays where it is on its own volume, or comes from the volume
    `certificate` mounted over its directory (see keep_certificate)."""
    node = cluster.topology.node(name)
    tls_dir = node_tls_dir(node)
    check(docker("rm", "-f", info["Id"]), f"docker rm {name}")
    wipe = docker(
        "run", "--rm", "--user", "root", "--network", "none",
        "-v", f"{volume}:/v", info["Config"]["Image"],
        "find", "/v", "-mindepth", "1", "-maxdepth", "1", "!", "-name", Path(tls_dir).name,
        "-exec", "rm", "-rf", "{}", "+",
        timeout=300,
    )  # fmt: skip
    check(wipe, f"empty {volume}")
    recreate(info, mounts={node.home: volume, tls_dir: certificate})
    cluster._containers.pop(name, None)


def make_sync(cluster: ComposeCluster, leader: str, replica: str) -> None:
    """Patroni picks the sync standby itself; drop the current one's walsender until it
    picks `replica` (it keeps a healthy sync standby once chosen)."""

    def chosen() -> bool:
        current = cluster.sync_standby()
        if current == replica:
            return True
        if current is not None:
            leader_sql(
                cluster,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_replication "
                f"WHERE application_name = '{current}'",  # a node name of the topology
            )
        return False

    eventually(chosen, 90, f"{replica} to become the sync standby", interval=3)
    eventually(lambda: healthy(cluster), 90, "a healthy stack with the new sync standby")


def replayed(cluster: ComposeCluster, replica: str, lsn: str) -> bool:
    """The replica has replayed the primary's WAL up to `lsn` (asked inside its container)."""
    return node_sql(cluster, replica, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t"


def node_sql(cluster: ComposeCluster, name: str, query: str) -> str | None:
    """One statement on a node, inside its container, as the superuser (None: it failed)."""
    try:
        rows = cluster.sql(query, "postgres", on=name)
    except HotelError:
        return None
    return "\n".join("|".join(row) for row in rows)


def leader_sql(cluster: ComposeCluster, query: str) -> list[list[str]]:
    """Statements on the leader as the superuser: it logs in through the node's socket only,
    and the drill's own login may not switch WAL, checkpoint or end a walsender."""
    return cluster.sql(query, "postgres")


def prometheus_alert(cluster: ComposeCluster, alert: str, node: str) -> bool:
    """Wait until the live Prometheus fires `alert` for `node`; False if there is none."""
    url = f"http://127.0.0.1:{cluster.port('HOTEL_PROMETHEUS_PORT')}/api/v1/alerts"
    status, _ = http("GET", url, timeout=5)
    if status != 200:
        return False

    def firing() -> bool:
        status, body = http("GET", url, timeout=5)
        alerts = body["data"]["alerts"] if status == 200 and isinstance(body, dict) else []
        return any(
            a["labels"].get("alertname") == alert
            and node in a["labels"].values()
            and a["state"] == "firing"
            for a in alerts
        )

    eventually(firing, 240, f"{alert} firing for {node} in Prometheus", interval=5)
    return True


# -- slow network --------------------------------------------------------------------------


def slow(cluster: ComposeCluster, result: FaultResult, writer: Writer) -> None:
    """tc netem delay on the sync standby's interfaces (from a helper container with
    NET_ADMIN in its network namespace: the node itself gets no capability)."""
    sync = cluster.sync_standby()
    if sync is None:
        raise HotelError("the slow drill needs a sync standby")
    with netem(cluster, sync) as unsupported:
        if unsupported:
            result.skipped = unsupported
            return
        before = commit_interval(writer, time.monotonic() - 10, time.monotonic())
        start = time.monotonic()
        time.sleep(SLOW_SECONDS)
        during = commit_interval(writer, start, time.monotonic())
        result.notes.append(
            f"{NETEM_DELAY} to {sync}: median time per commit {before * 1000:.0f} -> "
            f"{during * 1000:.0f} ms"
        )


def commit_interval(writer: Writer, start: float, end: float) -> float:
    times = [t for t in writer.ack_times if start <= t <= end]
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    return gaps[len(gaps) // 2] if gaps else float("nan")


@contextmanager
def netem(cluster: ComposeCluster, name: str) -> Iterator[str]:
    """Yields "" with the delay in place, or why it cannot be (the kernel lacks sch_netem)."""
    container = cluster.container(name)
    image = inspect(container)["Config"]["Image"]

    def tc(*args: str) -> Any:
        return docker(
            "run", "--rm", "--network", f"container:{container}", "--cap-add", "NET_ADMIN",
            "--user", "root", image, "tc", "qdisc", *args,
        )  # fmt: skip

    added = tc("add", "dev", "eth0", "root", "netem", "delay", NETEM_DELAY)
    if added.returncode != 0:
        yield f"tc netem unavailable here ({added.stderr.strip()}): not run"
        return
    try:
        yield ""
    finally:
        tc("del", "dev", "eth0", "root")


DRILLS: dict[str, Fault] = {
    "partition": partition,
    "freeze": freeze,
    "etcd-quorum": etcd_quorum,
    "etcd-member": etcd_member,
    "disk-full": disk_full,
    "slow": slow,
}


# -- containers ----------------------------------------------------------------------------


def inspect(container: str) -> dict[str, Any]:
    done = docker("inspect", container)
    check(done, f"docker inspect {container}")
    return dict(json.loads(done.stdout)[0])


def env_of(info: dict[str, Any]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in info["Config"]["Env"])


def recreate(
    info: dict[str, Any],
    env: dict[str, str] | None = None,
    mounts: dict[str, str | None] | None = None,
) -> None:
    """Start a container like the (removed) one `info` describes -- same name, image,
    command, user, compose labels, network aliases, health check, restart policy, DNS
    options, dropped capabilities and security options -- with some environment variables
    and volume mounts changed."""
    config, host = info["Config"], info["HostConfig"]
    name = info["Name"].lstrip("/")
    args = ["create", "--name", name, "--hostname", config["Hostname"]]
    if config.get("User"):
        args += ["--user", config["User"]]
    args += ["--restart", host["RestartPolicy"]["Name"] or "no"]
    if config.get("WorkingDir"):
        args += ["--workdir", config["WorkingDir"]]
    if config.get("StopTimeout"):
        args += ["--stop-timeout", str(config["StopTimeout"])]
    # A node without its 1 s name lookups would demote too late when partitioned.
    for flag, key in (("--dns-option", "DnsOptions"), ("--cap-drop", "CapDrop"),
                      ("--cap-add", "CapAdd"), ("--security-opt", "SecurityOpt")):  # fmt: skip
        for value in host.get(key) or []:
            args += [flag, value]
    for key, value in (config.get("Labels") or {}).items():
        args += ["--label", f"{key}={value}"]
    # `mounts` maps a path to the volume mounted there now (None: nothing), in place of the
    # old container's mount or beside them.
    volumes = {
        m["Destination"]: (m.get("Name") if m["Type"] == "volume" else None) or m["Source"]
        for m in info["Mounts"]
    }
    read_only = {m["Destination"] for m in info["Mounts"] if not m["RW"]}
    for destination, source in {**volumes, **(mounts or {})}.items():
        if source is not None:
            args += ["-v", f"{source}:{destination}{':ro' if destination in read_only else ''}"]
    health = config.get("Healthcheck") or {}
    if health.get("Test"):
        kind, *test = health["Test"]
        command = test[0] if kind == "CMD-SHELL" else " ".join(test)
        args += ["--health-cmd", command]
        for option, key in (("interval", "Interval"), ("timeout", "Timeout"),
                            ("start-period", "StartPeriod")):  # fmt: skip
            if health.get(key):
                args += [f"--health-{option}", f"{health[key] / 1e9:.0f}s"]
        if health.get("Retries"):
            args += ["--health-retries", str(health["Retries"])]
    ((network, settings),) = info["NetworkSettings"]["Networks"].items()
    args += ["--network", network]
    for alias in settings.get("Aliases") or []:
        if not info["Id"].startswith(alias):
            args += ["--network-alias", alias]
    # The environment (passwords included) through a 0600 file, never on a command line.
    variables = {**env_of(info), **(env or {})}
    with tempfile.NamedTemporaryFile("w", prefix="hotel-drill-", suffix=".env") as env_file:
        os.chmod(env_file.name, 0o600)
        env_file.write("".join(f"{k}={v}\n" for k, v in variables.items()))
        env_file.flush()
        args += ["--env-file", env_file.name, config["Image"], *(config.get("Cmd") or [])]
        check(docker(*args), f"docker create {name}")
    check(docker("start", name), f"docker start {name}")
