"""Backups against the real stack (Patroni x3, pgBackRest, PostgreSQL): PITR under a
writer, PITR across a switchover's timeline change, a verified restore that must reproduce
the source's row counts, logical snapshot retention and corruption, and bad conditions."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from deploy.backup import logical, physical
from deploy.backup.context import BackupContext, context_for_cluster
from deploy.backup.integrity import verify_restored
from deploy.backup.jobs import metrics_for, run_backup, run_verify
from deploy.backup.schedule import Job, run_schedule
from deploy.cluster.local import LocalCluster, http
from deploy.migrate.runner import migrate
from deploy.process import eventually, server_user
from tests.helpers import HOTEL, assert_one_line_error

pytestmark = pytest.mark.cluster
KEEP = 3


@pytest.fixture(scope="module")
def ctx(ha_cluster: LocalCluster) -> BackupContext:
    """The schema at head (so the integrity checks have something to check) and two tables
    of our own: a steady writer's and the PITR markers."""
    migrate(ha_cluster.primary_url(), "head")
    with psycopg.connect(ha_cluster.primary_url(driver="postgresql"), autocommit=True) as conn:
        conn.execute("CREATE TABLE load_probe (id bigserial PRIMARY KEY, at timestamptz)")
        conn.execute("CREATE TABLE pitr_marker (id int PRIMARY KEY, phase text NOT NULL)")
    return context_for_cluster(ha_cluster, ha_cluster.root.parent, logical_keep=KEEP)


@pytest.fixture
def scratch(ctx: BackupContext) -> Iterator[Path]:
    """Restores go where the postgres user can reach (pytest's tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="restore-", dir=ctx.home))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def writer(ctx: BackupContext) -> Iterator[list[int]]:
    """A light write load (about 50 commits/s) through HAProxy's primary port; rides out a
    switchover by reconnecting."""
    stop = threading.Event()
    done: list[int] = []

    def write() -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(ctx.primary_url(), autocommit=True, connect_timeout=3) as c:
                    while not stop.is_set():
                        c.execute("INSERT INTO load_probe (at) VALUES (now())")
                        done.append(1)
                        time.sleep(0.02)
            # A connection that outlives the switchover reaches the demoted node: read-only.
            except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction):
                time.sleep(0.2)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    yield done
    stop.set()
    thread.join(10)


def insert_markers(ctx: BackupContext, ids: range, phase: str) -> datetime:
    """Commit markers, then return the server's clock after they are all committed."""
    with psycopg.connect(ctx.primary_url(), autocommit=True) as conn:
        for i in ids:
            conn.execute("INSERT INTO pitr_marker VALUES (%s, %s)", [i, phase])
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    time.sleep(0.3)  # later commits get a later timestamp than the target
    return row[0]


