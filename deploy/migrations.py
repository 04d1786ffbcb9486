"""Running Alembic from our code: the `hotel migrate` family and the test suite share this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from deploy.errors import HotelError
from hotel_models.settings import get_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(
    url: str | None = None,
    connection: Connection | None = None,
    script_location: Path = PROJECT_ROOT / "alembic",
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


def require_url() -> str:
    url = get_settings().resolved_database_url()
    if url is None:
        raise HotelError(
            "no database: set HOTEL_DATABASE_URL, or run `hotel up` to start the local server"
        )
    try:
        make_url(url)
    except ArgumentError:
        raise HotelError(
            "HOTEL_DATABASE_URL is not a valid URL: expected "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    return url


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def migrate(url: str, target: str = "head") -> tuple[str | None, str | None]:
    """Upgrade or downgrade to `target`; returns (before, after)."""
    script = script_directory()
    try:
        script.get_revision(target)
    except CommandError:
        known = ", ".join(r.revision for r in reversed(list(script.walk_revisions())))
        raise HotelError(
            f"unknown revision {target!r}: known revisions are {known}, head, base"
        ) from None
    before = current_revision(url)
    config = alembic_config(url=url)
    resolved = None if target == "base" else script.get_revision(target)
    target_rev = "base" if resolved is None else resolved.revision
    if before is not None and target_rev != "base" and _is_descendant(script, before, target_rev):
        command.downgrade(config, target_rev)
    elif target_rev == "base":
        command.downgrade(config, "base")
    else:
        command.upgrade(config, target_rev)
    return before, current_revision(url)


def _is_descendant(script: ScriptDirectory, revision: str, ancestor: str) -> bool:
    """True when `revision` lies strictly above `ancestor` in the history."""
    if revision == ancestor:
        return False
    return any(r.revision == ancestor for r in script.iterate_revisions(revision, "base"))
