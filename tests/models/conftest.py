"""The model tests' world, inserted in the rolled-back test session; and a database of
their own for the tests of committed data."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, pool
from sqlalchemy.orm import Session

from deploy.migrate.runner import alembic_config
from tests.models.world import World, make_world


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


@pytest.fixture(scope="module")
def race_engine(database_factory: Callable[[], str]) -> Iterator[Engine]:
    """A database of its own at head, per module: writers on many connections must see each
    other's commits, which the rolled-back test session never makes."""
    url = database_factory()
    command.upgrade(alembic_config(url=url), "head")
    engine = create_engine(url, poolclass=pool.NullPool)
    yield engine
    engine.dispose()
