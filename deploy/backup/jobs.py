"""One backup or verify run with its outcome recorded in the metrics, whatever happens: the
schedule and the CLI both go through here, so a failed run is never silent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from deploy.backup import logical, physical
from deploy.backup.context import BackupContext
from deploy.backup.metrics import BackupMetrics
from hotel_models.errors import HotelError

Kind = Literal["full", "diff", "incr", "logical"]


@dataclass(frozen=True)
class Outcome:
    kind: str
    ok: bool
    message: str
    duration: float
    size: int | None = None


def metrics_for(ctx: BackupContext) -> BackupMetrics:
    return BackupMetrics(ctx.metrics_file)


def run_backup(
    ctx: BackupContext, kind: Kind, metrics: BackupMetrics | None = None, repo: int = 1
) -> Outcome:
    started = time.monotonic()
    try:
        if kind == "logical":
            snapshot, _ = logical.create(ctx)
            files = snapshot.manifest.get("files")
            size = sum(int(f["bytes"]) for f in files.values()) if isinstance(files, dict) else 0
            outcome = Outcome(kind, True, f"logical snapshot {snapshot.name}", 0, size)
        else:
            result = physical.create(ctx, kind, repo)
            outcome = Outcome(
                result.kind, True, f"{result.kind} backup {result.label}", 0, result.size_bytes
            )
    except HotelError as exc:
        outcome = Outcome(kind, False, str(exc), 0)
    duration = time.monotonic() - started
    (metrics or metrics_for(ctx)).record(outcome.kind, outcome.ok, duration, outcome.size)
    return Outcome(outcome.kind, outcome.ok, outcome.message, duration, outcome.size)


def run_verify(
    ctx: BackupContext, label: str | None = None, metrics: BackupMetrics | None = None
) -> Outcome:
    """Verify a physical backup (restore + checks) and every logical snapshot's checksums."""
    started = time.monotonic()
    problems: list[str] = []
    message = ""
    try:
        if label is not None and (ctx.logical_dir / label).is_dir():
            snapshots = [logical.check(ctx.logical_dir / label)]
            message = f"logical snapshot {label} checked"
        else:
            manifest, found, _ = physical.verify(ctx, label)
            problems += [f"{manifest.label}: {p}" for p in found]
            snapshots = logical.snapshots(ctx)
            message = f"backup {manifest.label} restored and checked, {len(snapshots)} logical"
        problems += [f"logical {s.name}: {'; '.join(s.problems)}" for s in snapshots if not s.good]
    except HotelError as exc:
        problems.append(str(exc))
    duration = time.monotonic() - started
    metrics = metrics or metrics_for(ctx)
    metrics.record("verify", not problems, duration)
    if not problems:
        metrics.verified()
    return Outcome("verify", not problems, "; ".join(problems) or message, duration)


def scheduled_kind(ctx: BackupContext, full_every: timedelta) -> Kind:
    """Full when there is none younger than `full_every`, else differential."""
    fulls = [b for b in physical.info(ctx) if b["type"] == "full"]
    if not fulls:
        return "full"
    newest = datetime.fromtimestamp(int(fulls[-1]["timestamp"]["stop"]), UTC)
    return "full" if datetime.now(UTC) - newest >= full_every else "diff"


def first_backup(ctx: BackupContext) -> str:
    """A fresh platform starts restorable: a full backup when the repository has none."""
    if found := physical.manifests(ctx):
        return f"{len(found)} in the repository (`hotel backup list`)"
    outcome = run_backup(ctx, "full")
    if not outcome.ok:
        raise HotelError(f"the first full backup failed: {outcome.message}")
    return f"first full backup taken ({outcome.duration:.0f} s; `hotel backup list`)"
