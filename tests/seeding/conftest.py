"""Seeding tests: factories bound to the rolled-back session, and seeded databases."""

from __future__ import annotations

from collections.abc import Iterator

import factory
import pytest
from sqlalchemy.orm import Session

from hotel_models.settings import get_settings
from seeding.factories import bind


@pytest.fixture
def factories(session: Session) -> Iterator[Session]:
    """Every factory writes into the test's savepoint-rollback session."""
    bind(session)
    with factory.Faker.override_default_locale(get_settings().seed_locale):
        yield session
    bind(None)
