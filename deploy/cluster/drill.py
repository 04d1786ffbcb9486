"""Failover drills under load: the same code proves the targets in tests and `hotel cluster drill`.

The stack is the local one or, through the same interface, the compose one
(deploy/cluster/compose.py). A writer thread commits one row per transaction through HAProxy's
primary port and records
every acknowledged id. A drill then breaks the leader (kill -9 of Patroni and its postmaster,
or a planned switchover), measures how long writes stopped, checks that every acknowledged
row survived exactly once, and waits for the old leader to rejoin as a replica.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg

from deploy.cluster.local import LocalCluster
from deploy.process import eventually
from hotel_models.errors import HotelError

PROBE_TABLE = "hotel_ha_probe"


class Writer(threading.Thread):
    """Commits rows through `url` until stopped; never retries an id, so a row present twice
    can only come from the cluster, and an acknowledged id missing is a lost commit."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.run_id = uuid.uuid4().hex
        self.acked: list[int] = []
        self.ack_times: list[float] = []
        self.errors = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        next_id = 0
        while not self._stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                next_id += 1
                conn.execute(
                    f"INSERT INTO {PROBE_TABLE} (run, client_id) VALUES (%s, %s)",
                    [self.run_id, next_id],
                )
                self.acked.append(next_id)
                self.ack_times.append(time.monotonic())
                time.sleep(0.005)
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)

    def acks_after(self, since: float) -> bool:
        return bool(self.ack_times) and self.ack_times[-1] > since


@dataclass
class DrillResult:
    scenario: str
    old_leader: str
    new_leader: str
    rto: float  # seconds from the fault until writes resumed after the longest outage
    longest_gap: float
    acked: int
    lost: int
    duplicated: int
    rejoin: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


def prepare_probe(cluster: LocalCluster) -> str:
    url = cluster.primary_url("postgres", driver="postgresql")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} ("
            " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " run text NOT NULL, client_id bigint NOT NULL,"
            " written_at timestamptz NOT NULL DEFAULT now())"
        )
    return url


def in_recovery(cluster: LocalCluster, name: str) -> bool | None:
    """The truth of a node's role: pg_is_in_recovery() on the node (None: unreachable)."""
    return cluster.in_recovery(name)


def rejoined(cluster: LocalCluster, name: str) -> bool:
    """A streaming replica again, per Patroni and per PostgreSQL itself."""
    member = next((m for m in cluster.members() if m["name"] == name), None)
    return (
        member is not None and member["state"] == "streaming" and in_recovery(cluster, name) is True
    )


def healthy(cluster: LocalCluster) -> bool:
    return cluster.bootstrapped() and cluster.haproxy_ready()


def run_drill(cluster: LocalCluster, scenario: str) -> DrillResult:
    """One scenario ("node-loss" or "switchover") under a writer, on a healthy cluster."""
    eventually(lambda: healthy(cluster), 60, "a healthy cluster before the drill")
    url = prepare_probe(cluster)
    old_leader = cluster.leader()
    sync = cluster.sync_standby()
    if old_leader is None or sync is None:
        raise HotelError("the drill needs a leader and a sync standby")
    writer = Writer(url)
    writer.start()
    try:
        eventually(lambda: len(writer.acked) > 20, 20, "the writer to commit")
        fault = time.monotonic()
        if scenario == "node-loss":
            cluster.kill_node(old_leader)
        elif scenario == "switchover":
            cluster.switchover(sync)
        else:
            raise HotelError(f"unknown scenario {scenario!r}: node-loss or switchover")
        new_leader = eventually(
            lambda: (leader := cluster.leader()) != old_leader and leader, 60, "a new leader"
        )
        eventually(lambda: writer.acks_after(time.monotonic() - 0.5), 60, "writes to resume")
        # Rejoin counts from the restart after node loss, from the request for a switchover.
        rejoin_from = time.monotonic() if scenario == "node-loss" else fault
        if scenario == "node-loss":
            cluster.start_node(old_leader)
        eventually(lambda: rejoined(cluster, old_leader), 60, f"{old_leader} to rejoin")
        rejoin = time.monotonic() - rejoin_from
        time.sleep(0.5)
    finally:
        writer.stop()
    times = [fault, *(t for t in writer.ack_times if t > fault)]
    gaps = [(b - a, b) for a, b in itertools.pairwise(times)]
    longest, resumed = max(gaps) if gaps else (0.0, fault)
    lost, duplicated = verify(url, writer)
    return DrillResult(
        scenario=scenario,
        old_leader=old_leader,
        new_leader=str(new_leader),
        rto=resumed - fault,
        longest_gap=longest,
        acked=len(writer.acked),
        lost=lost,
        duplicated=duplicated,
        rejoin=rejoin,
    )


def verify(url: str, writer: Writer) -> tuple[int, int]:
    """(acknowledged ids missing, ids present more than once) for the writer's run."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            f"SELECT client_id, count(*) FROM {PROBE_TABLE} WHERE run = %s GROUP BY client_id",
            [writer.run_id],
        ).fetchall()
    present = {client_id for client_id, _ in rows}
    duplicated = sum(1 for _, count in rows if count > 1)
    return len(set(writer.acked) - present), duplicated
