"""Backups without a running stack (fast, unmarked): the pgBackRest configs and the
archive_command rendered from the topology, snapshot checks, metrics, the scheduler, and
one-line errors for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from deploy.backup import logical
from deploy.backup.jobs import Outcome
from deploy.backup.metrics import BackupMetrics
from deploy.backup.physical import retention_for
from deploy.backup.schedule import Clock, Job, run_schedule
from deploy.cluster.topology import (
    Credentials,
    compose_topology,
    local_topology,
    patroni_config,
    pgbackrest_config,
    pgbackrest_node_config,
)
from tests.helpers import assert_one_line_error, run_hotel

CREDS = Credentials("su", "repl", "rest", "rewind", "etcd")


def parse_conf(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = {}
        elif "=" in line:
            key, value = line.split("=", 1)
            sections[current][key] = value
    return sections


def test_backup_host_config_lists_every_node_and_backs_up_from_a_standby(tmp_path: Path) -> None:
    topo = local_topology(tmp_path, offset=30000)
    conf = parse_conf(pgbackrest_config(topo, retention_full=3, retention_diff=5))
    glob, stanza = conf["global"], conf["hotel"]
    assert glob["repo1-path"] == str(tmp_path / "backup-repo")
    assert (glob["repo1-retention-full"], glob["repo1-retention-diff"]) == ("3", "5")
    assert glob["backup-standby"] == "y"
    assert glob["expire-auto"] == "n"  # hotel backup expires, sparing the last verified one
    for i, node in enumerate(topo.nodes, 1):
        assert stanza[f"pg{i}-path"] == node.data_dir
        assert stanza[f"pg{i}-port"] == str(node.pg_port) == str(35432 + i - 1)
        assert stanza[f"pg{i}-socket-path"] == node.home


def test_compose_backup_host_sees_the_nodes_through_mounted_volumes() -> None:
    topo = compose_topology()
    stanza = parse_conf(pgbackrest_config(topo, 2, 6))["hotel"]
    assert [stanza[f"pg{i}-path"] for i in (1, 2, 3)] == [
        f"/var/lib/postgresql/pg{i}/data" for i in range(3)
    ]
    compose = (Path(__file__).parents[2] / "deploy/compose/docker-compose.yml").read_text()
    services = yaml.safe_load(compose)["services"]
    for i in range(3):  # the node and db_backup mount each node volume where the config says
        for service in (f"pg{i}", "db_backup"):
            mounts = [v.removesuffix(":ro") for v in services[service]["volumes"]]
            assert f"pg{i}:/var/lib/postgresql/pg{i}" in mounts, service
    assert "backup-repo:/var/lib/pgbackrest" in compose


@pytest.mark.parametrize("target", ["local", "compose"])
def test_archive_command_is_a_patroni_parameter_pushing_with_the_nodes_config(
    target: str, tmp_path: Path
) -> None:
    topo = local_topology(tmp_path) if target == "local" else compose_topology()
    for node in topo.nodes:
        params = patroni_config(topo, node, CREDS)["postgresql"]["parameters"]
        assert params["archive_mode"] == "on"
        assert params["archive_command"] == (
            f"pgbackrest --config={node.home}/pgbackrest.conf --stanza=hotel archive-push %p"
        )
        own = parse_conf(pgbackrest_node_config(topo, node))
        assert own["hotel"]["pg1-path"] == node.data_dir
        assert own["global"]["repo1-path"] == topo.backup_repo


def test_a_snapshot_with_a_bad_checksum_or_missing_manifest_is_not_good(tmp_path: Path) -> None:
    path = tmp_path / "20260101T000000.000000Z"
    path.mkdir()
    (path / logical.DUMP).write_bytes(b"PGDMP not really")
    (path / logical.GLOBALS).write_text("-- roles\n")
    assert logical.check(path).problems == ("manifest missing or unreadable",)
    files = {
        name: {"sha256": "0" * 64, "bytes": (path / name).stat().st_size}
        for name in (logical.DUMP, logical.GLOBALS)
    }
    (path / logical.MANIFEST).write_text(json.dumps({"files": files}))
    problems = logical.check(path).problems
    assert "hotel.dump checksum mismatch (corrupted)" in problems
    (path / logical.DUMP).write_bytes(b"PGD")
    assert "hotel.dump is 3 bytes, 16 written" in logical.check(path).problems
    partial = tmp_path / "20260102T000000.000000Z.partial"
    partial.mkdir()
    assert not logical.check(partial).good


def test_metrics_textfile_has_the_agreed_names_and_counters_survive_a_new_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics" / "backup.prom"
    BackupMetrics(path).record("full", True, 12.5, 1000)
    again = BackupMetrics(path)  # as the next run (another process) would load it
    again.record("full", False, 3.0)
    again.verified()
    text = path.read_text()
    assert 'hotel_backup_runs_total{result="success",type="full"} 1.0' in text
    assert 'hotel_backup_runs_total{result="failure",type="full"} 1.0' in text
    assert 'hotel_backup_last_result{type="full"} 0.0' in text
    assert 'hotel_backup_last_size_bytes{type="full"} 1000.0' in text
    assert 'hotel_backup_last_duration_seconds{type="full"} 3.0' in text
    assert 'hotel_backup_last_success_timestamp_seconds{type="full"}' in text
    assert "hotel_backup_last_verified_timestamp_seconds " in text
    assert "_created" not in text
    assert not list(path.parent.glob("*.tmp"))  # written through a rename


class FakeClock:
    """A clock that moves only when the loop sleeps or a job takes time: no test waits."""

    def __init__(self, start: datetime) -> None:
        self.time = start

    def now(self) -> datetime:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


START = datetime(2026, 1, 1, 12, 0, 0, 300_000, tzinfo=UTC)


def _at(*seconds: float) -> list[datetime]:
    return [START.replace(microsecond=0) + timedelta(seconds=s) for s in seconds]


@pytest.mark.parametrize(
    ("takes", "max_runs", "until", "fired_at"),
    [
        pytest.param(0.2, 2, None, _at(1, 2), id="max-runs"),
        pytest.param(0.2, None, START + timedelta(seconds=2.5), _at(1, 2), id="until"),
        # Overrunning its next slots, a job runs once when it finishes, not once per slot.
        pytest.param(3.5, 2, None, _at(1, 5), id="overrun"),
    ],
)
def test_schedule_fires_on_the_cron_until_its_limit(
    tmp_path: Path,
    takes: float,
    max_runs: int | None,
    until: datetime | None,
    fired_at: list[datetime],
) -> None:
    """At the cron's top of a second, not after a sleep from now; until `max_runs` or
    `until`."""
    clock = FakeClock(START)
    fired: list[datetime] = []

    def job() -> Outcome:
        fired.append(clock.now())
        clock.sleep(takes)
        return Outcome("logical", True, "ok", takes)

    metrics = BackupMetrics(tmp_path / "backup.prom")
    plan = [Job("tick", "* * * * * */1", job)]
    outcomes = run_schedule(metrics, plan, max_runs, until, clock=Clock(clock.now, clock.sleep))
    assert fired == fired_at
    assert len(outcomes) == len(fired)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["backup", "list"], {}, "no local cluster under"),
        (
            ["backup", "restore", "--to", "restored", "--target-time", "yesterday"],
            {},
            "is not an ISO time",
        ),
        (
            ["backup", "restore", "--to", "restored", "--target-time", "2026-01-01T10:00"],
            {},
            "needs a time zone",
        ),
        (
            ["backup", "schedule", "--max-runs", "1"],
            {"HOTEL_BACKUP_CRON": "every day"},
            "HOTEL_BACKUP_CRON: 'every day' is not a cron expression",
        ),
        (
            ["backup", "create"],
            {"HOTEL_BACKUP_TARGET": "compose", "HOTEL_CLUSTER_SUPERUSER_PASSWORD": ""},
            "set HOTEL_CLUSTER_SUPERUSER_PASSWORD",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    done = run_hotel(*args, env={"HOTEL_STATE_DIR": str(tmp_path), **env})
    assert_one_line_error(done, message)


def backups(*labels: str) -> list[dict[str, object]]:
    """pgBackRest info entries: F full, D diff, I incr (referencing everything before it
    back to its full, as pgBackRest reports)."""
    found: list[dict[str, object]] = []
    for label in labels:
        kind = {"F": "full", "D": "diff", "I": "incr"}[label[0]]
        if kind == "full":
            found.append({"label": label, "type": kind, "reference": None})
            continue
        full = next(str(b["label"]) for b in reversed(found) if b["type"] == "full")
        since = [str(b["label"]) for b in found[[b["label"] for b in found].index(full) :]]
        refs = since if kind == "incr" else [full]
        found.append({"label": label, "type": kind, "reference": refs})
    return found


def test_retention_is_widened_to_keep_the_newest_verified_backup_and_its_chain() -> None:
    history = backups("F1", "D1", "F2", "D2", "F3", "I3")
    assert retention_for(history, set(), 2, 6) == (2, 6)  # nothing verified: as configured
    assert retention_for(history, {"F3"}, 2, 6) == (2, 6)
    assert retention_for(history, {"D1"}, 2, 1) == (3, 2)  # keeps F1 and D1 (the newer D2)
    assert retention_for(history, {"F1", "F2"}, 1, 6) == (2, 6)  # the newest verified counts
