"""The round-trip walk that replaces the earlier system's Bash idempotency check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from deploy.migrate.runner import PROJECT_ROOT, alembic_config
from deploy.migrate.snapshot import Snapshot, diff_snapshots, take_snapshot


def snapshot_of(url: str) -> Snapshot:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return take_snapshot(conn)
    finally:
        engine.dispose()


def revisions_in_order(script_location: Path = PROJECT_ROOT / "alembic") -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def round_trip_problems(url: str, script_location: Path = PROJECT_ROOT / "alembic") -> list[str]:
    """For every revision: snapshot, up one, down one (== snapshot), up again (== first up).
    Returns one line per differing object, prefixed with the revision and the step; stops at
    the first revision that differs."""
    config = alembic_config(url=url, script_location=script_location)
    problems: list[str] = []
    previous = "base"
    for revision in revisions_in_order(script_location):
        before = snapshot_of(url)
        command.upgrade(config, revision)
        after_up = snapshot_of(url)
        command.downgrade(config, previous)
        problems += [
            f"{revision} downgrade: {line}"
            for line in diff_snapshots(before, snapshot_of(url)).lines
        ]
        if problems:  # re-upgrading over leftovers would only fail on them
            return problems
        command.upgrade(config, revision)
        problems += [
            f"{revision} re-upgrade: {line}"
            for line in diff_snapshots(after_up, snapshot_of(url)).lines
        ]
        if problems:
            return problems
        previous = revision
    return problems
