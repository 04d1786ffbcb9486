"""An earlier-system database full of its kind of dirty data, and migrated targets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, pool

from deploy.migrate.runner import alembic_config
from tests.adopt.earlier import ANALYSTS, PRIVILEGED, earlier_database


@pytest.fixture(scope="session")
def earlier_url(database_factory: Callable[[], str], server_url: str) -> Iterator[str]:
    yield earlier_database(database_factory)
    # Roles outlive databases: leave none behind on a shared HOTEL_TEST_DATABASE_URL server.
    engine = create_engine(server_url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        for name in (*ANALYSTS, PRIVILEGED):
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(database_factory: Callable[[], str]) -> str:
    url = database_factory()
    command.upgrade(alembic_config(url=url), "head")
    return url


@pytest.fixture
def target_url(database_factory: Callable[..., str], migrated_template: str) -> str:
    return database_factory(template=migrated_template)
