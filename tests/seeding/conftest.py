"""Seeding tests: factories bound to the rolled-back session, and seeded databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import factory
import pytest
from alembic import command
from sqlalchemy.orm import Session

from deploy.migrate.runner import alembic_config
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
def head_database(database_factory: Callable[..., str]) -> Callable[[], str]:
    """Fresh databases at head, copied from one migrated template (migrating each would
    cost seconds per database)."""
    template = database_factory()
    command.upgrade(alembic_config(url=template), "head")
    return lambda: database_factory(template)
