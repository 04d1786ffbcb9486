"""Physical backups with pgBackRest: full/diff/incr from a standby, a consistent "backup
point" with row counts per table, retention that spares the last verified backup, a real
restore into a scratch instance (verify), and point-in-time recovery into a new directory."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from deploy.backup.context import BackupContext, error_line
from deploy.backup.integrity import compare_counts, table_counts, verify_restored
from deploy.backup.scratch import ScratchInstance
from deploy.process import (
    chown_to_server_user,
    reachable_by_server_user,
    runs_as_server_user,
    wait_until,
)
from hotel_models.errors import HotelError

PhysicalType = Literal["full", "diff", "incr"]
LOCK_TIMEOUT = "10s"
LOCK_ATTEMPTS = 5


@dataclass
class Manifest:
    """What `hotel backup` knows about a pgBackRest backup beyond pgBackRest's own info."""

    label: str
    type: str
    restore_point: str
    counts: dict[str, int]
    marked_at: str
    verified_at: str | None = None
    verify_problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text()))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.label}.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))
        tmp.replace(directory / f"{self.label}.json")


@dataclass(frozen=True)
class BackupResult:
    kind: str
    label: str
    size_bytes: int
    duration_seconds: float


def manifests(ctx: BackupContext) -> dict[str, Manifest]:
    if not ctx.manifests.is_dir():
        return {}
    return {m.label: m for m in map(Manifest.load, sorted(ctx.manifests.glob("*.json")))}


def info(ctx: BackupContext) -> list[dict[str, Any]]:
    """pgBackRest's backups of the stanza, oldest first ([] when there is no stanza yet)."""
    ctx.prepare()
    done = ctx.pgbackrest("--output=json", "info", timeout=120)
    stanzas = json.loads(done.stdout or "[]")
    return list(stanzas[0].get("backup", [])) if stanzas else []


def ensure_stanza(ctx: BackupContext) -> None:
    """stanza-create is idempotent; `check` then proves archive_command reaches the repo."""
    ctx.prepare()
    ctx.pgbackrest("stanza-create", timeout=300)


def create(ctx: BackupContext, kind: PhysicalType, repo: int = 1) -> BackupResult:
    """A pgBackRest backup into repository `repo` (2: the encrypted one, when configured)."""
    started = time.monotonic()
    if repo != 1 and f"repo{repo}-path" not in ctx.more_repos:
        raise HotelError(f"no repo{repo}: set HOTEL_BACKUP_REPO{repo}_PATH and its cipher pass")
    ensure_stanza(ctx)
    before = {b["label"] for b in info(ctx)}
    ctx.pgbackrest(*([f"--repo={repo}"] if repo != 1 else []), f"--type={kind}", "backup")
    new = [b for b in info(ctx) if b["label"] not in before]
    if not new:
        raise HotelError("pgbackrest backup reported success but no new backup is in the repo")
    backup = new[-1]
    mark_backup_point(ctx, backup["label"], backup["type"])
    expire(ctx)
    return BackupResult(
        backup["type"],
        backup["label"],
        int(backup["info"]["repository"]["delta"]),
        time.monotonic() - started,
    )


def mark_backup_point(ctx: BackupContext, label: str, kind: str) -> Manifest:
    """Count every table and create a named restore point with writers paused (SHARE locks
    wait for open writes and block new ones for the count), so a restore to that point must
    reproduce these counts exactly. Then wait until its WAL is in the archive."""
    point = f"hotel-{label}"
    with psycopg.connect(ctx.primary_url(), autocommit=True) as conn:
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                counts, row = _count_and_mark(conn, point)
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
                # LOCK TABLE takes the tables one by one: a writer holding one and waiting for
                # another is a deadlock one of us loses (the compose load did). Retry.
                if attempt == LOCK_ATTEMPTS:
                    raise
                time.sleep(attempt)
        lsn = row[0] if row else None
        conn.execute("SELECT pg_switch_wal()")
        wait_archived(conn, str(lsn))
    manifest = Manifest(label, kind, point, counts, datetime.now(UTC).isoformat())
    manifest.save(ctx.manifests)
    return manifest


