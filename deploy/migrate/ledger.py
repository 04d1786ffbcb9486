"""Reading the migration ledger: Flyway's info, validate, repair and baseline for Alembic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import Connection, select

from hotel_models.errors import HotelError
from hotel_models.migration_history import checksum, ensure_table, history, record


@dataclass(frozen=True)
class RevisionState:
    revision: str
    description: str
    state: str  # applied | pending | changed | unrecorded
    applied_at: datetime | None
    applied_by: str
    duration_ms: int | None


def _description(script: Script) -> str:
    return (script.doc or "").strip().splitlines()[0] if script.doc else ""


def applied_revisions(script: ScriptDirectory, current: str | None) -> list[str]:
    """The revisions below and at `current`, oldest first."""
    if current is None:
        return []
    try:
        chain = [r.revision for r in script.iterate_revisions(current, "base")]
    except (CommandError, RevisionError):
        raise HotelError(
            f"the database is at revision {current}, whose file is missing from "
            "alembic/versions: restore it, or adopt the database with `hotel migrate baseline`"
        ) from None
    return list(reversed(chain))


def last_records(connection: Connection) -> dict[str, tuple[str, str, datetime, str, int]]:
    """Per revision, its latest up/baseline/repair record: (direction, checksum, at, by, ms)."""
    ensure_table(connection)
    rows = connection.execute(
        select(
            history.c.revision,
            history.c.direction,
            history.c.checksum,
            history.c.applied_at,
            history.c.db_role,
            history.c.os_user,
            history.c.duration_ms,
        )
        .where(history.c.direction != "down")
        .order_by(history.c.id)
    )
    return {
        r.revision: (
            r.direction,
            r.checksum,
            r.applied_at,
            f"{r.db_role} ({r.os_user})",
            r.duration_ms,
        )
        for r in rows
    }


def info(
    connection: Connection, script: ScriptDirectory, current: str | None
) -> list[RevisionState]:
    applied = set(applied_revisions(script, current))
    records = last_records(connection)
    states = []
    for revision in reversed(list(script.walk_revisions())):
        record_ = records.get(revision.revision)
        if revision.revision not in applied:
            state = "pending"
        elif record_ is None:
            state = "unrecorded"
        elif record_[1] != checksum(Path(revision.path)):
            state = "changed"
        else:
            state = "applied"
        shown = record_ if revision.revision in applied else None
        states.append(
            RevisionState(
                revision=revision.revision,
                description=_description(revision),
                state=state,
                applied_at=shown[2] if shown else None,
                applied_by=shown[3] if shown else "",
                duration_ms=shown[4] if shown else None,
            )
        )
    return states


def validate(connection: Connection, script: ScriptDirectory, current: str | None) -> list[str]:
    """Problems that must stop a migration, one line each, naming the revision."""
    heads = script.get_heads()
    problems = []
    if len(heads) > 1:
        problems.append(
            f"the history has several heads ({', '.join(sorted(heads))}): merge them "
            "with `alembic merge`"
        )
    for state in info(connection, script, current):
        if state.state == "changed":
            problems.append(
                f"revision {state.revision} changed since it was applied: review the change, "
                "then `hotel migrate repair`"
            )
        elif state.state == "unrecorded":
            problems.append(
                f"revision {state.revision} is applied but not in the ledger: "
                "`hotel migrate repair` records it"
            )
    return problems


def repair(connection: Connection, script: ScriptDirectory, current: str | None) -> list[str]:
    """Re-record the checksum of every applied revision whose file changed or is unrecorded."""
    repaired = []
    for state in info(connection, script, current):
        if state.state in ("changed", "unrecorded"):
            path = Path(script.get_revision(state.revision).path)
            record(connection, state.revision, "repair", checksum(path), 0)
            repaired.append(state.revision)
    return repaired


def baseline(connection: Connection, script: ScriptDirectory, revision: str) -> list[str]:
    """Record `revision` and its ancestors as applied (the caller stamps alembic_version)."""
    ensure_table(connection)
    recorded = []
    for rev in applied_revisions(script, revision):
        path = Path(script.get_revision(rev).path)
        record(connection, rev, "baseline", checksum(path), 0)
        recorded.append(rev)
    return recorded
