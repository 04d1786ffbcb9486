"""Logical snapshots: `pg_dump -Fc` of the database and `pg_dumpall --globals-only` (roles),
taken from a replica, each in its own directory with a checksum manifest.

A snapshot is written under `<stamp>.partial` and renamed only once complete and readable,
so an interrupted run never looks like a backup. Retention keeps the newest N *good*
snapshots: a broken one is never counted (and is removed), a good one is never removed while
fewer than N newer good ones exist -- so the last good snapshot always survives.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from deploy.backup.context import BackupContext, libpq_env
from deploy.embedded import find_bin_dir
from deploy.process import safe_dir
from hotel_models.errors import HotelError

DUMP = "hotel.dump"
GLOBALS = "globals.sql"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Snapshot:
    path: Path
    problems: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def good(self) -> bool:
        return not self.problems

    @property
    def manifest(self) -> dict[str, object]:
        try:
            found = json.loads((self.path / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _run(argv: list[str], url: str, stdout: Path | None = None) -> None:
    """A libpq client tool with the DSN's parts as PG* variables (no password in argv)."""
    env = {
        **libpq_env(url),
        "PGCONNECT_TIMEOUT": "10",
        "LC_ALL": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
    }
    with stdout.open("wb") if stdout else open("/dev/null", "wb") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.PIPE, env=env, check=False, cwd="/"
        )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        tool = Path(argv[0]).name
        raise HotelError(f"{tool} failed: {message[-1] if message else done.returncode}")


def restore_list_ok(dump: Path) -> str | None:
    """None if `pg_restore --list` reads the whole archive's table of contents, else why not.
    (A truncated custom-format file fails here; flipped bytes fail the checksum instead.)"""
    binary = str(find_bin_dir() / "pg_restore")
    done = subprocess.run(
        [binary, "--list", str(dump)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"pg_restore --list: {lines[-1] if lines else done.returncode}"
    return None


def create(ctx: BackupContext, url: str | None = None) -> tuple[Snapshot, float]:
    """Dump from the replica port into a new snapshot; retention runs after a good one."""
    started = time.monotonic()
    url = url or ctx.replica_url()
    safe_dir(ctx.logical_dir)  # the globals carry every role's password verifier
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    partial = ctx.logical_dir / f"{stamp}.partial"
    partial.mkdir(mode=0o700)
    try:
        bin_dir = find_bin_dir()
        _run([str(bin_dir / "pg_dump"), "-Fc", "-Z", "1", "-f", str(partial / DUMP)], url)
        _run([str(bin_dir / "pg_dumpall"), "--globals-only"], url, stdout=partial / GLOBALS)
        problem = restore_list_ok(partial / DUMP)
        if problem:
            raise HotelError(f"the new dump is unreadable: {problem}")
        files = {
            name: {"sha256": _sha256(partial / name), "bytes": (partial / name).stat().st_size}
            for name in (DUMP, GLOBALS)
        }
        manifest = {
            "created_at": datetime.now(UTC).isoformat(),
            "duration_seconds": round(time.monotonic() - started, 3),
            "source": f"{conninfo_to_dict(url).get('host')}:{conninfo_to_dict(url).get('port')}",
            "files": files,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        final = ctx.logical_dir / stamp
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    snapshot = check(final)
    retain(ctx)
    return snapshot, time.monotonic() - started


def check(path: Path) -> Snapshot:
    """A snapshot is good when its manifest lists every file with a matching size and
    sha256 and pg_restore can read the dump's table of contents."""
    problems: list[str] = []
    if path.name.endswith(".partial"):
        return Snapshot(path, ("interrupted (never completed)",))
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return Snapshot(path, ("manifest missing or unreadable",))
    for name in (DUMP, GLOBALS):
        file, meta = path / name, files.get(name)
        if meta is None or not file.is_file():
            problems.append(f"{name} missing")
        elif file.stat().st_size != meta["bytes"]:
            problems.append(f"{name} is {file.stat().st_size} bytes, {meta['bytes']} written")
        elif _sha256(file) != meta["sha256"]:
            problems.append(f"{name} checksum mismatch (corrupted)")
    if not problems and (problem := restore_list_ok(path / DUMP)):
        problems.append(problem)
    return Snapshot(path, tuple(problems))


def snapshots(ctx: BackupContext) -> list[Snapshot]:
    """Every snapshot directory, oldest first, checked."""
    if not ctx.logical_dir.is_dir():
        return []
    return [check(p) for p in sorted(ctx.logical_dir.iterdir()) if p.is_dir()]


def retain(ctx: BackupContext) -> list[str]:
    """Keep the newest `logical_keep` good snapshots; remove older good ones and every broken
    one (after it was reported). Returns what was removed."""
    found = snapshots(ctx)
    good = [s for s in found if s.good]
    doomed = [s for s in found if not s.good] + good[: max(0, len(good) - ctx.logical_keep)]
    for snapshot in doomed:
        shutil.rmtree(snapshot.path)
    return [s.name for s in doomed]