def _count_and_mark(conn: psycopg.Connection[Any], point: str) -> tuple[dict[str, int], Any]:
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        ]
        if tables:
            names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
            conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(names))
        counts = table_counts(conn)
        row = conn.execute("SELECT pg_create_restore_point(%s)", [point]).fetchone()
    return counts, row


def wait_archived(conn: psycopg.Connection[Any], lsn: str, timeout: float = 120) -> None:
    """Until the WAL segment holding `lsn` is archived (or fail naming the archiver's error)."""
    row = conn.execute("SELECT pg_walfile_name(%s::pg_lsn)", [lsn]).fetchone()
    wanted = str(row[0]) if row else ""

    def archiver() -> tuple[Any, ...] | None:
        return conn.execute(
            "SELECT last_archived_wal, last_failed_wal, failed_count FROM pg_stat_archiver"
        ).fetchone()

    def archived() -> bool:
        row = archiver()
        return row is not None and _segment(str(row[0] or "")) >= _segment(wanted)

    if not wait_until(archived, timeout, interval=0.3):
        row = archiver()
        failed = f" (last failed {row[1]})" if row and row[1] else ""
        raise HotelError(f"WAL {wanted} not archived after {timeout:.0f} s{failed}")


def _segment(walfile: str) -> tuple[int, int]:
    """(timeline, segment number) of a WAL file name; (-1, -1) for history/partial files."""
    try:
        return int(walfile[:8], 16), int(walfile[8:24], 16)
    except ValueError:
        return -1, -1


def retention_for(
    backups: list[dict[str, Any]], verified: set[str], full: int, diff: int
) -> tuple[int, int]:
    """(fulls, diffs) to keep: the configured counts, widened until the newest verified
    backup and every backup it references are inside them."""
    labels = [b["label"] for b in backups]
    kept = [label for label in labels if label in verified]
    if not kept:
        return full, diff
    backup = backups[labels.index(kept[-1])]
    chain = {*(backup.get("reference") or []), backup["label"]}
    fulls = [b["label"] for b in backups if b["type"] == "full"]
    diffs = [b["label"] for b in backups if b["type"] == "diff"]
    full = max(full, len(fulls) - min(fulls.index(x) for x in chain if x in fulls))
    chain_diffs = [diffs.index(x) for x in chain if x in diffs]
    if chain_diffs:
        diff = max(diff, len(diffs) - min(chain_diffs))
    return full, diff


def expire(ctx: BackupContext) -> None:
    """pgBackRest's count-based retention, widened so the newest verified backup and every
    backup it depends on survive (a newer unverified one may be broken)."""
    verified = {m.label for m in manifests(ctx).values() if m.verified_at and not m.verify_problems}
    keep_full, keep_diff = retention_for(
        info(ctx), verified, ctx.retention_full, ctx.retention_diff
    )
    ctx.pgbackrest(
        f"--repo1-retention-full={keep_full}", f"--repo1-retention-diff={keep_diff}", "expire"
    )
    alive = {b["label"] for b in info(ctx)}
    for label in set(manifests(ctx)) - alive:
        (ctx.manifests / f"{label}.json").unlink(missing_ok=True)


def verify(ctx: BackupContext, label: str | None = None) -> tuple[Manifest, list[str], float]:
    """pgBackRest's checksums of the repository, then a real restore of `label` (default: the
    newest backup with a manifest) to its backup point in a scratch instance, its row counts
    compared with the source's and `verify_restored`. Records the outcome in the manifest."""
    started = time.monotonic()
    ctx.prepare()
    known = manifests(ctx)
    labels = [b["label"] for b in info(ctx)]
    if label is None:
        candidates = [x for x in labels if x in known]
        if not candidates:
            raise HotelError("no backup taken by `hotel backup create` to verify: create one")
        label = candidates[-1]
    if label not in labels:
        raise HotelError(f"no backup {label!r} in the repository: see `hotel backup list`")
    if label not in known:
        raise HotelError(f"backup {label} has no manifest (not taken by `hotel backup create`)")
    manifest = known[label]
    problems: list[str] = []
    done = ctx.pgbackrest("verify", check=False)
    if done.returncode != 0:
        problems.append(f"pgbackrest verify: {error_line(done)}")
    scratch = ctx.home / f"verify-{label}"
    instance = ScratchInstance(scratch, ctx.superuser_password)
    try:
        restore_into(
            ctx, scratch, f"--set={label}", "--type=name", f"--target={manifest.restore_point}"
        )
        instance.start()
        with psycopg.connect(instance.url(), autocommit=True) as conn:
            problems += compare_counts(manifest.counts, table_counts(conn))
        problems += verify_restored(instance.url())
    except HotelError as exc:
        problems.append(str(exc))
    finally:
        instance.remove()
    manifest.verify_problems = problems
    manifest.verified_at = datetime.now(UTC).isoformat()
    manifest.save(ctx.manifests)
    return manifest, problems, time.monotonic() - started


