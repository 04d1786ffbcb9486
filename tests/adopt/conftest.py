"""An earlier-system database full of its kind of dirty data, and migrated targets."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from alembic import command
from deploy.migrations import alembic_config
from sqlalchemy import create_engine, pool

from seeding.adopt.fixture import Sizes, fill
from seeding.adopt.legacy_schema import create_earlier_schema

TODAY = date(2030, 6, 1)  # fixed: the generated dates and the legacy queries agree
# Roles are cluster-wide: names of this session only.
ANALYSTS = [f"old_ann_{uuid.uuid4().hex[:6]}", f"old_bob_{uuid.uuid4().hex[:6]}"]
# A member of the earlier `analytic` that is more than an analyst: adoption leaves it alone.
PRIVILEGED = f"old_dba_{uuid.uuid4().hex[:6]}"


def earlier_database(
    database_factory: Callable[[], str], bookings: int = 3000, version: int = 5
) -> str:
    url = database_factory()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        create_earlier_schema(conn, ANALYSTS, version=version)
        conn.exec_driver_sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PRIVILEGED}') "
            f"THEN CREATE ROLE {PRIVILEGED} LOGIN CREATEROLE IN ROLE analytic; END IF; END $$"
        )
        if version == 5:
            fill(conn, Sizes(bookings), seed=7, today=TODAY)
    engine.dispose()
    return url


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
