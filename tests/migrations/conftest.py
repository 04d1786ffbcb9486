"""pytest-alembic wiring: every one of its tests gets a fresh, empty database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_alembic.config import Config
from sqlalchemy import Engine, create_engine, pool

from deploy.migrate.runner import PROJECT_ROOT


@pytest.fixture
def alembic_config() -> Config:
    return Config(
        config_options={
            "file": str(PROJECT_ROOT / "alembic.ini"),
            "script_location": str(PROJECT_ROOT / "alembic"),
        },
        at_revision_data={},
    )


@pytest.fixture
def alembic_engine(empty_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    yield engine
    engine.dispose()