def flush_archive(ctx: BackupContext) -> None:
    """Before a PITR to a recent time: commit a transaction (recovery stops at the first
    commit after the target, so one must exist), switch WAL and wait until it is archived.
    Best effort: with the primary gone, recovery uses whatever the archive holds."""
    try:
        with psycopg.connect(ctx.primary_url("postgres"), autocommit=True, connect_timeout=5) as c:
            with c.transaction():
                c.execute("SELECT pg_current_xact_id()")
            row = c.execute("SELECT pg_switch_wal()").fetchone()
            wait_archived(c, str(row[0] if row else ""), timeout=60)
    except psycopg.OperationalError:
        pass


def restore_into(ctx: BackupContext, target: Path, *options: str) -> None:
    """pgbackrest restore into an empty directory owned by the server user (archiving off:
    a restored copy must never push a new timeline into the cluster's repository)."""
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    target.chmod(0o700)
    chown_to_server_user(target)
    # A target action needs a target: without one recovery replays the whole archive and
    # promotes anyway (pgBackRest refuses --target-action then).
    targeted = any(o.startswith("--type=") for o in options)
    ctx.pgbackrest(
        f"--pg1-path={target}",
        "--archive-mode=off",
        *(["--target-action=promote"] if targeted else []),
        *options,
        "restore",
    )


def pitr(
    ctx: BackupContext,
    to: Path,
    target_time: datetime | None,
    start: bool = True,
    backup_set: str | None = None,
    repo: int | None = None,
) -> ScratchInstance:
    """Point-in-time recovery into a new data directory (never over a node or a non-empty
    directory); started on a free port unless `start` is false. Without `backup_set`
    pgBackRest picks the newest backup that ends before the target; recovery follows the
    archived timeline history, so a target after a failover is reached from an older set."""
    to = to.resolve()
    for node_home in ctx.topology.backup_node_homes:
        if to == Path(node_home) or Path(node_home) in to.parents or to in Path(node_home).parents:
            raise HotelError(f"{to} overlaps a cluster node's directory ({node_home}): refusing")
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise HotelError(f"{to} is not an empty directory: refusing to overwrite it")
    if runs_as_server_user() and not reachable_by_server_user(to.parent):
        raise HotelError(
            f"{to.parent} is not reachable by the server user that restores and runs the "
            "copy: choose a directory under a world-traversable path"
        )
    ctx.prepare()
    labels = [b["label"] for b in info(ctx)]
    if not labels:
        raise HotelError("the repository holds no backup to restore: `hotel backup create`")
    if target_time is not None:
        if target_time.tzinfo is None:
            raise HotelError("--target-time needs a time zone, for example 2026-01-01T10:00Z")
        if target_time > datetime.now(UTC):
            raise HotelError(f"target time {target_time.isoformat()} is in the future")
        flush_archive(ctx)
    options = [] if repo is None else [f"--repo={repo}"]
    if backup_set is not None:
        if backup_set not in labels:
            raise HotelError(f"no backup {backup_set!r} in the repository: `hotel backup list`")
        options.append(f"--set={backup_set}")
    if target_time is not None:
        options += ["--type=time", f"--target={target_time.isoformat(sep=' ')}"]
    try:
        restore_into(ctx, to, *options)
    except HotelError:
        shutil.rmtree(to, ignore_errors=True)
        raise
    instance = ScratchInstance(to, ctx.superuser_password)
    if start:
        instance.start()
    return instance
