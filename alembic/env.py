"""Alembic environment: online (own engine or a caller's connection) and offline --sql modes.

Every run sets lock_timeout and statement_timeout first (online and in --sql output), so a
migration stuck behind a long query fails fast instead of queueing all traffic behind it.
Online runs record each step in the migration ledger (hotel_models.migration_history).
"""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine, create_engine, pool

from hotel_models import metadata, migration_history
from hotel_models.settings import SettingsError, get_settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate compares the models' tables only, not the ledger (bookkeeping)."""
    return not (type_ == "table" and name == migration_history.HISTORY_TABLE)


OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "compare_type": True,
    "compare_server_default": True,
    "include_name": include_name,
    # One transaction per revision: a failure leaves the database at the last good revision.
    "transaction_per_migration": True,
}


def timeouts() -> list[str]:
    settings = get_settings()
    return [
        f"SET lock_timeout = '{settings.migration_lock_timeout}'",
        f"SET statement_timeout = '{settings.migration_statement_timeout}'",
    ]


def database_url() -> str:
    url = config.attributes.get("url") or get_settings().resolved_database_url()
    if url is None:
        raise SettingsError(
            "no database: set HOTEL_DATABASE_URL, or run `hotel up` to start the local server"
        )
    return str(url)


def run_offline() -> None:
    url = config.attributes.get("url") or get_settings().resolved_database_url()
    # Named paramstyle: with psycopg's pyformat, a literal % would be rendered as %%.
    context.configure(
        url=url or "postgresql+psycopg://",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **OPTIONS,
    )
    for statement in timeouts():
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def run_with(connection: Connection) -> None:
    for statement in timeouts():
        connection.exec_driver_sql(statement)
    migration_history.ensure_table(connection)
    connection.commit()
    context.configure(
        connection=connection, on_version_apply=migration_history.step_recorder(), **OPTIONS
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    external = config.attributes.get("connection")
    if isinstance(external, Engine):  # pytest-alembic hands over an engine at times
        with external.connect() as connection:
            run_with(connection)
        return
    if external is not None:
        run_with(external)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_with(connection)
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