def archive_now(ctx: BackupContext) -> None:
    with psycopg.connect(ctx.primary_url(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_switch_wal()").fetchone()
        assert row is not None
        physical.wait_archived(conn, str(row[0]))


def restored_markers(ctx: BackupContext, to: Path, target: datetime, **kw: str) -> list[int]:
    instance = physical.pitr(ctx, to, target, **kw)  # type: ignore[arg-type]
    try:
        assert verify_restored(instance.url()) == []
        with psycopg.connect(instance.url()) as conn:
            return [r[0] for r in conn.execute("SELECT id FROM pitr_marker ORDER BY id")]
    finally:
        instance.remove()


def test_full_backup_under_load_verifies_and_pitr_returns_exactly_the_rows_before_t(
    ctx: BackupContext, writer: list[int], scratch: Path
) -> None:
    outcome = run_backup(ctx, "full")
    assert outcome.ok, outcome.message
    assert len(writer) > 10  # the backup really ran under writes
    log = (ctx.home / "log" / "hotel-backup.log").read_text()
    assert "replay on the standby reached" in log  # files copied from a standby
    label = outcome.message.split()[-1]
    manifest = physical.manifests(ctx)[label]
    assert manifest.counts["load_probe"] > 0

    # The real restore must reproduce the counts taken at the backup point, writer or not.
    checked, problems, _ = physical.verify(ctx, label)
    assert problems == []
    assert checked.verified_at is not None

    t = insert_markers(ctx, range(1, 51), "before")
    insert_markers(ctx, range(51, 101), "after")
    archive_now(ctx)
    assert restored_markers(ctx, scratch / "pitr", t) == list(range(1, 51))


def test_pitr_across_a_switchover_from_a_backup_on_the_old_timeline(
    ha_cluster: LocalCluster, ctx: BackupContext, writer: list[int], scratch: Path
) -> None:
    before = [b["label"] for b in physical.info(ctx)][-1]
    old, new = ha_cluster.switchover()
    eventually(lambda: ha_cluster.leader() == new, 30, f"{new} to lead")
    eventually(ha_cluster.bootstrapped, 60, "the old leader to rejoin as a replica")
    eventually(ha_cluster.haproxy_ready, 30, "HAProxy to follow the new leader")

    t = insert_markers(ctx, range(101, 121), "new timeline")
    insert_markers(ctx, range(121, 131), "after t")
    archive_now(ctx)
    with psycopg.connect(ctx.primary_url()) as conn:
        row = conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()
    assert row is not None
    assert row[0] >= 2

    outcome = run_backup(ctx, "diff")  # a backup on the new timeline, from a standby
    assert outcome.ok, outcome.message
    expected = list(range(1, 121))
    assert restored_markers(ctx, scratch / "old-set", t, backup_set=before) == expected
    assert restored_markers(ctx, scratch / "newest", t) == expected
    assert old != new


def test_logical_retention_keeps_the_newest_good_and_verify_reports_a_corrupted_one(
    ctx: BackupContext,
) -> None:
    seen: list[str] = []

    def report(job: Job, outcome: object) -> None:
        status, body = http("GET", f"http://127.0.0.1:{ctx.metrics_port}/metrics")
        seen.append(body if status == 200 and isinstance(body, str) else "")

    metrics = metrics_for(ctx)
    job = Job("logical", "* * * * * */1", lambda: run_backup(ctx, "logical", metrics))
    outcomes = run_schedule(metrics, [job], KEEP + 2, None, ctx.metrics_port, report)
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    made = [o.message.split()[-1] for o in outcomes]
    good = [s.name for s in logical.snapshots(ctx) if s.good]
    assert good == made[-KEEP:]
    assert 'hotel_backup_runs_total{result="success",type="logical"}' in seen[-1]

    newest = ctx.logical_dir / made[-1] / logical.DUMP
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    verdict = run_verify(ctx, made[-1])
    assert not verdict.ok
    assert "checksum mismatch" in verdict.message
    assert 'hotel_backup_last_result{type="verify"} 0.0' in ctx.metrics_file.read_text()

    truncated = ctx.logical_dir / made[-2] / logical.DUMP
    truncated.write_bytes(truncated.read_bytes()[:100])
    assert not logical.check(truncated.parent).good

    assert run_backup(ctx, "logical").ok  # retention drops both broken ones, keeps the good
    names = [s.name for s in logical.snapshots(ctx)]
    assert names[:1] == [made[-3]]
    assert len(names) == 2


def test_repository_missing_and_interrupted_backup_fail_in_one_line_and_in_the_metrics(
    ha_cluster: LocalCluster, ctx: BackupContext, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-repo"
    gone = replace(ctx, topology=replace(ctx.topology, backup_repo=str(missing)))
    outcome = run_backup(gone, "incr")
    assert not outcome.ok
    assert f"backup repository {missing} is missing" in outcome.message
    assert 'hotel_backup_last_result{type="incr"} 0.0' in ctx.metrics_file.read_text()

    before = {b["label"] for b in physical.info(ctx)}
    env = {**os.environ, "HOTEL_STATE_DIR": str(ha_cluster.root.parent), "COLUMNS": "200"}
    cli = subprocess.Popen(
        [*HOTEL, "backup", "create", "--type", "full"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def backup_process() -> int | None:
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[-2:] == [b"backup", b""] and str(ctx.conf_path).encode() in argv[1]:
                return int(proc.name)
        return None

    pid = eventually(backup_process, 30, "pgbackrest backup to start", interval=0.05)
    os.kill(pid, signal.SIGTERM)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "full backup failed" in err
    assert {b["label"] for b in physical.info(ctx)} == before  # nothing half-done is listed
    assert 'hotel_backup_last_result{type="full"} 0.0' in ctx.metrics_file.read_text()
    again = run_backup(ctx, "full")  # pgBackRest cleans up after the interrupted one
    assert again.ok, again.message

    listing = subprocess.run(
        [*HOTEL, "backup", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert "logical" in listing.stdout
    assert "full" in listing.stdout

    node_data = ctx.topology.nodes[0].data_dir
    for args, message in [
        (["--to", node_data], "overlaps a cluster node's directory"),
        (["--to", str(ctx.home)], "is not an empty directory"),
        (["--to", str(ctx.home / "r"), "--target-time", "2099-01-01T00:00Z"], "in the future"),
    ]:
        refused = subprocess.run(
            [*HOTEL, "backup", "restore", *args], env=env, capture_output=True, text=True
        )
        assert_one_line_error(refused, message)
    assert ha_cluster.postmaster_pid(ctx.topology.nodes[0]) is not None  # untouched

    never = "0 0 1 1 *"
    scheduled = subprocess.run(
        [*HOTEL, "backup", "schedule", "--max-runs", "1"],
        env={
            **env,
            "HOTEL_BACKUP_LOGICAL_CRON": "* * * * * */1",
            "HOTEL_BACKUP_CRON": never,
            "HOTEL_BACKUP_VERIFY_CRON": never,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scheduled.returncode == 0, scheduled.stderr
    assert "logical ok" in scheduled.stdout
    assert f":{ctx.metrics_port}/metrics" in scheduled.stdout


def test_a_full_repository_fails_in_one_line_and_in_the_metrics(
    ctx: BackupContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real full filesystem: a 1 MiB tmpfs as the repository (needs root's mount). The
    nodes keep archiving into the real repository, so pgBackRest is told (through its own
    PGBACKREST_* environment) not to wait for WAL in this one."""
    monkeypatch.setenv("PGBACKREST_ARCHIVE_CHECK", "n")
    tiny = ctx.home / "tiny-repo"
    tiny.mkdir()
    user = server_user()
    options = f"size=1m,uid={user.pw_uid},gid={user.pw_gid},mode=0750"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(tiny)])
    if mounted.returncode != 0:
        tiny.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        full = replace(ctx, topology=replace(ctx.topology, backup_repo=str(tiny)))
        outcome = run_backup(full, "full")
    finally:
        subprocess.run(["umount", str(tiny)], check=True)
        tiny.rmdir()
        ctx.prepare()  # the real repository's config again
    assert not outcome.ok
    assert "the repository is full" in outcome.message
    assert "\n" not in outcome.message
    assert 'hotel_backup_last_result{type="full"} 0.0' in ctx.metrics_file.read_text()
