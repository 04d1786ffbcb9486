"""Alembic environment: online (own engine or a caller's connection) and offline --sql modes."""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, Engine, create_engine, pool

from hotel_models import metadata
from hotel_models.settings import SettingsError, get_settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

OPTIONS = {
    "target_metadata": metadata,
    "compare_type": True,
    "compare_server_default": True,
    # One transaction per revision: a failure leaves the database at the last good revision.
    "transaction_per_migration": True,
}


def database_url() -> str:
    url = config.attributes.get("url") or get_settings().resolved_database_url()
    if url is None:
        raise SettingsError(
            "no database: set HOTEL_DATABASE_URL, or run `hotel up` to start the local server"
        )
    return url


def run_offline() -> None:
    url = config.attributes.get("url") or get_settings().resolved_database_url()
    context.configure(
        url=url or "postgresql+psycopg://",
        literal_binds=True,
        **OPTIONS,  # type: ignore[arg-type]
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, **OPTIONS)  # type: ignore[arg-type]
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
