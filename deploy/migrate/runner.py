"""Running Alembic from our code: the `hotel migrate` family and the test suite share this."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg import sql
from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.exc import DBAPIError

from deploy.migrate import ledger
from deploy.migrate.guard import data_lost_by_downgrade
from deploy.migrate.lock import migration_lock
from deploy.migrate.snapshot import Snapshot, take_snapshot
from hotel_models.errors import HotelError
from hotel_models.roles import sync_analysts, sync_service_roles
from hotel_models.settings import get_settings
from monitor.role import ensure_monitor_role

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCRIPTS = PROJECT_ROOT / "alembic"


def alembic_config(
    url: str | None = None,
    connection: Connection | None = None,
    script_location: Path = DEFAULT_SCRIPTS,
) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(script_location))
    config.attributes["skip_logging_config"] = True
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def current_revision(url: str) -> str | None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """One connection in one transaction, committed at the end."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def resolve_target(script: ScriptDirectory, target: str) -> str:
    if target == "base":
        return "base"
    try:
        resolved = script.get_revision(target)
    except CommandError:
        resolved = None
    if resolved is None:
        known = ", ".join(r.revision for r in reversed(list(script.walk_revisions())))
        raise HotelError(f"unknown revision {target!r}: known revisions are {known}, head, base")
    return resolved.revision


@dataclass
class MigrationResult:
    before: str | None
    after: str | None
    analyzed: list[str] = field(default_factory=list)


def migrate(
    url: str,
    target: str = "head",
    script_location: Path = DEFAULT_SCRIPTS,
    on_wait: Callable[[str], None] = print,
    *,
    allow_data_loss: bool = False,
    upgrade_only: bool = False,
) -> MigrationResult:
    """Upgrade or downgrade to `target` like Flyway's migrate: one migrator at a time,
    validate first, then the after-migrate hooks (analyst roles, ANALYZE) on upgrades.

    A downgrade that would drop tables or columns holding data is refused unless
    `allow_data_loss`; `upgrade_only` refuses every downgrade (the compose service's mode)."""
    config = alembic_config(url=url, script_location=script_location)
    script = ScriptDirectory.from_config(config)
    target_rev = resolve_target(script, target)
    with migration_lock(url, get_settings().migration_lock_wait, on_wait):
        before = current_revision(url)
        with connect(url) as conn:
            problems = ledger.validate(conn, script, before)
        if problems:
            raise HotelError(f"validate failed, nothing migrated: {problems[0]}")
        applied = ledger.applied_revisions(script, before)
        downgrade = target_rev == "base" or (before is not None and target_rev in applied[:-1])
        if downgrade:
            if upgrade_only:
                raise HotelError(
                    f"{target} is below the current revision {before}: this migrator only "
                    "upgrades (a stale MIGRATION_VERSION?); downgrade by hand with hotel migrate"
                )
            if not allow_data_loss and before is not None:
                lost = data_lost_by_downgrade(url, config, before, target_rev)
                if lost:
                    more = f" and {len(lost) - 3} more" if len(lost) > 3 else ""
                    raise HotelError(
                        f"downgrading to {target} would drop data: {'; '.join(lost[:3])}{more}: "
                        "back it up (hotel backup create), then add --allow-data-loss"
                    )
            with lock_timeout_explained(url):
                command.downgrade(config, target_rev)
            return MigrationResult(before, current_revision(url))
        with connect(url) as conn:
            snapshot_before = take_snapshot(conn)
        with lock_timeout_explained(url):
            command.upgrade(config, target_rev)
        after = current_revision(url)
        analyzed: list[str] = []
        if after != before:
            analyzed = after_migrate(url, snapshot_before)
        else:  # nothing to migrate; the logins still follow settings that may have changed
            with connect(url) as conn:
                sync_logins(conn)
        return MigrationResult(before, after, analyzed)


