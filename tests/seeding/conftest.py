"""Seeding tests: factories bound to the rolled-back session, and seeded databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import factory
import pytest
from alembic import command
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from deploy.migrations import alembic_config
from hotel_models.settings import get_settings
from seeding.factories import bind


@pytest.fixture
def factories(session: Session) -> Iterator[Session]:
    """Every factory writes into the test's savepoint-rollback session."""
    bind(session)
    with factory.Faker.override_default_locale(get_settings().seed_locale):
        yield session
    bind(None)


@pytest.fixture(scope="session")
def head_database(
    server_url: str, database_factory: Callable[[], str]
) -> Iterator[Callable[[], str]]:
    """Fresh databases at head, copied from one migrated template (migrating each would
    cost seconds per database)."""
    template = database_factory()
    command.upgrade(alembic_config(url=template), "head")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    created: list[str] = []

    def create() -> str:
        name = f"seed_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template).database}"'))
        created.append(name)
        return make_url(template).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