@contextmanager
def lock_timeout_explained(url: str) -> Iterator[None]:
    """A revision that waited past lock_timeout rolled back: say so, and where we stand."""
    try:
        yield
    except DBAPIError as exc:
        if not isinstance(exc.orig, LockNotAvailable):
            raise
        raise HotelError(
            f"a revision waited more than lock_timeout ({get_settings().migration_lock_timeout}) "
            "for a lock another session holds, and was rolled back; the database stays at "
            f"{current_revision(url) or 'empty'}: retry when that session ends "
            "(HOTEL_MIGRATION_LOCK_TIMEOUT sets the wait)"
        ) from None


def sync_logins(conn: Connection) -> None:
    """Analyst and service logins follow the settings, at every migrate, also one with nothing
    to apply (once their roles exist): hotel_app's password, hotel_monitor's when it is set."""
    settings = get_settings()
    if conn.execute(text("SELECT to_regrole('analytic') IS NOT NULL")).scalar_one():
        sync_analysts(conn, settings)
    sync_service_roles(conn, settings)
    if settings.monitor_password is not None:  # compose's exporters (the local stack: its own)
        password = settings.monitor_password.get_secret_value()
        ensure_monitor_role(
            cast("psycopg.Connection[Any]", conn.connection.dbapi_connection), password
        )


def after_migrate(url: str, snapshot_before: Snapshot) -> list[str]:
    """Flyway's afterMigrate: reconcile analyst and service logins, ANALYZE the tables that
    changed."""
    with connect(url) as conn:
        sync_logins(conn)
        tables = sorted(changed_tables(snapshot_before, take_snapshot(conn)))
        for table in tables:
            analyze = sql.SQL("ANALYZE {}").format(sql.Identifier(*table.split(".", 1)))
            conn.exec_driver_sql(analyze.as_string(conn.connection.driver_connection))
    return tables


def changed_tables(before: Snapshot, after: Snapshot) -> set[str]:
    """Tables created, or whose columns, constraints or indexes changed (schema.table)."""
    changed = set(after["tables"].keys() - before["tables"].keys())
    for section in ("columns", "constraints"):
        for key in before[section].keys() ^ after[section].keys() | {
            k
            for k in before[section].keys() & after[section].keys()
            if before[section][k] != after[section][k]
        }:
            changed.add(".".join(key.split(".")[:2]))
    for key in after["indexes"].keys() - before["indexes"].keys():
        definition = after["indexes"][key]
        changed.add(definition.split(" ON ", 1)[1].split(" ", 1)[0].removeprefix("ONLY "))
    return {t for t in changed if t in after["tables"] and "kind=r" in after["tables"][t]}


def info(url: str, script_location: Path = DEFAULT_SCRIPTS) -> list[ledger.RevisionState]:
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    current = current_revision(url)
    with connect(url) as conn:
        return ledger.info(conn, script, current)


def validate(url: str, script_location: Path = DEFAULT_SCRIPTS) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    current = current_revision(url)
    with connect(url) as conn:
        return ledger.validate(conn, script, current)


def repair(url: str, script_location: Path = DEFAULT_SCRIPTS) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    with migration_lock(url, get_settings().migration_lock_wait), connect(url) as conn:
        return ledger.repair(conn, script, current_revision(url))


def baseline(url: str, revision: str, script_location: Path = DEFAULT_SCRIPTS) -> list[str]:
    """Adopt a database whose schema already matches `revision` (Alembic's stamp + ledger)."""
    config = alembic_config(url=url, script_location=script_location)
    script = ScriptDirectory.from_config(config)
    target = resolve_target(script, revision)
    with migration_lock(url, get_settings().migration_lock_wait):
        current = current_revision(url)
        if current is not None:
            raise HotelError(
                f"the database is already at revision {current}: baseline adopts only a "
                "database Alembic has never migrated"
            )
        with connect(url) as conn:
            recorded = ledger.baseline(conn, script, target)
        command.stamp(config, target)
    return recorded
